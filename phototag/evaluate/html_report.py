"""`phototag eval --html`: the figures of one EvalResult as a single self-contained page.

Everything is inline (CSS, SVG plots drawn here, thumbnails as base64 JPEG data URIs), so the page
opens anywhere, offline, and fetches nothing. Sections: one plot per metric family (P@k, R@k, Acc@k
against k, a line per row, error bars of ± sd when the run had several splits), the table that
`--markdown` prints, both again averaged over owners when the library has several, and a few test
photos with their true tags and each row's top 5 (right tags marked).
"""

from __future__ import annotations

import base64
import io
import math
from html import escape
from pathlib import Path
from typing import Callable, Optional

from phototag.evaluate.report import best, figure, skipped_line, summary
from phototag.evaluate.result import EvalResult, Example, row_label
from phototag.imaging.decode import load_rgb
from phototag.imaging.pixels import DecodeError
from phototag.metrics import KS, metric_names

# Tableau 10: distinct at a glance, and still told apart by most colour-blind readers with the dashes.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#b07aa1", "#edc948", "#ff9da7", "#9c755f", "#bab0ac")
DASHED = {"library", "owner"}  # the frequency baselines: the reference lines
SHORT = {  # row names beside the example photos' tags (the legend and the table give the full ones)
    "library": "library top",
    "owner": "owner top",
    "knn": "kNN",
    "propagation": "spread",
    "cooc": "co-occur.",
    "neighbours": "nearby",
    "suggest_owner": "suggest, no model",
}
FAMILIES = (
    ("P", "Precision@k", "share of the top k tags that are right"),
    ("R", "Recall@k", "share of the photo's tags found in the top k"),
    ("Acc", "Accuracy@k", "share of photos with a right tag in the top k"),
)
AVERAGE_TITLES = {"per_photo": "Mean over photos", "per_owner": "Mean over owners (each owner's photos averaged first)"}
THUMBNAIL_SIDE = 360  # longest side of an example photo's thumbnail, pixels
Thumbnail = Callable[[Path], Optional[str]]  # a photo file -> data URI, or None when it cannot be shown


def html_report(result: EvalResult, title: str, thumbnail: Optional[Thumbnail] = None) -> str:
    """The page for `result`; `thumbnail` makes the example photos' images (default: small JPEG data URIs)."""
    colours = {key: PALETTE[i % len(PALETTE)] for i, key in enumerate(result.results)}
    averages = ("per_photo", "per_owner") if result.counts.get("owners", 1) > 1 else ("per_photo",)
    body = [_header(result, title), _legend(result, colours)]
    for average in averages:
        body.append(f"<h2>{escape(AVERAGE_TITLES[average])}</h2>")
        body.append('<div class="plots">' + "".join(_plot(result, average, f, colours) for f in FAMILIES) + "</div>")
        body.append(_table(result, average, colours))
    body.append(_reliability(result, colours))
    if result.examples:
        body.append(_examples(result, colours, thumbnail or jpeg_data_uri))
    return PAGE.format(title=escape(title), style=STYLE, body="\n".join(body))


