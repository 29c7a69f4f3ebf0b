"""Backbone features computed on a Ray cluster: a Parquet dataset (pyarrow) on the shared storage beside the index.

The cluster's workers append their batches' features here (`write_part`) and any later run, on any node,
with or without --ray, reads them back by content fingerprint and feature key (`read`, through
`feature_store.get_many` after the index's own table). The SQLite index stays the catalogue of photos
and keywords on the driver; this directory only ever grows by whole files:

    <index data dir>/features/part-<uuid>.parquet   columns fingerprint, feature_key, dtype, shape, data

Each part is written under a dot-prefixed temporary name in the same folder and renamed into place
(`os.replace`), so a killed writer leaves no part a reader sees (only a `.part-*.tmp` file, ignored).
Every part carries the format version in its file metadata (FORMAT_KEY). A retried task may write a
fingerprint twice: any copy wins (they hold the same features). A part that does not read, is another
program's, or is of a newer format is skipped with one warning line; a row whose bytes do not fit its
shape is left out, so the caller recomputes it.

The actors write one part per batch (16-64 photos): a 10-million-photo archive would be ~150,000 files,
every one opened by every process that reads features. After a run the driver merges them (`compact`,
under the folder's lock, fsio.locked_folder, so two drivers never merge the same parts) into parts of
TARGET_ROWS rows in row groups of ROW_GROUP_ROWS, each written the same atomic way before the parts it
replaces are deleted; a reader that listed a part since deleted finds its rows in the new one (a part gone
between listing and reading is no warning). Damaged parts are never merged nor deleted.

For `suggest --ray` the driver only locates the targets' features (`locate`: part and row group, from its
catalogue) and each rank actor reads them (`read_located`: only those row groups, no catalogue); a part
compacted away in between leaves those fingerprints out of the answer, for the driver to handle.

pyarrow is imported only inside these functions: it comes with the `ray` extra, and a plain install,
which never has such a folder, never imports it.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional

import numpy as np

from phototag.reporting import display_path

FORMAT_KEY = b"phototag.features.format"
FORMAT_VERSION = 1
FOLDER = "features"
PART_PREFIX, PART_SUFFIX = "part-", ".parquet"
COLUMNS = ("fingerprint", "feature_key", "dtype", "shape", "data")
TARGET_ROWS = 65_536  # rows per merged part (compact): a 10-million-photo archive is ~150 files, not ~150,000
ROW_GROUP_ROWS = 16  # rows per row group of a merged part: what a read of one photo's features decodes
MIN_SMALL_PARTS = 64  # small parts a folder holds before the driver compacts it
# A temporary part file this old is a killed writer's (a part is written in seconds, a merged one in minutes):
# compact removes it. A day, so that no writer still at work on a slow shared disk ever loses its file.
STALE_TEMPORARY_SECONDS = 86_400
# Merged parts are not compressed: zstd saves 8-9% on float16 feature maps, and a random read of them is
# 2.8x faster without it (20,000 Lite2 maps, 2,048 read: 2.04 s zstd, 0.73 s none; bench_feature_parquet)
MERGED_COMPRESSION = "none"

Warn = Optional[Callable[[str], None]]


def dataset_dir(index) -> Path:
    """The feature dataset of `index`'s library: `features/` in the folder beside its index file."""
    from phototag.library.index import library_data_dir

    return library_data_dir(index.db_path) / FOLDER


def _schema():
    import pyarrow as pa

    fields = [
        pa.field("fingerprint", pa.string()),
        pa.field("feature_key", pa.string()),
        pa.field("dtype", pa.string()),
        pa.field("shape", pa.list_(pa.int64())),
        pa.field("data", pa.binary()),
    ]
    return pa.schema(fields, metadata={FORMAT_KEY: str(FORMAT_VERSION).encode()})


