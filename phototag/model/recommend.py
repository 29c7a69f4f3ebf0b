"""From cached features to ranked tag suggestions, in the owner's vocabulary where there is one.

Three cases:
  personal  A personal model exists for the library (`phototag finetune`): the blend of
            phototag.model.ranking over every signal (personal ALTReco model, linear probe,
            kNN, general tags mapped to the owner's words, history, neighbours, co-occurrence),
            with the weights finetune fitted on its validation photos.
  owner     The library has keywords but no personal model: the same blend without the
            personal model and probe, its weights fitted here on the tagged photos, each
            left out in turn (phototag.model.ranking.fit_blend).
  general   No keywords at all: the packaged general tags, source "general".

General tags map onto owner tags by spelling (case-folded, hierarchy leaf, simple plural
forms, WordNet synonyms) or, failing that, by meaning: the nearest general tag by
all-MiniLM-L6-v2 embedding when the cosine similarity is at least SIMILARITY_MIN. A tag the
owner used once is never matched by meaning (one use is no habit to generalise from).

Scores are the blend's probabilities; `min_score` cuts off suggestions without convincing
evidence. Spelling variants of one owner tag (plural, -ing) are one suggestion: the variant
with the best score. The `source` of a suggestion names each signal that raised it, strongest
first ("knn+neighbours"). A tag the photo already has is never suggested (case-insensitive;
a hierarchical tag counts by its leaf and by each level of its path).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from phototag.library.history import HIERARCHY_SEPARATOR, TagHistory, normalise
from phototag.model.evidence import (
    Looks,
    build_gallery,
    build_queries,
    candidate_vocabulary,
    general_readout,
    held_out_queries,
    spread,
    tag_rows,
)
from phototag.model.probe import Probe
from phototag.model.ranking import MAX_FIT_PHOTOS, Blend, Gallery, Ranker, load_blend
from phototag.model.signals import REGISTRY, SIMILARITY_MIN, available  # noqa: F401 (SIMILARITY_MIN: benchmarks)

# SIMILARITY_MIN (phototag.model.signals, a parameter of the general signal): the cosine similarity
# (all-MiniLM-L6-v2) above which an owner tag with no spelling or synonym match takes a general tag's score:
# kitty~cat 0.84, puppy~dog 0.80, but pets~animal 0.757, seaside~beach 0.73. benchmarks/bench_meaning_match.py:
# matches >= 0.76 are about as precise as spelling ones (0.24 vs 0.27), 0.70-0.76 under half.

# Photos ranked together by one call of the blend. Where the propagation signal is weighed (not by default), its
# graph holds that call's photos only (phototag.model.signals.propagation_signal), so a photo's scores depend on
# which photos share its batch: whoever splits the ranking elsewhere (suggest --ray: phototag.app.cluster) cuts
# the same batches.
BATCH = 64


@dataclass
class Suggestion:
    tag: str  # as it would be written: hierarchical tags as 'A|B|C'
    score: float
    source: str  # the signals that raised it, strongest first, joined by "+" (see phototag.model.signals.REGISTRY)

    def as_dict(self) -> dict:
        return {"tag": self.tag, "score": round(self.score, 4), "source": self.source}


@dataclass
class PhotoSuggestions:
    photo: object  # PhotoRow
    present: list[str]
    suggestions: list[Suggestion] = field(default_factory=list)


def _variants(key: str) -> set[str]:
    """A tag key and its simple English singular/plural forms (dogs ~ dog, beaches ~ beach, lilies ~ lily)."""
    forms = {key, key + "s", key + "es"}
    if key.endswith("ies"):
        forms.add(key[:-3] + "y")
    if key.endswith("y"):
        forms.add(key[:-1] + "ies")
    if key.endswith("es"):
        forms.add(key[:-2])
    if key.endswith("s"):
        forms.add(key[:-1])
    return forms


def leaf(tag: str) -> str:
    return tag.split(HIERARCHY_SEPARATOR)[-1]


def present_keys(tags: Sequence[str]) -> set[str]:
    """Keys a photo's tags block: each tag's leaf and every level of its hierarchy path."""
    keys: set[str] = set()
    for tag in tags:
        keys.update(normalise(part) for part in tag.split(HIERARCHY_SEPARATOR) if normalise(part))
    return keys


def owner_mapping(
    owner_tags: Sequence[str], general_names: Sequence[str], general_synonyms: Sequence[Sequence[str]]
) -> list[list[int]]:
    """For each owner tag, the general tags that mean it: same leaf (case-folded), a plural/singular
    form of it, or a WordNet synonym of the general tag."""
    by_key: dict[str, list[int]] = {}
    for index, (name, synonyms) in enumerate(zip(general_names, general_synonyms)):
        for spelling in (name, *synonyms):
            by_key.setdefault(normalise(spelling), []).append(index)
    mapping = []
    for tag in owner_tags:
        matched: set[int] = set()
        for form in _variants(normalise(leaf(tag))):
            matched.update(by_key.get(form, ()))
        mapping.append(sorted(matched))
    return mapping


def _forms(key: str) -> set[str]:
    """A tag key and the stems it may be a spelling variant of: cakes ~ cake, lilies ~ lily, eating ~ eat."""
    forms = {key}
    for suffix, replacement in (("ies", "y"), ("es", ""), ("s", ""), ("ing", ""), ("ing", "e")):
        if key.endswith(suffix) and len(key) - len(suffix) >= 3:
            forms.add(key[: -len(suffix)] + replacement)
    return forms


class VariantGroups:
    """Spelling variants of one tag among the owner's keys share a group (tomato ~ tomatoes, eat ~ eating)."""

    def __init__(self, keys: Sequence[str]):
        self._parent: dict[str, str] = {}
        by_form: dict[str, str] = {}
        for key in keys:
            self._parent.setdefault(key, key)
            for form in _forms(key):
                if form in by_form:
                    self._parent[self._root(key)] = self._root(by_form[form])
                else:
                    by_form[form] = key
        self._by_form = by_form

    def _root(self, key: str) -> str:
        while self._parent[key] != key:
            self._parent[key] = self._parent[self._parent[key]]
            key = self._parent[key]
        return key

    def group(self, key: str) -> str:
        if key in self._parent:
            return self._root(key)
        for form in _forms(key):
            if form in self._by_form:
                return self._root(self._by_form[form])
        return key