def jpeg_data_uri(path: Path) -> Optional[str]:
    """A small upright JPEG of the photo as a data URI; None when it cannot be decoded (moved, unreadable)."""
    try:
        image = load_rgb(path, THUMBNAIL_SIDE // 2)
    except (DecodeError, OSError):
        return None
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=72, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _label(key: str) -> str:
    return row_label(key)


def _swatch(key: str, colours: dict[str, str], width: int = 26) -> str:
    dash = ' stroke-dasharray="6 3"' if key in DASHED else ""
    return (
        f'<svg class="swatch" width="{width}" height="10" aria-hidden="true"><line x1="1" y1="5" '
        f'x2="{width - 1}" y2="5" '
        f'stroke="{colours[key]}" stroke-width="2.5"{dash}/><circle cx="{width / 2}" cy="5" r="3" '
        f'fill="{colours[key]}"/></svg>'
    )


def _header(result: EvalResult, title: str) -> str:
    config = result.config
    splits = len(result.splits)
    spread = f" Error bars: ± standard deviation over the {splits} seeded splits." if splits > 1 else ""
    protocol = {
        "untagged": "the test photos carry no tag",
        "partial": "each test photo keeps one tag as input (shown as <i>given</i>); every row ranks it last",
        "event": "test photos with tagged training photos among their neighbours (the neighbours signal's)",
    }.get(config.get("protocol", "untagged"), "")
    skipped = skipped_line(result)
    return (
        f'<header><h1>{escape(title)}</h1><p class="summary">{escape(summary(result))}</p>'
        f'<p class="note">Protocol <b>{escape(config.get("protocol", "untagged"))}</b>: {protocol}. '
        "Every row is scored on the same held-out test photos; a tag the training part never used "
        f"{config.get('min_count', 3)} times cannot be suggested by any row.{spread}</p>"
        + (f'<p class="note">{escape(skipped[:1].upper() + skipped[1:])}.</p>' if skipped else "")
        + "</header>"
    )


def _legend(result: EvalResult, colours: dict[str, str]) -> str:
    items = "".join(f"<li>{_swatch(key, colours)}{escape(_label(key))}</li>" for key in result.results)
    return f'<ul class="legend">{items}</ul>'


def _ticks(top: float) -> tuple[float, float]:
    """A round step and the axis maximum (a multiple of it) for values up to `top`."""
    for step in (0.02, 0.05, 0.1, 0.2, 0.25):
        if top <= 6 * step:
            break
    return step, min(1.0, max(step, math.ceil(top / step - 1e-9) * step))  # every figure is at most 1


def _plot(result: EvalResult, average: str, family: tuple[str, str, str], colours: dict[str, str]) -> str:
    """One SVG line plot: the family's figure against k, a line (mean) per row, ± sd error bars."""
    prefix, name, meaning = family
    width, height, left, right, top, bottom = 400, 270, 46, 14, 14, 40
    series = {
        key: [(k, getattr(ev, average)[f"{prefix}@{k}"], result.sd(key, average, f"{prefix}@{k}") or 0.0) for k in KS]
        for key, ev in result.results.items()
    }
    step, y_max = _ticks(max((v + sd for points in series.values() for _, v, sd in points), default=0.0))

    def x(k: float, dodge: float = 0.0) -> float:
        return left + (k - KS[0]) / (KS[-1] - KS[0]) * (width - left - right) + dodge

    def y(value: float) -> float:
        return top + (1 - value / y_max) * (height - top - bottom)

    parts = []
    for i in range(round(y_max / step) + 1):
        value = i * step
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}"/>')
        parts.append(f'<text class="tick" x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:.2f}</text>')
    for k in KS:
        parts.append(f'<text class="tick" x="{x(k):.1f}" y="{height - bottom + 16}" text-anchor="middle">{k}</text>')
    parts.append(
        f'<text class="axis" x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle">k (tags '
        f"suggested)</text>"
    )
    for i, (key, points) in enumerate(series.items()):
        dodge = (i - (len(series) - 1) / 2) * 2.2  # rows with equal figures stay visible side by side
        parts.append(
            _line(key, points, colours[key], [(x(k, dodge), y(v), y(v - sd), y(v + sd)) for k, v, sd in points])
        )
    svg = f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(name)}">{"".join(parts)}</svg>'
    return f'<figure class="plot"><figcaption><b>{name}</b> <span>{escape(meaning)}</span></figcaption>{svg}</figure>'