def write_part(directory: Path | str | bytes, arrays: Mapping[str, np.ndarray], key: str) -> Optional[Path]:
    """Write `arrays` (by fingerprint, under feature `key`) as one new part file of `directory`, atomically;
    its path, or None when there is nothing to write. OSError when the folder cannot be written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not arrays:
        return None
    directory = Path(os.fsdecode(directory))
    directory.mkdir(parents=True, exist_ok=True)
    contiguous = {fp: np.ascontiguousarray(array) for fp, array in arrays.items()}
    columns = [
        list(contiguous),
        [key] * len(contiguous),
        [array.dtype.name for array in contiguous.values()],
        [list(array.shape) for array in contiguous.values()],
        [array.tobytes() for array in contiguous.values()],
    ]
    table = pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, _schema())], schema=_schema())
    name = uuid.uuid4().hex
    temporary, final = directory / f".{PART_PREFIX}{name}.tmp", directory / f"{PART_PREFIX}{name}{PART_SUFFIX}"
    try:
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return final


def read(directory: Path, fingerprints: Iterable[str], key: str, warn: Warn = None) -> dict[str, np.ndarray]:
    """The arrays of `fingerprints` under `key` found in the parts of `directory` (missing, damaged ones absent)."""
    return _catalogue(Path(directory)).read(set(fingerprints), key, warn)


def locate(directory: Path, fingerprints: Iterable[str], key: str, warn: Warn = None) -> dict[str, tuple[str, int]]:
    """Where the features of `fingerprints` under `key` are in the parts of `directory`: (part name, row group) by
    fingerprint, from this process's catalogue (those in no part, or only in damaged ones, absent)."""
    catalogue = _catalogue(Path(directory))
    catalogue._refresh(warn)
    wanted, found = set(fingerprints), {}
    for name, pairs in sorted(catalogue.parts.items()):
        for fingerprint in wanted.difference(found):
            group = pairs.get((fingerprint, key))
            if group is not None:
                found[fingerprint] = (name, group)
    return found


def read_located(directory: Path | str | bytes, locations: Mapping[str, tuple[str, int]], key: str) -> dict:
    """The arrays at `locations` (fingerprint -> (part name, row group), from `locate`), reading only those row
    groups and building no catalogue (what a rank actor does). A part gone since it was located (compacted away),
    or damaged, or a row that does not fit its shape: those fingerprints are simply absent, without a word."""
    import pyarrow.parquet as pq

    directory = Path(os.fsdecode(directory))
    by_part: dict[str, dict[int, set[str]]] = {}
    for fingerprint, (name, group) in locations.items():
        by_part.setdefault(name, {}).setdefault(int(group), set()).add(fingerprint)
    found: dict[str, np.ndarray] = {}
    for name, groups in sorted(by_part.items()):
        try:
            part = pq.ParquetFile(directory / name)
            for group, hits in sorted(groups.items()):
                _pick(part.read_row_group(group, columns=list(COLUMNS)), hits, key, found)
        except Exception:  # noqa: BLE001 - gone (compacted) or damaged: the caller reads them its own way
            continue
    return found


def _part_names(directory: Path) -> list[str]:
    """The part files of `directory`, sorted (temporary `.part-*.tmp` files left out); OSError when unlistable."""
    return sorted(
        entry.name
        for entry in os.scandir(directory)
        if entry.name.startswith(PART_PREFIX) and entry.name.endswith(PART_SUFFIX)
    )