def rank(
    scores: np.ndarray,
    tags: Sequence[str],
    sources: Sequence[str] | Callable[[int], str],
    blocked: set[str],
    top_k: int,
    min_score: float,
    groups: Optional[VariantGroups] = None,
) -> list[Suggestion]:
    """The best `top_k` tags scoring at least `min_score`, one per spelling-variant group, none blocked."""
    order = np.argsort(-scores, kind="stable")
    groups = groups or VariantGroups([normalise(leaf(t)) for t in tags])
    blocked_groups = {groups.group(key) for key in blocked}
    chosen: list[Suggestion] = []
    seen: set[str] = set()
    for i in order:
        score = float(scores[i])
        if score < min_score or len(chosen) >= top_k:
            break
        key = normalise(leaf(tags[i]))
        group = groups.group(key)
        if key in blocked or group in blocked_groups or group in seen:
            continue
        seen.add(group)
        chosen.append(Suggestion(tags[i], score, sources(i) if callable(sources) else sources[i]))
    return chosen


def pool_for(personal, features):
    """Average-pool feature maps the way the personal model was trained (meta `feature_pool`; 0 = full map)."""
    from phototag.model.altreco import pool_features

    return pool_features(features, int(personal.meta.get("feature_pool") or 0))


def embedding_mapping(owner_tags: Sequence[str], mapping: list[list[int]], cache=None) -> list[tuple[int, float]]:
    """For owner tags without a lexical match: (general tag, similarity) of the nearest general tag
    by meaning when it is at least SIMILARITY_MIN, else (-1, 0)."""
    from phototag.model.weights import load_packaged_safetensors

    result: list[tuple[int, float]] = [(-1, 0.0)] * len(owner_tags)
    todo = [i for i, m in enumerate(mapping) if not m]
    embed = embedder() if todo else None
    if embed is None:
        return result
    general = load_packaged_safetensors("general_embeddings.safetensors")["names"].float()
    owners = embed.embed_cached([leaf(owner_tags[i]) for i in todo], cache)
    similarity, nearest = (owners @ general.t()).max(dim=1)
    for i, sim, j in zip(todo, similarity.tolist(), nearest.tolist()):
        if sim >= REGISTRY["general"].parameters["similarity_min"]:
            result[i] = (j, sim)
    return result


def embedder():
    """phototag.model.embed when it can run here (the `embed` extra, which runs MiniLM in PyTorch), else None."""
    try:
        from phototag.model import embed
    except ImportError:  # no PyTorch
        return None
    return embed if embed.available() else None


