"""The index's feature cache: backbone feature maps by photo content fingerprint and feature key.

The model decides what a feature key means (backbone, input size, float or int8
graph; see phototag.model.features.cache_key); this module only stores arrays
in the index's `features` table and reads them back. A row whose bytes do not
fit its recorded shape is left out, so the caller recomputes it.
"""

from __future__ import annotations

import json
import time
from typing import Iterable, Mapping

import numpy as np

_CHUNK = 500  # fingerprints per query: well below SQLite's limit on bound parameters


def get_many(index, fingerprints: Iterable[str], key: str) -> dict[str, np.ndarray]:
    """Stored arrays of `fingerprints` under `key` (those missing or damaged are absent)."""
    found: dict[str, np.ndarray] = {}
    unique = sorted(set(fingerprints))
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
