"""The index's feature cache: backbone feature maps by photo content fingerprint and feature key.

The model decides what a feature key means (backbone, input size, float or int8
graph; see phototag.model.features.cache_key); this module only stores arrays
in the index's `features` table and reads them back. A row whose bytes do not
fit its recorded shape is left out, so the caller recomputes it.

`get_many` also reads what a Ray cluster's workers computed: the Parquet dataset beside the index
(phototag.library.feature_parquet), for the fingerprints the table lacks, when that folder exists.
pyarrow is imported only then (a plain install, without the `ray` extra, has no such folder).
"""

from __future__ import annotations

import json
import time
from typing import Callable, Iterable, Mapping, Optional

import numpy as np

_CHUNK = 500  # fingerprints per query: well below SQLite's limit on bound parameters


_warned_no_pyarrow = False


def get_many(
    index, fingerprints: Iterable[str], key: str, warn: Optional[Callable[[str], None]] = None
) -> dict[str, np.ndarray]:
    """Stored arrays of `fingerprints` under `key`: the index's table first, then the cluster's Parquet
    dataset for the rest (those missing or damaged are absent; `warn` gets one line per unreadable part)."""
    unique = sorted(set(fingerprints))
    found = _from_table(index, unique, key)
    missing = [fp for fp in unique if fp not in found]
    if missing:
        found.update(_from_dataset(index, missing, key, warn))
    return found


def locate(
    index, fingerprints: Iterable[str], key: str, warn: Optional[Callable[[str], None]] = None
) -> dict[str, tuple[str, int]]:
    """Where in the cluster's Parquet dataset `get_many` would read the features of `fingerprints` under `key`:
    (part name, row group) by fingerprint, for those the index's table lacks (`feature_parquet.read_located`
    reads them anywhere the folder is mounted). Nothing without the folder or pyarrow."""
    from phototag.library import feature_parquet

    unique = sorted(set(fingerprints))
    if not unique or getattr(index, "db_path", None) is None:
        return {}
    directory = feature_parquet.dataset_dir(index)
    if not directory.is_dir():
        return {}
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return {}  # (get_many says so once)
    in_table = _in_table(index, unique, key)
    return feature_parquet.locate(directory, [fp for fp in unique if fp not in in_table], key, warn)


def _in_table(index, unique: list[str], key: str) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        rows = index.connection.execute(
            f"SELECT fingerprint FROM features WHERE backbone = ? AND fingerprint IN ({','.join('?' * len(chunk))})",
            (key, *chunk),
        )
        found.update(fingerprint for (fingerprint,) in rows)
    return found


def _from_dataset(index, fingerprints: list[str], key: str, warn) -> dict[str, np.ndarray]:
    global _warned_no_pyarrow
    from phototag.library import feature_parquet

    if getattr(index, "db_path", None) is None:
        return {}  # a bare connection (benchmarks): no folder beside it
    directory = feature_parquet.dataset_dir(index)
    if not directory.is_dir():
        return {}
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        if warn is not None and not _warned_no_pyarrow:
            _warned_no_pyarrow = True
            warn(
                f"features computed on a Ray cluster in {directory} not read: pyarrow is not installed "
                "(pip install 'phototag[ray]')"
            )
        return {}
    return feature_parquet.read(directory, fingerprints, key, warn)


def _from_table(index, unique: list[str], key: str) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        rows = index.connection.execute(
            f"SELECT fingerprint, dtype, shape, data FROM features WHERE backbone = ? AND fingerprint IN "
            f"({','.join('?' * len(chunk))})",
            (key, *chunk),
        )
        for fingerprint, dtype, shape, data in rows:
            shape = json.loads(shape)
            kind = np.dtype(dtype)
            if len(data) != int(np.prod(shape)) * kind.itemsize:
                continue  # a damaged row: recompute it
            found[fingerprint] = np.frombuffer(data, dtype=kind).reshape(shape).copy()
    return found


def put_many(index, arrays: Mapping[str, np.ndarray], key: str) -> None:
    """Store (or replace) arrays by fingerprint under `key`, in one transaction."""
    now = time.time()
    with index.write() as db:
        db.executemany(
            "INSERT OR REPLACE INTO features(fingerprint, backbone, dtype, shape, data, created_at) VALUES "
            "(?, ?, ?, ?, ?, ?)",
            [
                (
                    fingerprint,
                    key,
                    array.dtype.name,
                    json.dumps(list(array.shape)),
                    np.ascontiguousarray(array).tobytes(),
                    now,
                )
                for fingerprint, array in arrays.items()
            ],
        )
