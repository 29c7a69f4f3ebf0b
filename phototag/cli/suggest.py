"""`phototag suggest DIR`: tag suggestions for the photos of a library."""

from __future__ import annotations

import csv
import json
import sys
import time
from contextlib import contextmanager
from enum import Enum
from typing import Annotated

import typer

from phototag.cli.app import app
from phototag.cli.common import (
    EXIT_USAGE,
    Backbone,
    Device,
    IndexOpt,
    JsonOpt,
    LibraryArg,
    QuietOpt,
    RunLog,
    VerboseOpt,
    err_console,
    fail,
    out_console,
    progress,
)


CHUNK = 2048  # photos per round of decode + suggest (about 64 MB of Lite0 features)


class HistoryMode(str, Enum):
    owner = "owner"
    folder = "folder"
    none = "none"


class ModelChoice(str, Enum):
    auto = "auto"
    personal = "personal"
    general = "general"


@app.command()
def suggest(
    library: LibraryArg,
    only_untagged: Annotated[
        bool, typer.Option("--only-untagged/--all", help="Suggest only for photos without tags (default), or for all.")
    ] = True,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Suggestions per photo.")] = 5,
    min_score: Annotated[float, typer.Option("--min-score", min=0.0, max=1.0, help="Leave out suggestions below this score.")] = 0.05,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print CSV (path,tag,score,source) to stdout.")] = False,
    json_out: JsonOpt = False,
    device: Annotated[Device, typer.Option("--device", help="auto: CUDA if available, else the faster of PyTorch and onnxruntime. onnx-int8: the packaged int8 Lite0 graph, about 2x faster on CPU, tags differ slightly (see the model card).")] = Device.auto,
    backbone: Annotated[Backbone, typer.Option("--backbone", help="Visual encoder (a personal model fixes its own).")] = Backbone.lite0,
    history: Annotated[HistoryMode, typer.Option("--history", help="History vector u_h: the owner's tags, the photo's folder (itself left out), or none.")] = HistoryMode.owner,
    model: Annotated[ModelChoice, typer.Option("--model", help="auto: the newest good personal model, else the packaged one.")] = ModelChoice.auto,
    new_tags: Annotated[bool, typer.Option("--new-tags", help="Also suggest general tags that are not in your vocabulary yet.")] = False,
    embed: Annotated[bool, typer.Option("--embed/--no-embed", help="Match your tags to general tags by meaning too (all-MiniLM-L6-v2, offline).")] = True,
    write: Annotated[bool, typer.Option("--write", help="Write the suggestions into XMP sidecars (journaled; `phototag undo` reverts).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --write: show what would change, change nothing.")] = False,
    sidecar_style: Annotated[str, typer.Option("--sidecar-style", help="New sidecars: darktable (photo.jpg.xmp) or lightroom (photo.xmp).")] = "darktable",
    workers: Annotated[int, typer.Option("--workers", min=0, help="Decode worker processes (0: automatic).")] = 0,
    gpu_decode: Annotated[bool, typer.Option("--gpu-decode/--no-gpu-decode", help="On CUDA, decode JPEGs on the GPU (nvJPEG/nvImageCodec).")] = True,
    index_path: IndexOpt = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Suggest tags for photos: in your own vocabulary when the library has keywords, general tags otherwise.

    Scans DIR first (only what changed), then ranks tags for each untagged photo
    (--all: every photo) and never repeats a tag the photo already has.

    Example: [bold]phototag suggest ~/Pictures --top-k 3[/]   or   [bold]phototag suggest ~/Pictures --json > s.jsonl[/]   or   [bold]phototag suggest ~/Pictures --write --dry-run[/]
    """
    if json_out and csv_out:
        raise fail("choose one of --json and --csv", EXIT_USAGE)
    if dry_run and not write:
        raise fail("--dry-run only makes sense with --write", EXIT_USAGE)
    if sidecar_style not in ("darktable", "lightroom"):
        raise fail("--sidecar-style must be darktable or lightroom", EXIT_USAGE)

    from phototag.cli.scan import run_scan
    from phototag.library.history import TagHistory
    from phototag.library.index import Index, IndexError_
    from phototag.model.weights import WeightsError

    runlog = RunLog("suggest", verbose=verbose, quiet=quiet)
    try:
        index = Index.for_library(library, index_path)
    except IndexError_ as error:
        raise fail(str(error))
    try:
        run_scan(index, runlog, quiet=runlog.quiet)
        photos = [p for p in index.photos() if p.status == "ok"]
        tag_history = TagHistory.from_photos(photos)
        targets = [p for p in photos if not tag_history.photo_keys(p)] if only_untagged else photos
        if not targets:
            if not runlog.quiet:
                what = "no photos" if not photos else "no untagged photos (--all includes tagged ones)"
                err_console.print(f"No photos to suggest for: the library has {what}.", highlight=False)
                runlog.print_footer()
            raise typer.Exit(runlog.exit_code)

        from phototag.model.features import cached_features, extractor_for_model, will_measure
        from phototag.model.recommend import Recommender

        personal = None
        if model != ModelChoice.general:
            from phototag.model.checkpoint import load_latest_good

            personal = load_latest_good(index, warn=runlog.warn)
            if personal is None and model == ModelChoice.personal:
                raise fail("no personal model for this library; run `phototag finetune` first")
        chosen_backbone = personal.meta.get("backbone", backbone.value) if personal is not None else backbone.value

        if device == Device.auto and not runlog.quiet and will_measure(chosen_backbone):
            err_console.print("Timing PyTorch against onnxruntime once on this machine (a few seconds)…", highlight=False)
        extractor = extractor_for_model(personal.meta if personal else None, backbone.value, device.value, gpu_decode)
        recommender = Recommender(
            tag_history,
            extractor.model,
            personal=personal,
            history_mode=history.value,
            new_tags=new_tags,
            embeddings=embed,
            cache_dir=index.data_dir,
        )
        output = _Output(recommender.model_id, json_out, csv_out)
        suggested = written = 0
        started = time.perf_counter()  # photos/s of the work itself, not of loading the model
        with progress(runlog.quiet, unit="photos") as bar, _writer(index, write, dry_run, sidecar_style, runlog, data_on_stdout=json_out or csv_out) as writer:
            task = bar.add_task(f"Suggesting ({extractor.device})", total=len(targets))
            # In chunks, so memory stays bounded on large libraries and JSON/CSV lines stream out.
            for first in range(0, len(targets), CHUNK):
                chunk = targets[first : first + CHUNK]
                features = cached_features(
                    index, chunk, extractor, runlog, advance=lambda n: bar.advance(task, n), workers=workers or None
                )
                results = recommender.suggest(chunk, features, top_k=top_k, min_score=min_score)
                del features
                _remember(index, results, recommender.model_id)
                output.add(results)
                suggested += len(results)
                if writer is not None:
                    for r in results:
                        if r.suggestions:
                            change = writer.add_tags(r.photo.path, [s.tag for s in r.suggestions], model=recommender.model_id)
                            written += bool(change.changed)
        elapsed = time.perf_counter() - started
        output.finish()

        if not runlog.quiet:
            if not verbose:  # (with --verbose RunLog already printed them as they happened)
                for shown, reason in runlog.skipped.items():
                    err_console.print(f"[yellow]warning:[/] skipped {shown}: {reason}", highlight=False)
            rate = suggested / elapsed if elapsed > 0 else 0.0
            used = f"model {recommender.model_id}, backbone {chosen_backbone} on {extractor.device}"
            if extractor.gpu_decoder is not None:
                used += f", JPEGs decoded on the GPU ({extractor.gpu_decoder.backend})"
            err_console.print(
                f"suggestions for {suggested} of {len(photos)} photo(s) ({rate:,.1f} photos/s); {used}"
                + (f"; {written} photo(s) {'would be ' if dry_run else ''}written" if write else ""),
                highlight=False,
            )
            runlog.print_footer()
    except WeightsError as error:
        raise fail(str(error))
    finally:
        runlog.close()
        index.close()
    raise typer.Exit(runlog.exit_code)


def _remember(index, results, model_id: str) -> None:
    """Keep what was shown (provenance for review/apply); replaces earlier suggestions of the same photos."""
    now = time.time()
    with index.write() as db:
        for result in results:
            db.execute("DELETE FROM suggestions WHERE photo_id = ?", (result.photo.id,))
            db.executemany(
                "INSERT INTO suggestions(photo_id, tag, score, source, model, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(result.photo.id, s.tag, s.score, s.source, model_id, now) for s in result.suggestions],
            )


class _Output:
    """JSON Lines and CSV stream out as results come; the table is printed at the end."""

    def __init__(self, model_id: str, json_out: bool, csv_out: bool):
        self.model_id = model_id
        self.mode = "json" if json_out else "csv" if csv_out else "table"
        self.rows: list = []
        if self.mode == "csv":
            self.csv = csv.writer(sys.stdout, lineterminator="\n")
            self.csv.writerow(["path", "tag", "score", "source"])

    def add(self, results) -> None:
        if self.mode == "json":
            for r in results:
                record = {
                    "path": r.photo.display_path,
                    "abs_path": str(r.photo.path),
                    "present": r.present,
                    "suggestions": [s.as_dict() for s in r.suggestions],
                    "model": self.model_id,
                }
                sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        elif self.mode == "csv":
            for r in results:
                for s in r.suggestions:
                    self.csv.writerow([r.photo.display_path, s.tag, f"{s.score:.4f}", s.source])
        else:
            self.rows.extend(results)
        sys.stdout.flush()

    def finish(self) -> None:
        if self.mode != "table":
            return
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"Suggestions ({self.model_id})", title_justify="left")
        table.add_column("photo", overflow="fold")
        table.add_column("suggested tags (score)", overflow="fold")
        table.add_column("already tagged", style="dim", overflow="fold")
        for r in self.rows:
            text = Text()
            for i, s in enumerate(r.suggestions):
                if i:
                    text.append(", ")
                text.append(s.tag, style="bold" if s.source == "personal" else "")
                text.append(f" {s.score:.2f}", style="cyan")
            table.add_row(r.photo.display_path, text if r.suggestions else Text("-", style="dim"), ", ".join(r.present))
        out_console.print(table)


@contextmanager
def _writer(index, write: bool, dry_run: bool, style: str, runlog: RunLog, data_on_stdout: bool):
    if not write:
        yield None
        return
    import sys

    from phototag.library.sidecar import SidecarWriter

    # --dry-run diffs go to stderr when stdout carries JSON/CSV, so the data stays parseable.
    diff_out = sys.stderr if data_on_stdout else None
    with SidecarWriter(index, "suggest", dry_run=dry_run, style=style, runlog=runlog, diff_out=diff_out) as writer:
        yield writer