class _Catalogue:
    """Which (fingerprint, key) pairs each part of one folder holds, and in which of its row groups: parts are
    read for their two key columns once per process, then only the row groups holding something asked for;
    new parts are found on each read. A part gone since it was listed (compacted away: its rows are in a
    newer part) is dropped quietly and the folder listed again."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.parts: dict[str, dict[tuple[str, str], int]] = {}  # part name -> (fingerprint, key) -> row group
        self.bad: set[str] = set()  # parts warned about once, skipped from then on

    def read(self, wanted: set[str], key: str, warn: Warn) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        if not wanted:
            return found
        for _ in range(3):  # again when a part vanished meanwhile: the part its rows went to is listed then
            self._refresh(warn)
            vanished = False
            for name, pairs in list(self.parts.items()):
                hits = {fp for fp in wanted if (fp, key) in pairs and fp not in found}
                if hits:
                    rows = self._rows(name, hits, key, warn)
                    vanished = vanished or rows is None
                    found.update(rows or {})
            if not vanished:
                break
        return found

    def _refresh(self, warn: Warn) -> None:
        try:
            names = _part_names(self.directory)
        except OSError:
            return  # gone or unreadable: nothing to read from it
        for name in set(self.parts).difference(names):
            del self.parts[name]  # compacted away
        for name in names:
            if name not in self.parts and name not in self.bad:
                self._add(name, warn)

    def _add(self, name: str, warn: Warn) -> None:
        import pyarrow.parquet as pq

        try:
            part = pq.ParquetFile(self.directory / name)
            self._check_format(part)
            table = part.read(columns=["fingerprint", "feature_key"])
        except FileNotFoundError:
            return  # removed since the listing (compacted away): not damaged, nothing to say
        except Exception as error:  # noqa: BLE001 - any damaged or foreign file: one warning, skipped
            self._skip(name, error, warn)
            return
        sizes = [part.metadata.row_group(i).num_rows for i in range(part.metadata.num_row_groups)]
        groups = np.repeat(np.arange(len(sizes)), sizes).tolist()
        pairs = zip(table.column(0).to_pylist(), table.column(1).to_pylist())
        self.parts[name] = {pair: group for pair, group in zip(pairs, groups)}

    @staticmethod
    def _check_format(part) -> None:
        metadata = part.schema_arrow.metadata or {}
        if FORMAT_KEY not in metadata:
            raise ValueError("not a phototag feature file (no format version)")
        version = int(metadata[FORMAT_KEY])
        if version > FORMAT_VERSION:
            raise ValueError(f"format {version}, newer than this phototag's ({FORMAT_VERSION})")
        missing = [c for c in COLUMNS if c not in part.schema_arrow.names]
        if missing:
            raise ValueError(f"no {', '.join(missing)} column")

    def _rows(self, name: str, hits: set[str], key: str, warn: Warn) -> Optional[dict[str, np.ndarray]]:
        """The arrays of `hits` in part `name`, one row group holding some at a time and only their rows
        turned into arrays; None when the part is gone."""
        import pyarrow.parquet as pq

        found: dict[str, np.ndarray] = {}
        try:
            part = pq.ParquetFile(self.directory / name)
            for group in sorted({self.parts[name][(fp, key)] for fp in hits}):
                _pick(part.read_row_group(group, columns=list(COLUMNS)), hits, key, found)
        except FileNotFoundError:
            self.parts.pop(name, None)  # compacted away since it was listed: quietly
            return None
        except Exception as error:  # noqa: BLE001 - damaged past its key columns
            self.parts.pop(name, None)
            self._skip(name, error, warn)
        return found

    def _skip(self, name: str, error: BaseException, warn: Warn) -> None:
        self.bad.add(name)
        if warn is not None:
            text = " ".join(str(error).split()) or type(error).__name__
            where = display_path(self.directory / name)
            warn(f"feature file {where} cannot be read ({text}); skipped, its features are recomputed")


@dataclass
class Compaction:
    """What `compact` did: parts merged away, parts written in their place, rows written (duplicates once)."""

    merged: int = 0
    written: int = 0
    rows: int = 0
    stale_removed: int = 0  # temporary files of killed writers, older than STALE_TEMPORARY_SECONDS


def compact(
    directory: Path | str | bytes,
    target_rows: int = TARGET_ROWS,
    min_parts: int = MIN_SMALL_PARTS,
    warn: Warn = None,
) -> Optional[Compaction]:
    """Merge the small parts of `directory` (under a quarter of `target_rows` rows) into parts of about
    `target_rows` rows, when there are at least `min_parts` of them; what it did, or None when another process
    is compacting the folder (its lock is held: skipped, never waited for) or it cannot be listed.

    Each merged part is written under a temporary name, made durable and renamed into place before the parts
    it replaces are deleted, so a reader sees every row throughout (both copies for a moment). A row already
    in a part kept, or met before in this merge, is written once. Damaged and foreign parts are left as they
    are (warned about once, as readers do); the format version goes into every merged part. Temporary files of
    killed writers older than STALE_TEMPORARY_SECONDS are removed first, whatever the number of small parts."""
    from phototag.fsio import LockTimeout, locked_folder

    directory = Path(os.fsdecode(directory))
    result = Compaction()
    try:
        with locked_folder(directory, timeout_s=0):
            result.stale_removed = _remove_stale_temporaries(directory)
            catalogue = _catalogue(directory)
            catalogue._refresh(warn)
            small = [n for n, pairs in sorted(catalogue.parts.items()) if len(pairs) < target_rows // 4]
            if len(small) < max(min_parts, 2):
                return result
            kept = set(catalogue.parts).difference(small)
            seen = {pair for name in kept for pair in catalogue.parts[name]}
            for group in _groups(small, catalogue.parts, target_rows):
                _merge(catalogue, group, seen, result, warn)
    except LockTimeout:
        return None
    except FileNotFoundError:
        return None  # no such folder: nothing to compact
    except OSError as error:  # a full disk, a folder turned read-only: the small parts stay, all still read
        if warn is not None:
            warn(f"feature files in {display_path(directory)} not merged ({error.strerror or error}); they still read")
    return result


def _remove_stale_temporaries(directory: Path) -> int:
    """Remove the temporary part files (`.part-*.tmp`) older than STALE_TEMPORARY_SECONDS: what killed writers
    left (no reader ever looks at them); how many were removed."""
    import time

    removed, cutoff = 0, time.time() - STALE_TEMPORARY_SECONDS
    for entry in os.scandir(directory):
        if entry.name.startswith(f".{PART_PREFIX}") and entry.name.endswith(".tmp"):
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                pass  # gone meanwhile
    return removed


def _groups(small: list[str], parts: Mapping[str, Mapping], target_rows: int) -> list[list[str]]:
    """`small` in runs of about `target_rows` rows; a last run of one part alone is left as it is."""
    groups: list[list[str]] = [[]]
    rows = 0
    for name in small:
        if rows >= target_rows:
            groups.append([])
            rows = 0
        groups[-1].append(name)
        rows += len(parts[name])
    return [group for group in groups if len(group) > 1]


def _merge(catalogue: _Catalogue, group: list[str], seen: set, result: Compaction, warn: Warn) -> None:
    """Write the rows of parts `group` not in `seen` as one new part, then delete the parts read whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from phototag.fsio import fsync_dir

    directory, schema = catalogue.directory, _schema()
    name = uuid.uuid4().hex
    temporary, final = directory / f".{PART_PREFIX}{name}.tmp", directory / f"{PART_PREFIX}{name}{PART_SUFFIX}"
    merged, buffered, rows = [], [], 0
    try:
        with pq.ParquetWriter(temporary, schema, compression=MERGED_COMPRESSION, write_statistics=False) as writer:
            for part in group:
                table = _whole(catalogue, part, warn)
                if table is None:
                    continue  # damaged past its key columns (warned, left) or gone
                keep = []
                for pair in zip(*(table.column(c).to_pylist() for c in COLUMNS[:2])):
                    keep.append(pair not in seen)
                    seen.add(pair)
                buffered.append(table.filter(pa.array(keep, type=pa.bool_())).cast(schema))
                merged.append(part)
                rows += _flush(writer, buffered, last=False)
            rows += _flush(writer, buffered, last=True)
        if rows:
            _fsync(temporary)
            os.replace(temporary, final)
        else:
            temporary.unlink()  # every row already in a part kept: the group is only deleted
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(directory)
    for part in merged:
        (directory / part).unlink(missing_ok=True)
        catalogue.parts.pop(part, None)
    result.merged += len(merged)
    result.written += 1 if rows else 0
    result.rows += rows


