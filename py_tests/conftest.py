"""The suite's fixtures live in plugin modules, listed here; this file also keeps the
garbage collector off the objects that live as long as the run."""

import gc

import pytest

pytest_plugins = [
    "py_tests.plugin",
    "py_tests.html_report",
    "py_tests.fixtures.databases",
    "py_tests.fixtures.storage",
    "py_tests.fixtures.app",
    "py_tests.fixtures.clients",
    "py_tests.fixtures.async_clients",
    "py_tests.fixtures.operators",
    "py_tests.fixtures.seeds",
]


# Tests between two freezes of what survived them (see pytest_runtest_logfinish).
FREEZE_EVERY = 25
_finished = 0


def pytest_collection_finish(session: pytest.Session) -> None:
    """Modules, classes and functions live as long as the run: frozen, a full
    collection no longer walks them all again during the tests."""
    gc.collect()
    gc.freeze()


def pytest_runtest_logfinish() -> None:
    """What the tests load on first use (botocore's service models, for one)
    and pytest's reports live on too. Left unfrozen, each full collection walks them
    again; frozen after a collection every 25 tests, they are out of its sight. Only
    cyclic garbage among frozen objects stays; reference counting frees the rest."""
    global _finished
    _finished += 1
    if _finished % FREEZE_EVERY == 0:
        gc.collect()
        gc.freeze()
