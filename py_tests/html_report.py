"""Matrices as grids in the HTML report (pytest-html): row x column, the expected and
the observed answer in each cell, differences marked, because a person reads a grid
faster than two hundred test ids.

A test adds a cell with `record_cell(request, grid, row, column, expected, observed)`.
The cell travels on the test report (`user_properties`, so also under xdist and in the
JUnit XML), and the grids are drawn above the report's table of results.
"""

from html import escape
from typing import Any, cast

import pytest

CELL = "grid_cell"
# (grid, row, column, expected, observed, agrees) as a test records it
Cell = tuple[str, str, str, str, str, bool]
# grid -> (row, column) -> (expected, observed, agrees, test outcome)
_grids: dict[str, dict[tuple[str, str], tuple[str, str, bool, str]]] = {}


def record_cell(
    request: pytest.FixtureRequest,
    grid: str,
    row: str,
    column: str,
    expected: object,
    observed: object,
    agrees: bool | None = None,
) -> None:
    """One cell of a grid; `agrees` defaults to expected == observed."""
    same = expected == observed if agrees is None else agrees
    request.node.user_properties.append(
        (CELL, (grid, row, column, str(expected), str(observed), same))
    )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        return
    for name, value in report.user_properties:
        if name == CELL:
            grid, row, column, expected, observed, agrees = cast(Cell, value)
            _grids.setdefault(grid, {})[(row, column)] = (
                expected,
                observed,
                agrees,
                report.outcome,
            )


def _cell(found: tuple[str, str, bool, str] | None) -> str:
    if found is None:
        return '<td style="background:#eeeeee;text-align:center">-</td>'
    expected, observed, agrees, outcome = found
    ok = agrees and outcome == "passed"
    color = "#d8f5d8" if ok else "#f8d0d0"
    if ok:
        text = f"{escape(expected)} ✓"
    elif agrees:  # the status agreed, another assertion of the test did not
        text = f"{escape(expected)} ✗"
    else:
        text = f"{escape(expected)} ≠ {escape(observed)} ✗"
    return f'<td style="background:{color};text-align:center">{text}</td>'


def _table(grid: str, cells: dict[tuple[str, str], tuple[str, str, bool, str]]) -> str:
    rows = sorted({row for row, _ in cells})
    columns = list(dict.fromkeys(column for _, column in cells))
    head = "".join(f"<th>{escape(column)}</th>" for column in columns)
    body = "".join(
        f"<tr><td><code>{escape(row)}</code></td>"
        + "".join(_cell(cells.get((row, column))) for column in columns)
        + "</tr>"
        for row in rows
    )
    failed = sum(1 for *_, agrees, outcome in cells.values() if not agrees or outcome != "passed")
    return (
        f"<h2>{escape(grid)}: {len(cells)} cells, {failed} failed</h2>"
        "<p>expected status; ✓ observed the same, ≠ observed otherwise, - not run</p>"
        f"<table><tr><th>route</th>{head}</tr>{body}</table>"
    )


def pytest_html_results_summary(prefix: list[str], summary: Any, postfix: Any) -> None:
    for grid, cells in sorted(_grids.items()):
        prefix.append(_table(grid, cells))