def _reliability(result: EvalResult, colours: dict[str, str]) -> str:
    """The reliability diagram of the suggest rows: per score bin, how often the tags were right against
    the mean score (the diagonal is a score that means what it says); a dot's area grows with its count."""
    from phototag.evaluate.report import calibration_rows

    rows = calibration_rows(result)
    if not rows:
        return ""
    size, left, bottom, pad = 300, 46, 40, 14

    def at(value: float, vertical: bool) -> float:
        span = size - left - pad if not vertical else size - bottom - pad
        return (pad + (1 - value) * span) if vertical else (left + value * span)

    parts = [f'<line class="grid" x1="{at(0, False)}" y1="{at(0, True)}" x2="{at(1, False)}" y2="{at(1, True)}"/>']
    for i in range(6):
        v = i / 5
        parts.append(f'<text class="tick" x="{left - 6}" y="{at(v, True) + 4:.1f}" text-anchor="end">{v:.1f}</text>')
        parts.append(
            f'<text class="tick" x="{at(v, False):.1f}" y="{size - bottom + 16}" text-anchor="middle">{v:.1f}</text>'
        )
    parts.append(f'<text class="axis" x="{(left + size - pad) / 2}" y="{size - 6}" text-anchor="middle">score</text>')
    middle = (size - bottom) / 2
    parts.append(
        f'<text class="axis" x="12" y="{middle}" transform="rotate(-90 12 {middle})" '
        f'text-anchor="middle">share right</text>'
    )
    for key, ece, total in rows:
        bins = [b for b in result.reliability(key) if b["count"]]
        path = " ".join(f"{at(b['score'], False):.1f},{at(b['right'], True):.1f}" for b in bins)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colours[key]}" stroke-width="2"/>')
        for b in bins:
            r = 2.5 + 6 * math.sqrt(b["count"] / total)
            tip = (
                f"{_label(key)}: scores {b['low']:.1f}–{b['high']:.1f}, {b['count']} tags, "
                f"mean {b['score']:.2f}, right {b['right']:.2f}"
            )
            parts.append(
                f'<circle cx="{at(b["score"], False):.1f}" cy="{at(b["right"], True):.1f}" r="{r:.1f}" '
                f'fill="{colours[key]}"><title>{escape(tip)}</title></circle>'
            )
    eces = ", ".join(f"{escape(_label(key))}: ECE {ece:.3f}" for key, ece, _ in rows)
    svg = f'<svg viewBox="0 0 {size} {size}" role="img" aria-label="reliability diagram">{"".join(parts)}</svg>'
    return (
        '<h2>Do the scores mean what they say?</h2><div class="plots"><figure class="plot reliability">'
        f"<figcaption><b>Reliability</b> <span>each test photo's five best-scored tags in 10 score bins; "
        f"{eces}</span></figcaption>{svg}</figure></div>"
    )


