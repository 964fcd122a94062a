"""Server-rendered SVG bar charts: plain markup an information-governance
lead can print or paste into a report, no script, every value escaped.

`stacked_columns` draws one column per day, stacked by series (verdicts, or
reasons); `horizontal_bars` draws a ranked list (top rejected reasons).
Each bar has a <title>, so hovering shows the exact count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

# Colour-blind-safe (Okabe-Ito) colours; verdicts keep fixed ones so that
# "reject" is the same red on every chart.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000", "#999999")
VERDICT_COLOURS = {"deliver": "#009E73", "protect": "#0072B2", "hold": "#E69F00",
                   "reject": "#D55E00"}


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def colours(series: Sequence[str], fixed: Mapping[str, str] | None = None) -> dict[str, str]:
    fixed = fixed or {}
    spare = iter(c for c in PALETTE if c not in fixed.values())
    return {name: fixed.get(name) or next(spare, "#777777") for name in series}


def _nice_max(value: int, ticks: int = 4) -> int:
    """An axis maximum at or above `value` whose `ticks` steps are whole,
    round numbers (1, 2, 5 x 10^n): counts never get a 0.5 gridline."""
    needed = max(1, -(-value // ticks))
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= needed:
                return step * factor * ticks
        step *= 10


def stacked_columns(
    title: str,
    labels: Sequence[str],
    data: Mapping[str, Mapping[str, int]],
    series: Sequence[str],
    fixed_colours: Mapping[str, str] | None = None,
    width: int = 720,
    height: int = 260,
) -> Markup:
    """Columns per label (day), stacked by `series`; `data[label][series]`."""
    palette = colours(series, fixed_colours)
    left, right, top, bottom = 44, 12, 16, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(data.get(label, {}).get(s, 0) for s in series) for label in labels]
    axis_max = _nice_max(max(totals, default=0))
    slot = plot_w / max(1, len(labels))
    bar_w = max(2.0, slot * 0.7)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{_e(title)}"><title>{_e(title)}</title>'
    ]
    for tick in range(5):
        value = axis_max * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     'stroke="#ddd" stroke-width="1"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="11" fill="#444">{value:.0f}</text>')
    every = max(1, len(labels) // 10)  # at most ~10 date labels
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h
        for name in series:
            count = data.get(label, {}).get(name, 0)
            if not count:
                continue
            h = plot_h * count / axis_max
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                         f'fill="{palette[name]}"><title>{_e(label)}: {_e(name)} {count}'
                         '</title></rect>')
        if i % every == 0:
            cx = left + slot * i + slot / 2
            parts.append(f'<text x="{cx:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                         f'font-size="10" fill="#444">{_e(label[5:])}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" '
                 f'y2="{top + plot_h}" stroke="#888"/>')
    x = float(left)
    for name in series:
        parts.append(f'<rect x="{x:.0f}" y="{height - 16}" width="10" height="10" '
                     f'fill="{palette[name]}"/>')
        parts.append(f'<text x="{x + 14:.0f}" y="{height - 7}" font-size="11" fill="#222">'
                     f'{_e(name)}</text>')
        x += 24 + 7 * len(name)
    parts.append("</svg>")
    return Markup("".join(parts))


def horizontal_bars(
    title: str, items: Sequence[tuple[str, int]], colour: str = "#D55E00", width: int = 720
) -> Markup:
    """One bar per (name, count), largest first as given."""
    row, label_w, right = 24, 230, 56
    height = max(1, len(items)) * row + 12
    top_value = max((c for _, c in items), default=1)
    plot_w = width - label_w - right
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{_e(title)}"><title>{_e(title)}</title>'
    ]
    if not items:
        parts.append(f'<text x="8" y="{row - 6}" font-size="12" fill="#666">none</text>')
    for i, (name, count) in enumerate(items):
        y = 6 + i * row
        w = plot_w * count / top_value
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="12" '
                     f'fill="#222">{_e(name)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1):.1f}" height="16" '
                     f'fill="{colour}"><title>{_e(name)}: {count}</title></rect>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" font-size="12" '
                     f'fill="#222">{count}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
