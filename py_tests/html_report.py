"""The RBAC matrix as a grid in the HTML report (pytest-html): route x role, the
expected status in each cell, marked passed or failed, because a person reads a grid
faster than sixty test ids."""

from html import escape
from typing import Any

import pytest

from py_tests.matrices import MATRIX, ROLES

MATRIX_TEST = "test_auth_matrix["
_observed: dict[tuple[str, str, str], str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if MATRIX_TEST not in report.nodeid or report.when != "call":
        return
    role, method, path = report.nodeid.split(MATRIX_TEST, 1)[1].rstrip("]").split("-", 2)
    _observed[(role, method, path)] = report.outcome


def _cell(route: tuple[str, str], column: int) -> str:
    expected = MATRIX[route][column]
    outcome = _observed.get((ROLES[column], *route))
    mark, color = {"passed": ("✓", "#d8f5d8"), "failed": ("✗", "#f8d0d0")}.get(
        outcome or "", ("-", "#eeeeee")
    )
    return f'<td style="background:{color};text-align:center">{expected} {mark}</td>'


def pytest_html_results_summary(prefix: list[str], summary: Any, postfix: Any) -> None:
    if not _observed:
        return
    head = "".join(f"<th>{escape(role)}</th>" for role in ROLES)
    rows = "".join(
        f"<tr><td><code>{escape(method)} {escape(path)}</code></td>"
        + "".join(_cell((method, path), column) for column in range(len(ROLES)))
        + "</tr>"
        for method, path in MATRIX
    )
    prefix.append(
        "<h2>RBAC matrix (expected status; ✓ observed, ✗ differed, - not run)</h2>"
        f"<table><tr><th>route</th>{head}</tr>{rows}</table>"
    )
