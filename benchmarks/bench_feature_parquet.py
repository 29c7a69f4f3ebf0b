"""Reading cluster-computed features from the Parquet dataset before and after `feature_parquet.compact`,
against the index's SQLite table.

    .venv/bin/python benchmarks/bench_feature_parquet.py [--counts 10000 100000] [--reads 2048]

For each N: N synthetic float16 feature maps of the real shape (Lite2's trunk at 260 px: 352 x 9 x 9,
57 KB a photo), random normal values (they compress about as little as real ones), written as a Ray
cluster's actors write them: one part file of 64 rows per batch (`write_part`). Then, each in a fresh
process (`python -c`, timed inside it, imports aside):
  before     build the catalogue (every part's key columns) and read --reads random fingerprints
  compact    `compact` on the folder (its default target and row group size)
  after      the same read on the compacted folder
  sqlite     the same fingerprints from an index's `features` table (`feature_store.put_many` in
             batches of 64, then `get_many`), the single-machine cache, for comparison
Every read checks that it found all fingerprints and that the bytes hash the same as the other reads'.
Disk bytes of each form, peak RSS of each child. The files were just written: the page cache is warm
(the machine's memory holds them), so the figures are CPU (decompression, footers), not disk.
Ratios against `before` from the same run. Results: benchmarks/results/bench_feature_parquet.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from phototag.library import feature_parquet, feature_store  # noqa: E402
from phototag.library.index import Index  # noqa: E402

KEY = "lite2@260"
SHAPE = (352, 9, 9)
BATCH = 64  # rows per part, as the cluster's actors write them

READ = """
import hashlib, json, resource, sys, time
from pathlib import Path
from phototag.library import feature_parquet, feature_store
from phototag.library.index import Index
import pyarrow.parquet
kind, where, wanted = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
started = time.perf_counter()
if kind == "sqlite":
    with Index(Path(where), Path(where).parent) as index:
        found = feature_store.get_many(index, wanted, "{key}")
    catalogue_s = 0.0
elif kind == "compact":
    feature_parquet.ROW_GROUP_ROWS = int(sys.argv[4])
    result = feature_parquet.compact(Path(where), min_parts=2)
    found, catalogue_s = {{}}, 0.0
    print(json.dumps({{"merged": result.merged, "written": result.written, "rows": result.rows}}), file=sys.stderr)
else:
    feature_parquet._catalogue(Path(where))._refresh(None)
    catalogue_s = time.perf_counter() - started
    found = feature_parquet.read(Path(where), wanted, "{key}")
seconds = time.perf_counter() - started
digest = hashlib.sha256(b"".join(found[fp].tobytes() for fp in sorted(found))).hexdigest()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": seconds, "catalogue_s": catalogue_s, "found": len(found), "sha256": digest,
                  "peak_rss_mib": rss / 1024}}))
""".format(key=KEY)


def child(kind: str, where: Path, wanted_file: Path, row_group: int = feature_parquet.ROW_GROUP_ROWS) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", READ, kind, str(where), str(wanted_file), str(row_group)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if kind == "compact":
        result.update(json.loads(proc.stderr.strip().splitlines()[-1]))
    return result


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def fingerprints(count: int) -> list[str]:
    return [hashlib.sha256(str(n).encode()).hexdigest() for n in range(count)]


def batches(names: list[str], seed: int):
    rng = np.random.default_rng(seed)
    for first in range(0, len(names), BATCH):
        chunk = names[first : first + BATCH]
        block = rng.standard_normal((len(chunk), *SHAPE), dtype=np.float32).astype(np.float16)
        yield dict(zip(chunk, block))


def one_size(count: int, reads: int, work: Path, row_group: int, sqlite: bool) -> dict:
    names = fingerprints(count)
    wanted_file = work / "wanted.json"
    wanted = sorted(np.random.default_rng(1).choice(names, size=min(reads, count), replace=False).tolist())
    wanted_file.write_text(json.dumps(wanted))
    folder, figures = work / "features", {"photos": count, "reads": len(wanted)}
    started = time.perf_counter()
    for batch in batches(names, seed=len(names)):
        feature_parquet.write_part(folder, batch, KEY)
    figures["write_parts_s"] = time.perf_counter() - started
    figures["before"] = {"parts": len(feature_parquet._part_names(folder)), "bytes": disk_bytes(folder)}
    figures["before"].update(child("parquet", folder, wanted_file))
    figures["compact"] = child("compact", folder, wanted_file, row_group)
    figures["after"] = {"parts": len(feature_parquet._part_names(folder)), "bytes": disk_bytes(folder)}
    figures["after"].update(child("parquet", folder, wanted_file))
    shutil.rmtree(folder)
    forms = ("before", "after", "sqlite") if sqlite else ("before", "after")
    if sqlite:
        sqlite_figures(names, work, wanted_file, figures)
    for form in forms:
        assert figures[form]["found"] == len(wanted), (form, figures[form]["found"])
    assert len({figures[form]["sha256"] for form in forms}) == 1, "reads differ"
    base = figures["before"]["seconds"]
    figures["ratios_vs_before"] = {form: round(figures[form]["seconds"] / base, 4) for form in forms[1:]}
    return figures


def sqlite_figures(names: list[str], work: Path, wanted_file: Path, figures: dict) -> None:
    database = work / "index.sqlite"
    started = time.perf_counter()
    with Index(database, work) as index:
        for batch in batches(names, seed=len(names)):
            feature_store.put_many(index, batch, KEY)
    figures["sqlite_put_s"] = time.perf_counter() - started
    figures["sqlite"] = {"bytes": sum(p.stat().st_size for p in work.glob("index.sqlite*"))}
    figures["sqlite"].update(child("sqlite", database, wanted_file))
    database.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--reads", type=int, default=2048)
    parser.add_argument("--row-group", type=int, default=feature_parquet.ROW_GROUP_ROWS, help="rows per row group")
    parser.add_argument("--no-sqlite", action="store_true", help="leave out the SQLite table")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_feature_parquet.json")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "shape": list(SHAPE),
        "batch_rows": BATCH,
        "target_rows": feature_parquet.TARGET_ROWS,
        "row_group_rows": args.row_group,
        "merged_compression": feature_parquet.MERGED_COMPRESSION,
        "sizes": [],
    }
    for count in args.counts:
        with tempfile.TemporaryDirectory(dir=args.work) as work:
            figures = one_size(count, args.reads, Path(work), args.row_group, not args.no_sqlite)
        results["sizes"].append(figures)
        before = figures["before"]
        print(f"N={count}: {before['parts']} parts of {BATCH} rows, written in {figures['write_parts_s']:.1f} s")
        for form in ("before", "after", "sqlite"):
            if form not in figures:
                continue
            f = figures[form]
            parts = f" {f['parts']:>6} part(s)" if "parts" in f else " " * 15
            print(
                f"  {form:<7}{parts} {f['bytes'] / 2**20:>9.0f} MiB  read {figures['reads']} in {f['seconds']:7.2f} s "
                f"(catalogue {f['catalogue_s']:.2f} s)  peak RSS {f['peak_rss_mib']:.0f} MiB"
            )
        c = figures["compact"]
        print(
            f"  compact: {c['merged']} parts -> {c['written']} in {c['seconds']:.1f} s, RSS {c['peak_rss_mib']:.0f} MiB"
        )
        print(f"  ratios against before: {figures['ratios_vs_before']}")
    out = args.out
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
