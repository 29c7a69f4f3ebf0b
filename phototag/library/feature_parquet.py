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

pyarrow is imported only inside these functions: it comes with the `ray` extra, and a plain install,
which never has such a folder, never imports it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional

import numpy as np

from phototag.reporting import display_path

FORMAT_KEY = b"phototag.features.format"
FORMAT_VERSION = 1
FOLDER = "features"
PART_PREFIX, PART_SUFFIX = "part-", ".parquet"
COLUMNS = ("fingerprint", "feature_key", "dtype", "shape", "data")

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


class _Catalogue:
    """Which (fingerprint, key) pairs each part of one folder holds: parts are read for their two key columns
    once per process, and whole only when they hold something asked for; new parts are found on each read."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.parts: dict[str, set[tuple[str, str]]] = {}  # part name -> (fingerprint, key) pairs
        self.bad: set[str] = set()  # parts warned about once, skipped from then on

    def read(self, wanted: set[str], key: str, warn: Warn) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        if not wanted:
            return found
        self._refresh(warn)
        for name, pairs in self.parts.items():
            hits = {fp for fp in wanted if (fp, key) in pairs and fp not in found}
            if hits:
                found.update(self._rows(name, hits, key, warn))
        return found

    def _refresh(self, warn: Warn) -> None:
        import pyarrow.parquet as pq

        try:
            names = sorted(
                entry.name
                for entry in os.scandir(self.directory)
                if entry.name.startswith(PART_PREFIX) and entry.name.endswith(PART_SUFFIX)
            )
        except OSError:
            return  # gone or unreadable: nothing to read from it
        for name in names:
            if name in self.parts or name in self.bad:
                continue
            try:
                part = pq.ParquetFile(self.directory / name)
                self._check_format(part)
                table = part.read(columns=["fingerprint", "feature_key"])
            except Exception as error:  # noqa: BLE001 - any damaged or foreign file: one warning, skipped
                self._skip(name, error, warn)
                continue
            self.parts[name] = set(zip(table.column(0).to_pylist(), table.column(1).to_pylist()))

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

    def _rows(self, name: str, hits: set[str], key: str, warn: Warn) -> dict[str, np.ndarray]:
        import pyarrow.parquet as pq

        found: dict[str, np.ndarray] = {}
        try:
            table = pq.read_table(self.directory / name, columns=list(COLUMNS)).to_pydict()
        except Exception as error:  # noqa: BLE001 - damaged past its key columns
            self.parts.pop(name, None)
            self._skip(name, error, warn)
            return found
        for fingerprint, feature_key, dtype, shape, data in zip(*(table[c] for c in COLUMNS)):
            if fingerprint not in hits or feature_key != key or fingerprint in found:
                continue
            array = _array(dtype, shape, data)
            if array is not None:
                found[fingerprint] = array
        return found

    def _skip(self, name: str, error: BaseException, warn: Warn) -> None:
        self.bad.add(name)
        if warn is not None:
            text = " ".join(str(error).split()) or type(error).__name__
            where = display_path(self.directory / name)
            warn(f"feature file {where} cannot be read ({text}); skipped, its features are recomputed")


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
