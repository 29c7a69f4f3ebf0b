"""From cached features to ranked tag suggestions, in the owner's vocabulary where there is one.

Three cases, in order of preference:
  personal  A personal ALTReco model exists for the library (`phototag finetune`):
            its classifier C scores the owner's vocabulary from the photo's features
            and the history vector u_h (`--history owner|folder|none`; none = cold start).
  owner     The library has keywords but no personal model: the packaged general tags
            are mapped onto the owner's tags (case-folded, hierarchy leaf, simple
            plural forms, WordNet synonyms) and mixed with the owner's history prior:
                score = v + w * h * (1 - v)
            v: the best general-tag probability mapped to the owner tag, h: the
            owner tag's history value (count / owner's top count), w = PRIOR_WEIGHT.
            Owner tags that match no general tag that way are matched by meaning: the
            nearest general tag by all-MiniLM-L6-v2 embedding, when the cosine similarity
            is at least SIMILARITY_MIN, with v = its probability x the similarity.
            The source is "general" when v carries most of the score, else "history".
  general   No keywords at all: the packaged general tags, source "general".

A tag the photo already has is never suggested (case-insensitive; a hierarchical
tag counts by its leaf and by each level of its path).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from phototag.library.history import HIERARCHY_SEPARATOR, TagHistory, normalise

PRIOR_WEIGHT = 0.2
# Cosine similarity (all-MiniLM-L6-v2) above which an owner tag with no spelling or synonym match
# takes a general tag's score: kitty~cat 0.84, puppy~dog 0.80, but pets~animal 0.757, seaside~beach 0.73.
# benchmarks/bench_meaning_match.py: matches >= 0.76 are about as precise as spelling ones (0.24 vs 0.27), 0.70-0.76 under half.
SIMILARITY_MIN = 0.76


@dataclass
class Suggestion:
    tag: str  # as it would be written: hierarchical tags as 'A|B|C'
    score: float
    source: str  # personal | general | history

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


def owner_mapping(owner_tags: Sequence[str], general_names: Sequence[str], general_synonyms: Sequence[Sequence[str]]) -> list[list[int]]:
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


def rank(
    scores: np.ndarray, tags: Sequence[str], sources: Sequence[str], blocked: set[str], top_k: int, min_score: float
) -> list[Suggestion]:
    order = np.argsort(-scores, kind="stable")
    chosen: list[Suggestion] = []
    seen: set[str] = set()
    for i in order:
        score = float(scores[i])
        if score < min_score or len(chosen) >= top_k:
            break
        key = normalise(leaf(tags[i]))
        if key in blocked or key in seen:
            continue
        seen.add(key)
        chosen.append(Suggestion(tags[i], score, sources[i]))
    return chosen


def pool_for(personal, features: torch.Tensor) -> torch.Tensor:
    """Average-pool feature maps the way the personal model was trained (meta `feature_pool`; 0 = full map)."""
    from phototag.model.altreco import pool_features

    return pool_features(features, int(personal.meta.get("feature_pool") or 0))


def embedding_mapping(owner_tags: Sequence[str], mapping: list[list[int]], cache=None) -> list[tuple[int, float]]:
    """For owner tags without a lexical match: (general tag, similarity) of the nearest general tag
    by meaning when it is at least SIMILARITY_MIN, else (-1, 0)."""
    from phototag.model import embed
    from phototag.model.weights import load_packaged_safetensors

    result: list[tuple[int, float]] = [(-1, 0.0)] * len(owner_tags)
    todo = [i for i, m in enumerate(mapping) if not m]
    if not todo or not embed.available():
        return result
    general = load_packaged_safetensors("general_embeddings.safetensors")["names"].float()
    owners = embed.embed_cached([leaf(owner_tags[i]) for i in todo], cache)
    similarity, nearest = (owners @ general.t()).max(dim=1)
    for i, sim, j in zip(todo, similarity.tolist(), nearest.tolist()):
        if sim >= SIMILARITY_MIN:
            result[i] = (j, sim)
    return result


class Recommender:
    """Builds suggestions for photos from their cached features."""

    def __init__(
        self,
        history: TagHistory,
        backbone,  # FeatureExtractor.top: EfficientNetLite or BackboneTop (.head, .classifier: the general readout)
        personal=None,  # phototag.model.checkpoint.LoadedModel
        history_mode: str = "owner",
        owner_vocabulary: bool = True,
        new_tags: bool = False,
        embeddings: bool = True,
        cache_dir=None,  # where owner-tag embeddings are remembered (a library's data dir)
    ):
        from phototag.model.altreco import GeneralReadout
        from phototag.model.general import packaged_vocabulary
        from phototag.model.weights import model_id

        self.history = history
        self.history_mode = history_mode
        self.general = packaged_vocabulary()
        self.readout = GeneralReadout(backbone.head, backbone.classifier, self.general.aggregation_matrix()).eval()
        self.personal = personal
        self.heads = personal.build("cpu") if personal is not None else None
        self.owner_tags = history.vocabulary if owner_vocabulary else []
        self.new_tags = new_tags or not self.owner_tags
        self.mapping = owner_mapping(self.owner_tags, self.general.names, self.general.synonyms)
        cache = Path(cache_dir) / "tag-embeddings.safetensors" if cache_dir is not None else None
        self.nearest = embedding_mapping(self.owner_tags, self.mapping, cache) if embeddings and self.owner_tags else []
        # General tags the owner already expresses: an owner tag, or a level of an owner's hierarchy
        # ('animal' when the owner files cats under 'Animals|Cat'). With --new-tags they are not offered.
        levels = sorted({part for path in history.paths.values() for part in path[:-1]})
        covered = self.mapping + [[j] for j, _ in self.nearest if j >= 0]
        covered += owner_mapping(levels, self.general.names, self.general.synonyms)
        self.mapped_general = sorted({i for m in covered for i in m})
        if personal is not None:
            self.mode = "personal"
            self.model_id = f"personal:{personal.id}"
        elif self.owner_tags:
            self.mode = "owner"
            self.model_id = f"{model_id()}+history"
        else:
            self.mode = "general"
            self.model_id = model_id()

    @torch.inference_mode()
    def general_probabilities(self, features: torch.Tensor) -> np.ndarray:
        return self.readout(features).numpy()

    def _history(self, photo, vocabulary: Sequence[str]) -> np.ndarray:
        return self.history.vector_for(photo, vocabulary, self.history_mode)

    def suggest(
        self, photos: Sequence, features: dict[str, torch.Tensor], top_k: int = 5, min_score: float = 0.05, batch: int = 64
    ) -> list[PhotoSuggestions]:
        results = []
        ready = [p for p in photos if p.fingerprint in features]
        for start in range(0, len(ready), batch):
            chunk = ready[start : start + batch]
            stacked = torch.stack([features[p.fingerprint] for p in chunk]).float()
            general = self.general_probabilities(stacked)
            personal = self._personal(chunk, stacked) if self.heads is not None else None
            for row, photo in enumerate(chunk):
                present = self.history.photo_tags(photo)
                blocked = present_keys(self._written(present))
                scores, tags, sources = self._candidates(photo, general[row], None if personal is None else personal[row])
                results.append(PhotoSuggestions(photo, self._written(present), rank(scores, tags, sources, blocked, top_k, min_score)))
        return results

    # ------------------------------------------------------------ internals
    def _written(self, tags: Sequence[str]) -> list[str]:
        return [self.history.written_form(t) for t in tags]

    @torch.inference_mode()
    def _personal(self, chunk, stacked: torch.Tensor) -> np.ndarray:
        vocabulary = self.personal.vocabulary
        history = torch.from_numpy(np.stack([self._history(p, vocabulary) for p in chunk]))
        return torch.sigmoid(self.heads(pool_for(self.personal, stacked), history).personal_logits).numpy()

    def _candidates(self, photo, general: np.ndarray, personal: Optional[np.ndarray]):
        scores: list[np.ndarray] = []
        tags: list[str] = []
        sources: list[str] = []
        if personal is not None:
            scores.append(personal)
            tags += [self.personal.tag_path(t) for t in self.personal.vocabulary]
            sources += ["personal"] * len(personal)
        elif self.owner_tags:
            visual = np.array([max((general[i] for i in m), default=0.0) for m in self.mapping], dtype=np.float32)
            for t, (j, similarity) in enumerate(self.nearest):
                if j >= 0:  # matched by meaning only: the general score, discounted by how close the meaning is
                    visual[t] = general[j] * similarity
            prior = PRIOR_WEIGHT * self._history(photo, self.owner_tags) * (1.0 - visual)
            scores.append(visual + prior)
            tags += [self.history.written_form(t) for t in self.owner_tags]
            sources += ["general" if v >= p else "history" for v, p in zip(visual, prior)]
        if self.new_tags:
            # General tags that mean an owner tag are suggested in the owner's spelling only.
            general = general.astype(np.float32).copy()
            general[self.mapped_general] = 0.0
            scores.append(general)
            tags += list(self.general.names)
            sources += ["general"] * len(general)
        return np.concatenate(scores) if scores else np.zeros(0, np.float32), tags, sources
