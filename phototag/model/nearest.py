"""The gallery photos most like each query, by cosine similarity: exact up to EXACT_UP_TO, faiss above.

    search = NeighbourSearch(gallery_vectors)       # L2-normalised [G, D]; built once per gallery
    rows, sims = search.search(query_vectors, k)    # [Q, k] gallery rows and their similarities, in no order

Exact search (numpy: a matrix product and a partial sort) is the default, and the only search of a gallery of
EXACT_UP_TO photos or fewer. Above that, when the optional faiss-cpu is installed (`pip install phototag[big]`),
faiss searches it: an inverted-file index (IVF, flat vectors, inner product) if, on a sample of the gallery's own
photos, it finds RECALL of their exact CHECK_K nearest while probing at most 1/16 of its lists; else faiss's exact
search (the same neighbours as numpy's, faster). Features like feedme-dev's are too diffuse for an index to find
95% of the neighbours faster than exact search; a library of bursts and events is not. Why these choices:
BENCHMARKS.md "Nearest neighbours over big galleries" (benchmarks/bench_vector_index.py).

The index is deterministic for a gallery in a given order: its training and check samples are seeded, faiss's
k-means has a fixed seed, and an IVF search compares every vector of the lists it probes. What can move it:
faiss's thread count (float sums in k-means in another order, so a tie) and the gallery's order. Without faiss
a big gallery is searched exactly by numpy (slower, same results); `index_note` says so in one line.

Numpy only at import; faiss is imported when a big gallery is first searched.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

# Up to this many gallery photos numpy's exact search beats faiss (its build and check included) on one suggest
# chunk of 2,048 photos (bench_vector_index, 2 cores: 14.2 s against 17.3 s at 50,000; 308 s against 183 s at 1M)
EXACT_UP_TO = 50_000
CHUNK = 512  # queries per matrix product of exact search: [512, G] float32 similarities at a time,
PRODUCT_CELLS = 1 << 25  # and at most this many (128 MiB, and 256 MiB of partial-sort indices, at any size)
TRAIN_PER_LIST = 64  # training vectors per IVF list (faiss asks for 39 or more)
# The IVF index is kept only if, on CHECK_QUERIES of the gallery's own photos, it finds RECALL of their exact
# CHECK_K nearest while scanning at most the last of PROBE_SHARES of its lists (beyond that it is no faster than
# faiss's exact search); else faiss's exact search it is.
PROBE_SHARES = (1 / 32, 1 / 16)
CHECK_QUERIES = 256
CHECK_K = 50  # the kNN signal's k (phototag.model.signals.KNN_K)
RECALL = 0.95
SEED = 0


def index_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def index_note(gallery_size: int) -> Optional[str]:
    """The one line to show when a gallery this big is searched exactly because faiss is missing, else None."""
    if gallery_size <= EXACT_UP_TO or index_available():
        return None
    return (
        f"{gallery_size:,} tagged photos are searched exactly (slow for a gallery this big); "
        "`pip install phototag[big]` adds a neighbour index"
    )


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's `k` most similar rows of `vectors` (all of them, in gallery order, when k >= their count)."""
    g = len(vectors)
    if k >= g:
        return np.broadcast_to(np.arange(g), (len(queries), g)), queries @ vectors.T
    rows = np.empty((len(queries), k), dtype=np.int64)
    sims = np.empty((len(queries), k), dtype=np.float32)
    step = max(1, min(CHUNK, PRODUCT_CELLS // g))
    for start in range(0, len(queries), step):
        part = queries[start : start + step] @ vectors.T
        near = np.argpartition(part, g - k, axis=1)[:, g - k :]
        rows[start : start + step] = near
        sims[start : start + step] = np.take_along_axis(part, near, axis=1)
    return rows, sims


def ivf_lists(size: int) -> int:
    return max(1, int(round(np.sqrt(size))))


def build_ivf(vectors: np.ndarray, lists: Optional[int] = None, seed: int = SEED):
    """A faiss IVF-flat inner-product index over `vectors`, trained on a seeded sample of them."""
    import faiss

    lists = lists or ivf_lists(len(vectors))
    sample = min(len(vectors), TRAIN_PER_LIST * lists)
    train = vectors[np.sort(np.random.default_rng(seed).choice(len(vectors), sample, replace=False))]
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(vectors.shape[1]), vectors.shape[1], lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    index.train(train)
    index.add(vectors)
    return index


def checked_probes(index, vectors: np.ndarray, seed: int = SEED) -> Optional[int]:
    """The fewest IVF lists to probe (of PROBE_SHARES) that find RECALL of the exact CHECK_K nearest for a seeded
    sample of the gallery's own photos; None when even the most does not."""
    rows = np.random.default_rng(seed + 1).choice(len(vectors), min(CHECK_QUERIES, len(vectors)), replace=False)
    k = min(CHECK_K + 1, len(vectors))  # the photo itself is among its nearest
    truth, _ = exact_search(vectors, vectors[rows], k)
    for share in PROBE_SHARES:
        index.nprobe = max(1, int(round(index.nlist * share)))
        _, found = index.search(vectors[rows], k)
        hits = sum(len(np.intersect1d(f, t)) for f, t in zip(found, truth))
        if hits >= RECALL * truth.size:
            return index.nprobe
    return None


def build_index(vectors: np.ndarray):
    """faiss's IVF index when it passes the recall check on the gallery itself, else faiss's exact search."""
    import faiss

    index = build_ivf(vectors)
    if checked_probes(index, vectors) is not None:
        return index
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    return flat


class NeighbourSearch:
    """Cosine-nearest rows of a gallery of L2-normalised vectors: exact, or an IVF index above `exact_up_to`."""

    def __init__(self, vectors: np.ndarray, exact_up_to: Optional[int] = None):
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.exact_up_to = EXACT_UP_TO if exact_up_to is None else exact_up_to
        self._index = None

    @property
    def exact(self) -> bool:
        """Searched by numpy, every gallery photo compared (else faiss, which may be approximate)."""
        return len(self.vectors) <= self.exact_up_to or not index_available()

    def build(self) -> None:
        """Build faiss's index now, where it will be used (else at the first search); nothing for exact search."""
        if self._index is None and not self.exact:
            self._index = build_index(self.vectors)

    def __getstate__(self) -> dict:
        """A copy (pickle: suggest --ray's ranking actors) carries the built index as faiss's own bytes, so every
        copy searches the very index built here (a rebuild elsewhere could differ: module docstring)."""
        state = dict(self.__dict__)
        if self._index is not None:
            import faiss

            state["_index"] = faiss.serialize_index(self._index)
        return state

    def __setstate__(self, state: dict) -> None:
        if state.get("_index") is not None:
            import faiss

            state["_index"] = faiss.deserialize_index(state["_index"])
        self.__dict__.update(state)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows [Q, k'] and cosine similarities [Q, k'] of each query's k' = min(k, G) nearest gallery vectors,
        in no particular order (similarity -inf, row 0: fewer were found)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, len(self.vectors))
        if self.exact or k >= len(self.vectors):
            return exact_search(self.vectors, queries, k)
        self.build()
        sims, rows = self._index.search(queries, k)
        missing = rows < 0
        sims[missing], rows[missing] = -np.inf, 0
        return rows, sims
