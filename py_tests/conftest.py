"""The suite's fixtures live in plugin modules; this file lists them, and keeps the
garbage collector off the objects that importing everything made."""

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
]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Modules, classes and functions live as long as the run: frozen, a full
    collection no longer walks them all again during the tests."""
    gc.collect()
    gc.freeze()
