"""`phototag review DIR`: go through suggestions photo by photo and write what you accept.

Per photo the suggestions are shown numbered with their scores. Answers:
  Enter or a        accept all
  1 3  (or 2-4)     accept those numbers
  +tag, other tag   add tags of your own (after numbers: `1 3 +beach`; `a +beach`)
  s                 skip this photo
  q                 quit (photos already answered stay written)
Accepted tags are written to the photo's sidecar as soon as you answer, so
quitting half way loses nothing; `phototag undo DIR` reverts the whole session.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from phototag.cli.app import app
from phototag.cli.apply import DryRunOpt, Entry, SidecarStyleOpt, SuggestFileError, check_style, inside, print_write_summary, read_suggest_file
from phototag.cli.common import (
    EXIT_USAGE,
    IndexOpt,
    LibraryArg,
    QuietOpt,
    RunLog,
    VerboseOpt,
    display_path,
    fail,
    open_index,
    out_console,
    progress,
)

PROMPT = "accept [Enter/a all · 1 3 pick · +tag, tag add · s skip · q quit]: "


@dataclass
class Answer:
    action: str  # "accept" | "skip" | "quit"
    picks: list[int] = field(default_factory=list)  # 1-based
    extra: list[str] = field(default_factory=list)


def parse_answer(text: str, count: int) -> Answer:
    """Understand one line typed at the review prompt (raises ValueError with a hint)."""
    text = text.strip()
    if text.lower() in ("", "a"):
        return Answer("accept", list(range(1, count + 1)))
    if text.lower() == "s":
        return Answer("skip")
    if text.lower() == "q":
        return Answer("quit")
    head, plus, rest = text.partition("+")
    extra = [t.strip() for t in re.split(r"[,+]", rest) if t.strip()] if plus else []
    picks: list[int] = []
    for token in re.split(r"[\s,]+", head.strip()):
        if not token:
            continue
        if token.lower() == "a":
            picks.extend(range(1, count + 1))
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", token)
        if not match:
            raise ValueError(f"not understood: {token!r} (numbers, a, s, q, or +tag)")
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        if not 1 <= low <= high <= count:
            raise ValueError(f"no suggestion {token} (1-{count})")
        picks.extend(range(low, high + 1))
    return Answer("accept", list(dict.fromkeys(picks)), extra)


def _show(entry: Entry, number: int, total: int) -> None:
    out_console.print(f"\n[bold]\\[{number}/{total}] {escape(entry.shown)}[/]", highlight=False)
    if entry.present:
        out_console.print(f"  has: {', '.join(entry.present)}", highlight=False, markup=False)
    for i, suggestion in enumerate(entry.suggestions, 1):
        score = suggestion.get("score")
        score_text = f"{score:.2f}" if isinstance(score, (int, float)) else "    "
        source = suggestion.get("source") or ""
        out_console.print(f"  {i:>2}  {suggestion['tag']:<40} {score_text}  {source}", highlight=False, markup=False)


def _ask(count: int) -> Answer:
    while True:
        out_console.print(PROMPT, end="", highlight=False, markup=False)
        sys.stdout.flush()
        line = sys.stdin.readline()
        if line == "":  # end of input: stop like q
            out_console.print()
            return Answer("quit")
        try:
            return parse_answer(line, count)
        except ValueError as error:
            out_console.print(f"  {error}", highlight=False, markup=False)


def _live_entries(index, runlog: RunLog, include_tagged: bool, top_k: int, min_score: float) -> list[Entry]:
    """Compute suggestions now, as `phototag suggest DIR` would (newest good personal model, else packaged)."""
    from phototag.cli.scan import run_scan
    from phototag.library.history import TagHistory
    from phototag.model.checkpoint import load_latest_good
    from phototag.model.features import cached_features, extractor_for_model
    from phototag.model.recommend import Recommender

    run_scan(index, runlog, runlog.quiet)
    photos = [p for p in index.photos() if p.status == "ok"]
    history = TagHistory.from_photos(photos)
    targets = photos if include_tagged else [p for p in photos if not history.photo_keys(p)]
    if not targets:
        return []
    personal = load_latest_good(index, warn=runlog.warn)
    extractor = extractor_for_model(personal.meta if personal is not None else None)
    with progress(runlog.quiet, unit="photos") as bar:
        task = bar.add_task(f"Suggesting ({extractor.device})", total=len(targets))
        features = cached_features(index, targets, extractor, runlog, advance=lambda n: bar.advance(task, n))
    recommender = Recommender(history, extractor.model, personal=personal)
    results = recommender.suggest(targets, features, top_k=top_k, min_score=min_score)
    return [
        Entry(r.photo.path, r.photo.display_path, [s.as_dict() for s in r.suggestions], list(r.present), recommender.model_id)
        for r in results
    ]


def _pending(entry: Entry, min_score: float) -> Entry:
    """The entry with suggestions already on the photo, or scored below min_score, left out."""
    present = {t.strip().casefold() for t in entry.present}
    kept = [
        s
        for s in entry.suggestions
        if s["tag"].strip().casefold() not in present
        and s["tag"].split("|")[-1].strip().casefold() not in present
        and not (isinstance(s.get("score"), (int, float)) and s["score"] < min_score)
    ]
    return Entry(entry.photo, entry.shown, kept, entry.present, entry.model)


@app.command()
def review(
    library: LibraryArg,
    from_file: Annotated[
        Optional[Path],
        typer.Option(
            "--from",
            help="Suggestions to review: a file written by `phototag suggest DIR --json` (or --csv).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    min_score: Annotated[float, typer.Option("--min-score", help="Hide suggestions scored below this.")] = 0.05,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Suggestions per photo (computed live, without --from).")] = 5,
    only_untagged: Annotated[
        bool, typer.Option("--only-untagged/--all", help="Without --from: review untagged photos only (default), or all.")
    ] = True,
    index_path: IndexOpt = None,
    sidecar_style: SidecarStyleOpt = "darktable",
    dry_run: DryRunOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Review suggestions photo by photo and write the tags you accept.

    Per photo: [bold]Enter[/]/[bold]a[/] accept all, [bold]1 3[/] pick by number,
    [bold]+tag, other tag[/] add your own, [bold]s[/] skip, [bold]q[/] quit.
    Accepted tags are written to the sidecar right away.

    Suggestions are computed now (as `phototag suggest` does), or read with
    [bold]--from FILE[/] from a saved `phototag suggest DIR --json` output.

    Example: [bold]phototag review ~/Pictures[/]   or   [bold]phototag review ~/Pictures --from s.jsonl[/]
    """
    from phototag.library.sidecar import SidecarWriter

    style = check_style(sidecar_style)
    runlog = RunLog("review", verbose=verbose, quiet=quiet)
    try:
        if from_file is not None:
            try:
                entries = read_suggest_file(from_file, library, runlog.warn)[1]
            except SuggestFileError as error:
                raise fail(f"{display_path(from_file)}: {error}", EXIT_USAGE) from None
        else:
            from phototag.model.weights import WeightsError

            with open_index(library, index_path) as index:
                try:
                    entries = _live_entries(index, runlog, not only_untagged, top_k, min_score)
                except WeightsError as error:
                    raise fail(str(error)) from None
        todo = []
        for entry in entries:
            if not inside(library, entry.photo):
                runlog.skip(entry.photo, f"outside {display_path(library)}; not shown")
            elif not entry.photo.is_file():
                runlog.skip(entry.photo, "photo not found")
            else:
                pending = _pending(entry, min_score)
                if pending.suggestions:
                    todo.append(pending)
        if not todo:
            out_console.print("nothing to review: no new suggestions", highlight=False)
        with open_index(library, index_path) as index:
            with SidecarWriter(index, "review", dry_run=dry_run, style=style, reporter=runlog) as writer:
                for number, entry in enumerate(todo, 1):
                    _show(entry, number, len(todo))
                    answer = _ask(len(entry.suggestions))
                    if answer.action == "quit":
                        break
                    if answer.action == "skip":
                        continue
                    picked = [entry.suggestions[i - 1]["tag"] for i in answer.picks]
                    tags = list(dict.fromkeys(picked + answer.extra))
                    if not tags:
                        continue
                    result = writer.add_tags(entry.photo, tags, model=entry.model if picked else None)
                    writer.flush()  # this photo's answer is on disk before the next question
                    if result.changed:
                        names = ", ".join(p.name for p in result.sidecars)
                        verb = "would add" if dry_run else "added"
                        out_console.print(f"  {verb}: {', '.join(result.added)} → {names}", highlight=False, markup=False)
                    elif not result.skipped:
                        out_console.print("  already there; nothing to write", highlight=False, markup=False)
                    for reason in result.skipped:
                        out_console.print(f"  not written: {reason}", highlight=False, markup=False)
        print_write_summary(writer.stats, runlog, dry_run)
    finally:
        runlog.close()
    raise typer.Exit(runlog.exit_code)
