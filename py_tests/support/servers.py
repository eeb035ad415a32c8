"""Servers the live tests start themselves (harness/), where their programs exist."""

from collections.abc import Callable
from typing import TypeVar

import pytest

Server = TypeVar("Server")


def or_skip(make: Callable[[], Server]) -> Server:
    """The server `make` builds (not started yet); the test is skipped, with the
    reason, on a machine where its program is not installed."""
    try:
        return make()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