class GeneralMapping:
    """The packaged general tags as evidence for the owner's tags (the `general` signal)."""

    def __init__(self, general, history: TagHistory, vocabulary: Sequence[str], embeddings: bool = True, cache=None):
        self._embeddings = embeddings
        self.lexical = owner_mapping(vocabulary, general.names, general.synonyms)
        nearest = (
            embedding_mapping(vocabulary, self.lexical, cache)
            if embeddings and vocabulary
            else [(-1, 0.0)] * len(vocabulary)
        )
        # Matching by meaning alone is not trusted for a tag used once.
        self.nearest = [
            (j, s) if history.counts.get(normalise(tag), 0) >= 2 else (-1, 0.0)
            for tag, (j, s) in zip(vocabulary, nearest)
        ]
        levels = sorted({part for path in history.paths.values() for part in path[:-1]})
        covered = (
            self.lexical + [[j] for j, _ in nearest if j >= 0] + owner_mapping(levels, general.names, general.synonyms)
        )
        # General tags the owner already expresses (an owner tag, or a level of an owner's hierarchy such as
        # 'animal' for 'Animals|Cat'): with --new-tags they are not offered again under the general name.
        self.mapped_general = sorted({i for m in covered for i in m})

    @functools.cached_property
    def by_meaning(self) -> bool:
        """Whether owner tags are matched by meaning too (saved with a blend; asked only then: it loads the
        embedder's tokenizers)."""
        return bool(self._embeddings and embedder() is not None)

    def owner_scores(self, general: np.ndarray) -> np.ndarray:
        """[N, V] general evidence per owner tag: the best mapped general probability (times the similarity
        when matched by meaning); NaN (no opinion) for owner tags no general tag means."""
        out = np.full((len(general), len(self.lexical)), np.nan)
        for t, matched in enumerate(self.lexical):
            if matched:
                out[:, t] = general[:, matched].max(axis=1)
            elif self.nearest[t][0] >= 0:
                j, similarity = self.nearest[t]
                out[:, t] = general[:, j] * similarity
        return out