def _line(key: str, points: list[tuple[int, float, float]], colour: str, at: list[tuple[float, ...]]) -> str:
    """A row's polyline, its points (with a tooltip) and error bars, at the given screen positions."""
    dash = ' stroke-dasharray="6 3"' if key in DASHED else ""
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in at)
    out = [f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>']
    for (k, value, sd), (px, py, low, high) in zip(points, at):
        if sd > 0:
            out.append(
                f'<path d="M{px:.1f},{low:.1f}V{high:.1f}M{px - 3:.1f},{low:.1f}h6M{px - 3:.1f},{high:.1f}h6"'
                f' stroke="{colour}"/>'
            )
        tip = f"{_label(key)}, k = {k}: {value:.3f}" + (f" ± {sd:.3f}" if sd > 0 else "")
        out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.2" fill="{colour}"><title>{escape(tip)}</title></circle>')
    return "".join(out)


def _table(result: EvalResult, average: str, colours: dict[str, str]) -> str:
    """The figures of `--markdown` (mean, and ± sd with several splits); the best of each column in bold."""
    names = metric_names(KS)
    head = "".join(f'<th class="{_group(n)}">{n}</th>' for n in names)
    rows = []
    for key, evaluation in result.results.items():
        cells = []
        for name in names:
            mean, _, sd = figure(result, key, average, name).partition(" ± ")
            strong = abs(getattr(evaluation, average)[name] - best(result, average, name)) < 1e-12
            text = f"<b>{mean}</b>" if strong else mean
            cells.append(
                f'<td class="{_group(name)}">{text}' + (f' <span class="sd">± {sd}</span>' if sd else "") + "</td>"
            )
        rows.append(
            f'<tr><th class="method">{_swatch(key, colours, 18)}{escape(_label(key))}</th>{"".join(cells)}</tr>'
        )
    return (
        f'<table class="figures"><thead><tr><th '
        f'class="method">method</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _group(name: str) -> str:
    """Column class: the first column of each metric family gets a separating rule."""
    return "first" if name.endswith(f"@{KS[0]}") or name == "mAP" else ""


def _examples(result: EvalResult, colours: dict[str, str], thumbnail: Thumbnail) -> str:
    cards = "".join(_card(example, colours, thumbnail) for example in result.examples)
    return (
        '<h2>Example test photos</h2><p class="note">A few photos of the first split\'s test part, their true tags '
        'and each row\'s top 5: <span class="chip hit">right</span> <span class="chip">wrong</span></p>'
        f'<div class="examples">{cards}</div>'
    )


def _card(example: Example, colours: dict[str, str], thumbnail: Thumbnail) -> str:
    uri = thumbnail(example.path)
    image = (
        f'<img src="{uri}" alt="{escape(example.name)}">' if uri else '<div class="missing">photo not readable</div>'
    )
    truth = set(example.truth)
    given = (
        f'<div class="given">given: <span class="chip">{escape(example.given)}</span></div>' if example.given else ""
    )
    rows = "".join(
        f"<tr><th>{_swatch(key, colours, 14)}{escape(SHORT.get(key, key))}</th><td>"
        + "".join(f'<span class="chip{" hit" if tag in truth else ""}">{escape(tag)}</span>' for tag in tags)
        + "</td></tr>"
        for key, tags in example.top.items()
    )
    return (
        f'<figure class="photo">{image}<figcaption title="{escape(example.name)}">{escape(example.name)}</figcaption>'
        f'<div class="truth">{"".join(f"<span class=chip>{escape(t)}</span>" for t in example.truth)}</div>'
        f'{given}<table class="tops">{rows}</table></figure>'
    )


STYLE = """
:root { color-scheme: light; --ink: #1f2328; --muted: #656d76; --rule: #d8dee4; --hit: #1a7f37; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 10px; }
.summary { margin: 0; color: var(--muted); } .note { color: var(--muted); margin: 6px 0; font-size: 13px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; list-style: none; padding: 10px 14px; margin: 16px 0 0;
  background: #fff; border: 1px solid var(--rule); border-radius: 8px; }
.legend li { display: flex; align-items: center; gap: 6px; }
.swatch { flex: none; vertical-align: middle; margin-right: 6px; }
.plots { display: grid; grid-template-columns: repeat(3, 1fr); gap: 14px; }
.plot { margin: 0; background: #fff; border: 1px solid var(--rule); border-radius: 8px; padding: 10px 10px 4px; }
.plot figcaption span { color: var(--muted); font-size: 12px; margin-left: 4px; }
.plot svg { width: 100%; height: auto; display: block; }
.grid { stroke: #e6e9ed; } .tick { fill: var(--muted); font-size: 11px; } .axis { fill: var(--muted); font-size: 12px; }
table.figures { width: 100%; margin-top: 14px; border-collapse: collapse; background: #fff;
  border: 1px solid var(--rule);
  font-variant-numeric: tabular-nums; font-size: 13px; }
.figures th, .figures td { padding: 5px 7px; border-bottom: 1px solid #eef1f4; text-align: right; white-space: nowrap; }
.figures thead th { background: #f0f2f5; font-weight: 600; }
.figures th.method { text-align: left; font-weight: 500; white-space: normal; }
.figures .first { border-left: 1px solid var(--rule); }
.sd { display: block; color: var(--muted); font-size: 11px; }
.examples { display: grid; grid-template-columns: repeat(4, 1fr); gap: 14px; }
.photo { margin: 0; background: #fff; border: 1px solid var(--rule); border-radius: 8px; overflow: hidden; }
.photo img, .photo .missing { width: 100%; height: 190px; object-fit: cover; display: block; background: #e9ecef; }
.photo .missing { display: flex; align-items: center; justify-content: center; color: var(--muted); }
.photo figcaption { padding: 6px 10px 0; font-size: 12px; color: var(--muted); overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; }
.truth, .given { padding: 4px 10px 0; } .truth .chip { background: #ddf4ff; border-color: #b6e3ff; font-weight: 600; }
.given { font-size: 12px; color: var(--muted); }
.tops { width: 100%; border-collapse: collapse; margin: 6px 0 8px; font-size: 12px; }
.tops th { text-align: left; font-weight: 500; padding: 3px 4px 3px 10px; white-space: nowrap; vertical-align: top;
  color: var(--muted); width: 1%; }
.tops td { padding: 2px 8px 2px 4px; border-top: 1px solid #f0f2f5; }
.chip { display: inline-block; padding: 0 6px; margin: 1px 3px 1px 0; border: 1px solid var(--rule);
  border-radius: 10px;
  background: #f6f8fa; font-size: 11.5px; line-height: 18px; }
.chip.hit { background: #dafbe1; border-color: #8fd19e; color: var(--hit); font-weight: 600; }
.chip.hit::before { content: "\\2713\\00a0"; }
footer { margin-top: 28px; color: var(--muted); font-size: 12px; }
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{style}</style></head>
<body><main>
{body}
<footer>Made by <code>phototag eval --html</code>: one self-contained file (inline styles, plots and thumbnails);
it loads nothing from the network.</footer>
</main></body></html>
"""
