"""Tables of `phototag eval` (terminal and Markdown) from one EvalResult."""

from __future__ import annotations

from typing import Sequence

from rich.table import Table

from phototag.evaluate.result import ROWS, EvalResult
from phototag.metrics import KS, metric_names


def _best(result: EvalResult, average: str, name: str) -> float:
    return max(getattr(ev, average)[name] for ev in result.results.values())


def rich_table(result: EvalResult, average: str = "per_photo", ks: Sequence[int] = KS) -> Table:
    """One row per method, P@k, R@k, Acc@k and mAP columns; the best figure of each column in bold."""
    title = "mean over photos" if average == "per_photo" else "mean over owners (each owner's photos averaged first)"
    table = Table(title=f"phototag eval: {title}", title_justify="left")
    table.add_column("method", no_wrap=True)
    names = metric_names(ks)
    for name in names:
        table.add_column(name, justify="right")
    labels = dict(ROWS)
    for key, evaluation in result.results.items():
        cells = []
        for name in names:
            value = getattr(evaluation, average)[name]
            text = f"{value:.3f}"
            cells.append(f"[bold]{text}[/]" if abs(value - _best(result, average, name)) < 1e-12 else text)
        table.add_row(labels[key], *cells)
    return table


def markdown_table(result: EvalResult, average: str = "per_photo", ks: Sequence[int] = KS) -> str:
    names = metric_names(ks)
    labels = dict(ROWS)
    lines = ["| method | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, evaluation in result.results.items():
        values = getattr(evaluation, average)
        lines.append(f"| {labels[key]} | " + " | ".join(f"{values[n]:.3f}" for n in names) + " |")
    return "\n".join(lines)


def relative_gain(result: EvalResult, metric: str = "P@5", average: str = "per_photo") -> dict[str, float]:
    """Full model (A6) over each other row: A6 / row - 1 (the quality goal asks >= 0.20 against every baseline)."""
    if "A6" not in result.results:
        return {}
    full = getattr(result.results["A6"], average)[metric]
    out = {}
    for key, evaluation in result.results.items():
        if key == "A6":
            continue
        other = getattr(evaluation, average)[metric]
        out[key] = (full / other - 1.0) if other > 0 else float("inf")
    return out