def _whole(catalogue: _Catalogue, part: str, warn: Warn):
    """Part `part` read whole (a pyarrow Table), or None when it is damaged (warned once) or gone."""
    import pyarrow.parquet as pq

    try:
        return pq.read_table(catalogue.directory / part, columns=list(COLUMNS))
    except FileNotFoundError:
        catalogue.parts.pop(part, None)
        return None
    except Exception as error:  # noqa: BLE001 - damaged past its key columns: left as it is
        catalogue.parts.pop(part, None)
        catalogue._skip(part, error, warn)
        return None


def _flush(writer, buffered: list, last: bool) -> int:
    """Write the `buffered` tables as row groups of ROW_GROUP_ROWS rows, keeping back the rows of a last, short
    one unless `last`; the rows written."""
    import pyarrow as pa

    table = pa.concat_tables(buffered) if buffered else None
    buffered.clear()
    if table is None:
        return 0
    ready = len(table) if last else len(table) - len(table) % ROW_GROUP_ROWS
    if ready < len(table):
        buffered.append(table.slice(ready))
    if ready:
        writer.write_table(table.slice(0, ready), row_group_size=ROW_GROUP_ROWS)
    return ready


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pick(table, hits: set[str], key: str, found: dict[str, np.ndarray]) -> None:
    """Add to `found` the arrays of the rows of `table` (one row group) whose fingerprint is in `hits` under `key`
    (only those rows turned into arrays; a damaged row left out)."""
    for i, (fingerprint, feature_key) in enumerate(zip(*(table[c].to_pylist() for c in COLUMNS[:2]))):
        if fingerprint in hits and feature_key == key and fingerprint not in found:
            array = _array(*(table[c][i].as_py() for c in COLUMNS[2:]))
            if array is not None:
                found[fingerprint] = array


def _array(dtype, shape, data) -> Optional[np.ndarray]:
    """The row's array, or None when its bytes do not fit its dtype and shape (a damaged row: recompute it)."""
    try:
        kind, shape = np.dtype(dtype), [int(n) for n in shape]
        if data is None or len(data) != int(np.prod(shape)) * kind.itemsize:
            return None
        return np.frombuffer(data, dtype=kind).reshape(shape).copy()
    except (TypeError, ValueError):
        return None


_CATALOGUES: dict[Path, _Catalogue] = {}


def _catalogue(directory: Path) -> _Catalogue:
    if directory not in _CATALOGUES:
        _CATALOGUES[directory] = _Catalogue(directory)
    return _CATALOGUES[directory]
