"""Tables of `phototag eval` (terminal and Markdown) from one EvalResult."""

from __future__ import annotations

from typing import Sequence

from rich.console import Console
from rich.table import Table

from phototag.errors import TORCH_EXTRA
from phototag.evaluate.baselines import TUNING
from phototag.evaluate.result import EvalResult, row_label
from phototag.metrics import KS, metric_names


def figure(result: EvalResult, key: str, average: str, name: str) -> str:
    """A row's figure as printed: "0.356", or "0.356 ± 0.012" (mean ± standard deviation over the splits)."""
    value = getattr(result.results[key], average)[name]
    sd = result.sd(key, average, name)
    return f"{value:.3f}" if sd is None else f"{value:.3f} ± {sd:.3f}"


def splits_line(result: EvalResult) -> str:
    """Seeds, protocol and each signal row's tuned parameters per split, for the summary line."""
    seeds = [split.seed for split in result.splits]
    text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))} (mean ± sd)"
    text += f", protocol {result.config.get('protocol', 'untagged')}"
    for name in dict.fromkeys(name for split in result.splits for name in split.tuned):
        chosen = [split.tuned[name]["parameters"] for split in result.splits if name in split.tuned]
        tuned = TUNING.get(name, {})
        text += f"; {name} " + ", ".join(" ".join(f"{p}={c[p]:g}" for p in tuned if p in c) for c in chosen)
    return text


def summary(result: EvalResult) -> str:
    """The run in one line: photos, vocabulary, owners, split, seeds, protocol, kNN's choice, time."""
    counts, config = result.counts, result.config
    return (
        f"{counts['train_photos']} training photos ({counts['val_photos']} of them for early stopping), "
        f"{counts['test_photos_scored']} test photos scored, vocabulary {counts['vocabulary']} tags, "
        f"{counts['owners']} owner(s); split by {config['split_by']}, {splits_line(result)}; {result.seconds:.0f}s"
    )


METHOD_WIDTH = 24  # the method names fold down to this (narrower, every name takes three lines)


def best(result: EvalResult, average: str, name: str) -> float:
    """The best figure of a column (tables mark it)."""
    return max(getattr(ev, average)[name] for ev in result.results.values())


def rich_table(
    result: EvalResult, average: str = "per_photo", names: Sequence[str] = metric_names(KS), title: str = ""
) -> Table:
    """One row per method and a column per metric of `names`; the best figure of each column in bold.

    Figures never wrap or shrink (a number cut to "0.…" says nothing); the method names fold."""
    title = title or (
        "mean over photos" if average == "per_photo" else "mean over owners (each owner's photos averaged first)"
    )
    table = Table(title=f"phototag eval: {title}", title_justify="left")
    table.add_column("method", overflow="fold", min_width=METHOD_WIDTH)
    for name in names:
        table.add_column(name, justify="right", no_wrap=True, min_width=5)
    for key, evaluation in result.results.items():
        cells = []
        for name in names:
            value = getattr(evaluation, average)[name]
            text = figure(result, key, average, name)
            cells.append(f"[bold]{text}[/]" if abs(value - best(result, average, name)) < 1e-12 else text)
        table.add_row(row_label(key), *cells)
    return table


def rich_tables(result: EvalResult, average: str, console: Console, ks: Sequence[int] = KS) -> list[Table]:
    """The table of `average`, or, where it is too wide for `console`, one table per family of metrics
    (precision, recall, accuracy and mAP), each split again where it is still too wide, so that every
    figure is shown whole."""
    table = rich_table(result, average, metric_names(ks))
    if _fits(table, console):
        return [table]
    over = "photos" if average == "per_photo" else "owners"
    families = (
        ("precision", [f"P@{k}" for k in ks]),
        ("recall", [f"R@{k}" for k in ks]),
        ("accuracy (a hit in the top k) and mAP", [f"Acc@{k}" for k in ks] + ["mAP"]),
    )
    tables = []
    for family, names in families:
        title = f"{family}, mean over {over}"
        columns: list[str] = []
        for name in names:
            if columns and not _fits(rich_table(result, average, columns + [name], title), console):
                tables.append(rich_table(result, average, columns, title))
                columns = []
            columns.append(name)
        tables.append(rich_table(result, average, columns, title))
    return tables


def _fits(table: Table, console: Console) -> bool:
    """Whether `table` shows every figure whole on `console`: its width with the method names folded
    to METHOD_WIDTH. (rich's own minimum counts a figure as short as its longest word, so a table
    "fitting" by it may still cut "0.356 ± 0.012" or squeeze whole columns away.)"""
    method = table.columns[0]
    method.max_width = METHOD_WIDTH
    try:
        needed = console.measure(table, options=console.options.update(width=10**6)).maximum
    finally:
        method.max_width = None
    return needed <= console.width


def markdown_table(result: EvalResult, average: str = "per_photo", ks: Sequence[int] = KS) -> str:
    names = metric_names(ks)
    lines = ["| method | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, evaluation in result.results.items():
        lines.append(f"| {row_label(key)} | " + " | ".join(figure(result, key, average, n) for n in names) + " |")
    return "\n".join(lines)


def calibration_rows(result: EvalResult) -> list[tuple[str, float, int]]:
    """(row, expected calibration error, suggestions) of each row with calibration figures (the suggest rows):
    ECE over 10 score bins of each test photo's five best-scored tags, all splits pooled."""
    from phototag.evaluate.calibration import ece_of_bins

    out = []
    for key in result.results:
        bins = result.reliability(key)
        if bins:
            out.append((key, ece_of_bins(bins), sum(b["count"] for b in bins)))
    return out


def calibration_markdown(result: EvalResult) -> str:
    rows = calibration_rows(result)
    if not rows:
        return ""
    lines = ["| method | ECE (10 bins, each photo's 5 best tags) | scored tags |", "|---|---:|---:|"]
    lines += [f"| {row_label(key)} | {ece:.3f} | {count} |" for key, ece, count in rows]
    return "\n".join(lines)


def reference_row(result: EvalResult) -> str | None:
    """The row the others are compared with: what `suggest` ranks after finetune, else the full model A6, else
    what suggest ranks without a personal model (eval without PyTorch)."""
    return next((key for key in ("suggest", "A6", "suggest_owner") if key in result.results), None)


def skipped_line(result: EvalResult) -> str | None:
    """The rows left out without PyTorch and how to get them, in one line; None when none was."""
    if not result.skipped:
        return None
    return f"not scored without PyTorch (they train a model): {', '.join(result.skipped)}; to score them: {TORCH_EXTRA}"


def relative_gain(result: EvalResult, metric: str = "P@5", average: str = "per_photo") -> dict[str, float]:
    """The reference row (reference_row) over each other row: reference / row - 1."""
    reference = reference_row(result)
    if reference is None:
        return {}
    full = getattr(result.results[reference], average)[metric]
    out = {}
    for key, evaluation in result.results.items():
        if key == reference:
            continue
        other = getattr(evaluation, average)[metric]
        out[key] = (full / other - 1.0) if other > 0 else float("inf")
    return out
