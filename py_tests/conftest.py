"""The suite's fixtures live in plugin modules; this file only lists them."""

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
