"""Tables of `phototag eval` (terminal and Markdown) from one EvalResult."""

from __future__ import annotations

from typing import Sequence

from rich.table import Table

from phototag.evaluate.result import ROWS, EvalResult
from phototag.metrics import KS, metric_names


def figure(result: EvalResult, key: str, average: str, name: str) -> str:
    """A row's figure as printed: "0.356", or "0.356 ± 0.012" (mean ± standard deviation over the splits)."""
    value = getattr(result.results[key], average)[name]
    sd = result.sd(key, average, name)
    return f"{value:.3f}" if sd is None else f"{value:.3f} ± {sd:.3f}"


def splits_line(result: EvalResult) -> str:
    """Seeds, protocol and kNN's choice of each split, for the summary line."""
    seeds = [split.seed for split in result.splits]
    text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))} (mean ± sd)"
    text += f", protocol {result.config.get('protocol', 'untagged')}"
    chosen = [split.knn for split in result.splits if split.knn]
    if chosen:
        text += "; kNN " + ", ".join(f"k={c['k']} {c['weighting']}" for c in chosen)
    return text


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
            text = figure(result, key, average, name)
            cells.append(f"[bold]{text}[/]" if abs(value - _best(result, average, name)) < 1e-12 else text)
        table.add_row(labels[key], *cells)
    return table


def markdown_table(result: EvalResult, average: str = "per_photo", ks: Sequence[int] = KS) -> str:
    names = metric_names(ks)
    labels = dict(ROWS)
    lines = ["| method | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, evaluation in result.results.items():
        lines.append(f"| {labels[key]} | " + " | ".join(figure(result, key, average, n) for n in names) + " |")
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