class Recommender:
    """Builds suggestions for photos from their cached features.

    recommender = Recommender(history, extractor.backbone, personal=...)
    recommender.add_gallery(tagged_photos, their_features)   # the owner's evidence (owner/personal modes)
    results = recommender.suggest(photos, features)
    """

    def __init__(
        self,
        history: TagHistory,
        backbone: str,  # the backbone's name (FeatureExtractor.backbone): its top runs the general readout, in numpy
        personal=None,  # phototag.model.checkpoint.LoadedModel
        history_mode: str = "owner",
        new_tags: bool = False,
        embeddings: bool = True,
        cache_dir=None,  # where owner-tag embeddings are remembered (a library's data dir)
        warn: Optional[Callable[[str], None]] = None,  # one line for the person (a saved blend that no longer fits)
    ):
        from phototag.model.weights import model_id

        self.history = history
        self.history_mode = history_mode
        self.backbone = backbone
        self.readout = general_readout(backbone)
        self.general = self.readout.vocabulary
        self.personal = personal
        self.heads = personal.build("cpu") if personal is not None else None
        self.vocabulary = candidate_vocabulary(history)
        self.written = [history.written_form(t) for t in self.vocabulary]
        self.groups = VariantGroups([normalise(t) for t in self.vocabulary])
        self._all_groups: Optional[VariantGroups] = None  # with --new-tags: the owner's and the general tags
        self.new_tags = new_tags or not self.vocabulary
        cache = Path(cache_dir) / "tag-embeddings.safetensors" if cache_dir is not None else None
        self.mapping = GeneralMapping(self.general, history, self.vocabulary, embeddings, cache)
        self.probe = Probe.from_tensors(personal.tensors) if personal is not None else None
        saved = personal.meta.get("blend") if personal is not None else None
        self.blend: Optional[Blend] = None
        if saved:  # checked against the signals of this version: a changed one is said, never used stale
            self.blend, problem = load_blend(saved, self._available(), self.settings())
            if problem:
                (warn or (lambda message: None))(problem)
        self._gallery_photos: list = []
        self._gallery_trunks: list[np.ndarray] = []  # pooled trunk features only: a large library's gallery stays small
        self._gallery: Optional[Gallery] = None
        # The tagged photos a blend without a personal model is fitted on (their general tags are kept).
        self._fit_ids = {p.id for p in fit_sample(history.tagged_photos())}
        self._fit_general: dict[int, np.ndarray] = {}
        if personal is not None:
            self.mode, self.model_id = "personal", f"personal:{personal.id}"
        elif self.vocabulary:
            self.mode, self.model_id = "owner", f"{model_id()}+history"
        else:
            self.mode, self.model_id = "general", model_id()

    def __getstate__(self) -> dict:
        """A copy (pickle: suggest --ray sends one to each of the cluster's ranking actors) leaves out what it
        rebuilds the same where it lands: the general readout (the backbone's packaged top) and the personal
        model's PyTorch heads (from the model's own tensors, which travel)."""
        state = dict(self.__dict__)
        state["readout"] = state["heads"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.readout = general_readout(self.backbone)
        self.heads = self.personal.build("cpu") if self.personal is not None else None

    def add_gallery(self, photos: Sequence, features: dict[str, np.ndarray]) -> None:
        """Add tagged photos (with their cached feature maps) to the evidence the ranking draws on."""
        photos = [p for p in photos if p.fingerprint in features and self.history.photo_keys(p)]
        if not photos or self.mode == "general":
            return
        looks = Looks.of(self.readout, [features[p.fingerprint] for p in photos])
        self._gallery_photos += photos
        self._gallery_trunks.append(looks.trunk)
        for photo, general in zip(photos, looks.general):
            if photo.id in self._fit_ids:
                self._fit_general[photo.id] = general
        self._gallery = None

    def suggest(
        self,
        photos: Sequence,
        features: dict[str, np.ndarray],
        top_k: int = 5,
        min_score: float = 0.05,
        batch: int = BATCH,
    ) -> list[PhotoSuggestions]:
        results = []
        ready = [p for p in photos if p.fingerprint in features]
        if self.mode != "general":
            self._prepare()
        for start in range(0, len(ready), batch):
            chunk = ready[start : start + batch]
            looks = Looks.of(self.readout, [features[p.fingerprint] for p in chunk])
            if self.mode == "general":
                results += self._general_only(chunk, looks, top_k, min_score)
            else:
                results += self._blended(chunk, features, looks, top_k, min_score)
        return results

    def prepare(self) -> None:
        """Build now what `suggest` builds at its first call: the gallery, the blend fitted on it (without a saved
        one) and a big gallery's neighbour index, so a copy of this recommender (pickled: suggest --ray sends one
        to each of the cluster's ranking actors) ranks at once and exactly as this one would."""
        if self.mode != "general":
            self._prepare()
            self._gallery.neighbour_search().build()

    # ------------------------------------------------------------ internals
    def _prepare(self) -> None:
        """The gallery of the owner's tagged photos, and (without a fitted blend) the blend fitted on it."""
        if self._gallery is not None:
            return
        trunk = np.concatenate(self._gallery_trunks) if self._gallery_trunks else np.zeros((0, 1), np.float32)
        self._gallery = build_gallery(self._gallery_photos, self.history, self.vocabulary, trunk)
        if self.blend is None and self.personal is not None:  # a model saved before blends: the defaults
            self.blend = Blend.defaults(self._available())
        if self.blend is None:
            sample = [p for p in self._gallery_photos if p.id in self._fit_general]
            general = (
                np.stack([self._fit_general[p.id] for p in sample]) if sample else np.zeros((0, len(self.general)))
            )
            self.blend = fit_owner_blend(self._gallery, sample, self.mapping.owner_scores(general), self.history)

    def settings(self) -> dict:
        """How this run computes the signals beyond their parameters (a saved blend records them)."""
        return {"general_by_meaning": self.mapping.by_meaning}

    def _available(self) -> list[str]:
        """The signals this recommender ranks with (a personal model adds its own and, when saved, the probe)."""
        return available(["general"] + ["personal"] * (self.heads is not None) + ["probe"] * (self.probe is not None))

    def _outputs(self, chunk, features, looks: Looks) -> dict[str, np.ndarray]:
        outputs = {"general": self.mapping.owner_scores(looks.general)}
        if self.heads is not None:
            outputs["personal"] = spread(self._personal(chunk, features), self.personal.vocabulary, self.vocabulary)
        if self.probe is not None:
            outputs["probe"] = spread(self.probe(looks.head), self.personal.vocabulary, self.vocabulary)
        return outputs

    def _blended(self, chunk, features, looks: Looks, top_k: int, min_score: float) -> list[PhotoSuggestions]:
        present = tag_rows(chunk, self.history, self.vocabulary)
        queries = build_queries(chunk, present, looks.trunk, self._outputs(chunk, features, looks), self.history)
        scores, sources = Ranker(self.blend, cold_start=self.history_mode == "none").score(self._gallery, queries)
        tags = self.written
        if self.new_tags:  # general tags the owner never used, scored as the blend scores an unused tag
            extra = self.blend.score_unused(looks.general.astype(np.float64), len(self._gallery.labels), present)
            extra[:, self.mapping.mapped_general] = 0.0
            scores, tags = np.hstack([scores, extra]), tags + list(self.general.names)
        groups = self._groups(tags)
        results = []
        for row, photo in enumerate(chunk):
            written = self._written(self.history.photo_tags(photo))

            def source(tag: int, row: int = row) -> str:
                return "general" if tag >= len(self.written) else sources(row, tag)

            chosen = rank(scores[row], tags, source, present_keys(written), top_k, min_score, groups)
            results.append(PhotoSuggestions(photo, written, chosen))
        return results

    def _groups(self, tags: Sequence[str]) -> VariantGroups:
        if len(tags) == len(self.written):
            return self.groups
        if self._all_groups is None:
            self._all_groups = VariantGroups([normalise(leaf(t)) for t in tags])
        return self._all_groups

    def _general_only(self, chunk, looks: Looks, top_k: int, min_score: float) -> list[PhotoSuggestions]:
        names = list(self.general.names)
        results = []
        for row, photo in enumerate(chunk):
            written = self._written(self.history.photo_tags(photo))
            chosen = rank(looks.general[row], names, ["general"] * len(names), present_keys(written), top_k, min_score)
            results.append(PhotoSuggestions(photo, written, chosen))
        return results

    def _written(self, tags: Sequence[str]) -> list[str]:
        return [self.history.written_form(t) for t in tags]

    def _personal(self, chunk, features) -> np.ndarray:
        import torch  # a personal model is only loaded where PyTorch is (phototag.app.suggest)

        vocabulary = self.personal.vocabulary
        history = torch.from_numpy(np.stack([self.history.vector_for(p, vocabulary, self.history_mode) for p in chunk]))
        stacked = torch.from_numpy(np.stack([features[p.fingerprint] for p in chunk])).float()
        with torch.inference_mode():
            logits = self.heads(pool_for(self.personal, stacked), history).personal_logits
            return torch.sigmoid(logits).double().numpy()


def fit_sample(tagged: Sequence, seed: int = 0) -> list:
    """The tagged photos (at most MAX_FIT_PHOTOS, seeded) that a blend without a personal model is fitted on."""
    ordered = sorted(tagged, key=lambda p: p.id)
    return [ordered[i] for i in sorted(np.random.default_rng(seed).permutation(len(ordered))[:MAX_FIT_PHOTOS])]


def keep_best_variant(scores: np.ndarray, vocabulary: Sequence[str]) -> np.ndarray:
    """Scores [N, V] where only the best-scoring spelling variant of each group keeps its score (as `rank` shows)."""
    groups = VariantGroups([normalise(t) for t in vocabulary])
    members: dict[str, list[int]] = {}
    for i, tag in enumerate(vocabulary):
        members.setdefault(groups.group(normalise(tag)), []).append(i)
    out = np.array(scores, dtype=np.float64, copy=True)
    for group in members.values():
        if len(group) > 1:
            block = out[:, group]
            best = block.argmax(axis=1)
            losers = np.ones_like(block, dtype=bool)
            losers[np.arange(len(block)), best] = False
            block[losers] = -np.inf
            out[:, group] = block
    return out


def fit_owner_blend(
    gallery: Gallery,
    photos: Sequence,
    general: np.ndarray,
    history: TagHistory,
    seed: int = 0,
    only: Optional[Sequence[str]] = None,
) -> Blend:
    """Without a personal model: fit the blend on tagged gallery photos, each left out of its own evidence,
    once as untagged photos and once with one of their tags kept (partial). `general`: their general signal;
    `only`: the signals weighed (all by default; eval's ablations)."""
    if not photos:
        return Blend.defaults([name for name in available(["general"], only) if only is None or name in only])
    rows = [gallery.row_of(p.id) for p in photos]
    queries, truth = held_out_queries(
        photos, gallery.labels[rows], gallery.embeddings[rows], {"general": general}, history, seed
    )
    return Ranker(only=only).fit(gallery, queries, truth)
