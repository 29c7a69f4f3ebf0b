"""`phototag review DIR`: go through suggestions photo by photo and write what you accept.

Per photo the suggestions are shown numbered with their scores. Answers:
  Enter or a        accept all
  1 3  (or 2-4)     accept those numbers
  +tag, other tag   add tags of your own (after numbers: `1 3 +beach`; `a +beach`)
  s                 skip this photo
  q                 quit (photos already answered stay written)
Accepted tags are written to the photo's sidecar as soon as you answer, so
quitting half way loses nothing; `phototag undo DIR` reverts the whole session.
Each answer is kept in the index first (phototag.app.review.Decider), as the web
review keeps its decisions: the suggestions not picked are rejected and not asked
again, and typed tags take the owner's vocabulary (`flower` -> `Nature|Flower`).
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from phototag.app.review import Decider, live_entries, to_review
from phototag.app.scan import scan
from phototag.app.suggest import SuggestOptions
from phototag.app.write import Entry, open_writer, read_suggest_file, summary
from phototag.cli.app import app
from phototag.cli.common import RunLog, err_console, fail, open_index, out_console, print_line, source_label
from phototag.cli.options import (
    DryRunOpt,
    IndexOpt,
    LibraryArg,
    QuietOpt,
    ReplaceLinksOpt,
    SidecarStyleOpt,
    VerboseOpt,
    with_suggest_options,
)
from phototag.reporting import display_path, escape_controls

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
    out_console.print(f"\n[bold]\\[{number}/{total}] {escape(escape_controls(entry.shown))}[/]", highlight=False)
    if entry.present:
        print_line(out_console, f"  has: {', '.join(entry.present)}")
    for i, suggestion in enumerate(entry.suggestions, 1):
        score = suggestion.get("score")
        score_text = f"{score:.2f}" if isinstance(score, (int, float)) else "    "
        source = source_label(suggestion.get("source"))
        print_line(out_console, f"  {i:>2}  {suggestion['tag']:<40} {score_text}  {source}")


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


# review's own options (suggest's are shared: cli/options.py)
FromOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--from",
        help="Suggestions to review: a file written by `phototag suggest DIR --json` (or --csv).",
        exists=True,
        dir_okay=False,
    ),
]
WebOpt = Annotated[
    bool,
    typer.Option(
        "--web", help="Review in the browser: a page of thumbnails with their suggestions (needs phototag\\[web])."
    ),
]
PortOpt = Annotated[
    int, typer.Option("--port", min=0, max=65535, help="With --web: the port on 127.0.0.1 (0: a free one).")
]
NoBrowserOpt = Annotated[
    bool, typer.Option("--no-browser", help="With --web: print the address, do not open a browser.")
]


@app.command()
@with_suggest_options
def review(
    library: LibraryArg,
    from_file: FromOpt = None,
    sidecar_style: SidecarStyleOpt = "darktable",
    dry_run: DryRunOpt = False,
    replace_links: ReplaceLinksOpt = False,
    options: SuggestOptions = None,  # suggest's options (cli/options.py); --min-score also hides suggestions of --from
    web: WebOpt = False,
    port: PortOpt = 0,
    no_browser: NoBrowserOpt = False,
    index_path: IndexOpt = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Review suggestions photo by photo and write the tags you accept.

    Per photo: [bold]Enter[/]/[bold]a[/] accept all, [bold]1 3[/] pick by number,
    [bold]+tag, other tag[/] add your own, [bold]s[/] skip, [bold]q[/] quit.
    Accepted tags are written to the sidecar right away.

    Suggestions are computed now, exactly as `phototag suggest` computes them with the
    same options, or read with [bold]--from FILE[/] from a saved `phototag suggest DIR --json` output.

    With [bold]--web[/] the review is a page in your browser (thumbnails, chips, Write and Undo),
    served on 127.0.0.1 only until Ctrl-C.

    Examples:
      [bold]phototag review ~/Pictures[/]
      [bold]phototag review ~/Pictures --from s.jsonl[/]
      [bold]phototag review ~/Pictures --web[/]
    """
    runlog = RunLog("review", verbose=verbose, quiet=quiet)
    try:
        if web:
            write = {"style": sidecar_style, "dry_run": dry_run, "replace_links": replace_links}
            _web(library, from_file, index_path, options, write, port, not no_browser, runlog)
            raise typer.Exit(runlog.exit_code)
        entries = _entries(library, from_file, index_path, options, runlog)
        with open_index(library, index_path, runlog) as index:
            if from_file is not None:  # (a live review scanned already)
                scan(index, runlog, follow_links=options.follow_links)
            decider = Decider(index, dry_run)
            earlier = kept_line(index, library, "from an earlier review")
            if earlier:  # (accepted in `review --web`, say, and not written: this review leaves them be)
                runlog.info(earlier)
            todo = to_review(library, [decider.unrejected(e) for e in entries], options.min_score, runlog)
            if not todo:
                out_console.print("nothing to review: no new suggestions", highlight=False)
            try:
                with open_writer(
                    index,
                    "review",
                    runlog,
                    sidecar_style,
                    dry_run,
                    follow_links=options.follow_links,
                    replace_links=replace_links,
                ) as writer:
                    _ask_and_write(writer, decider, todo, dry_run)
            except KeyboardInterrupt:
                out_console.print()
                print_line(err_console, kept_line(index, library, "review stopped") or "review stopped")
                raise typer.Exit(130) from None
        runlog.summary(summary(writer.stats, dry_run))
    finally:
        runlog.close()
    raise typer.Exit(runlog.exit_code)


