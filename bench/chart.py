"""The benchmark as an SVG chart: per endpoint, requests per second and p99 latency,
ours beside the floor. Plain SVG, so it needs nothing installed and renders anywhere."""

from collections.abc import Mapping
from html import escape

from bench.wrk import Pair

ROW_H, BAR_H, LABEL_W, PANEL_W, GAP = 44, 14, 190, 330, 40
OURS, FLOOR = "#3b6fb6", "#b0b0b0"


def _panel(x0: float, title: str, values: list[tuple[float, float]], unit: str) -> list[str]:
    top = max(max(pair) for pair in values) or 1.0
    parts = [f'<text x="{x0}" y="20" font-weight="bold">{escape(title)}</text>']
    for row, (ours, floor) in enumerate(values):
        y = 34 + row * ROW_H
        for offset, value, color in ((0, floor, FLOOR), (BAR_H + 2, ours, OURS)):
            width = max(1.0, (PANEL_W - 70) * value / top)
            label = f"{value:,.1f} ms" if unit == "ms" else f"{value:,.0f}"
            parts.append(
                f'<rect x="{x0}" y="{y + offset}" width="{width:.1f}" height="{BAR_H}" '
                f'fill="{color}"/><text x="{x0 + width + 4:.1f}" y="{y + offset + 11}" '
                f'font-size="11">{label}</text>'
            )
    return parts


def bar_chart(pairs: Mapping[str, Pair]) -> str:
    """`pairs`: per endpoint, ours and the floor measured beside it."""
    names = list(pairs)
    height = 50 + ROW_H * len(names)
    width = LABEL_W + 2 * PANEL_W + GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<rect x="8" y="{height - 18}" width="10" height="10" fill="{FLOOR}"/>'
        f'<text x="22" y="{height - 9}" font-size="11">floor (bare FastAPI)</text>'
        f'<rect x="150" y="{height - 18}" width="10" height="10" fill="{OURS}"/>'
        f'<text x="164" y="{height - 9}" font-size="11">this API</text>',
    ]
    for row, name in enumerate(names):
        y = 34 + row * ROW_H + BAR_H + 4
        parts.append(f'<text x="8" y="{y}">{escape(name)}</text>')
    rps = [(pairs[n].ours.requests_per_second, pairs[n].floor.requests_per_second) for n in names]
    p99 = [(pairs[n].ours.p99_ms, pairs[n].floor.p99_ms) for n in names]
    parts += _panel(LABEL_W, "requests per second (higher is better)", rps, "req/s")
    parts += _panel(LABEL_W + PANEL_W + GAP, "p99 latency (lower is better)", p99, "ms")
    parts.append("</svg>")
    return "\n".join(parts)