def kept_line(index, library: Path, prefix: str) -> str:
    """One line on the accepted tags kept in the index but not written yet ('' when there are none)."""
    from phototag.library.decisions import unwritten

    left = unwritten(index)
    if not left.tags:
        return ""
    folder = shlex.quote(display_path(library))
    return (
        f"{prefix}; {left.tags} accepted tag(s) on {left.photos} photo(s) are kept, not written yet:"
        f" `phototag review {folder} --web` shows them again, `phototag apply -l {folder}` writes them"
    )


def _entries(
    library: Path, from_file: Optional[Path], index_path: Optional[Path], options: SuggestOptions, runlog: RunLog
) -> list[Entry]:
    """The suggestions to review: read from --from FILE, or computed now exactly as `phototag suggest` would."""
    if from_file is not None:
        return read_suggest_file(from_file, library, runlog.record_skipper(from_file))
    with open_index(library, index_path, runlog) as index:
        return live_entries(index, options, runlog)


def _web(
    library: Path, from_file, index_path, options: SuggestOptions, write: dict, port: int, browser: bool, runlog: RunLog
) -> None:
    """Serve the review page until Ctrl-C (phototag.web.server); `write`: phototag.web.state.WriteSettings' fields."""
    try:
        from phototag.web.server import listening_socket, serve
        from phototag.web.state import WriteSettings
    except ImportError as error:
        missing = (error.name or "").split(".")[0]
        if missing not in ("starlette", "uvicorn"):
            raise
        raise fail(f"--web needs the optional web extra: pip install 'phototag[web]' ({missing} is missing)") from None
    entries = _entries(library, from_file, index_path, options, runlog) if from_file is not None else None
    with open_index(library, index_path) as index:
        db_path = index.db_path

    def announce(url: str) -> None:
        print_line(err_console, f"Review at {url}")
        print_line(err_console, "Ctrl-C stops the review.")

    try:
        sock = listening_socket(port)  # before the scan: a port in use fails at once
    except OSError as error:
        raise fail(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from None
    serve(
        sock,
        library,
        db_path,
        options,
        WriteSettings(**write),
        entries,
        runlog,
        open_browser=browser,
        announce=announce,
    )
    with open_index(library, index_path) as index:
        print_line(err_console, kept_line(index, library, "review stopped") or "review stopped")


def _ask_and_write(writer, decider: Decider, todo: list[Entry], dry_run: bool) -> None:
    """Show each photo's suggestions, ask, keep the answer in the index and write it before the next question."""
    for number, entry in enumerate(todo, 1):
        _show(entry, number, len(todo))
        answer = _ask(len(entry.suggestions))
        if answer.action == "quit":
            break
        if answer.action == "skip":
            continue
        picked = [entry.suggestions[i - 1]["tag"] for i in answer.picks]
        tags = decider.answer(entry, picked, answer.extra)
        if not tags:
            continue
        result = writer.add_tags(entry.photo, tags, model=entry.model if picked else None)
        writer.flush()  # this photo's answer is on disk before the next question
        if not result.skipped:
            decider.written(entry, tags, writer.batch_id)
        if result.changed:
            names = ", ".join(p.name for p in result.sidecars)
            verb = "would add" if dry_run else "added"
            print_line(out_console, f"  {verb}: {', '.join(result.added)} → {names}")
        elif not result.skipped:
            out_console.print("  already there; nothing to write", highlight=False, markup=False)
        for reason in result.skipped:
            print_line(out_console, f"  not written: {reason}")
