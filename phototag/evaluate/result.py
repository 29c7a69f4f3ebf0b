"""The rows of `phototag eval` and their figures: what the protocol (phototag.app.evaluate) fills in
and phototag.evaluate.report prints. With several seeded splits (`--repeats`), a row's figures are
means over the splits and `spread` holds their standard deviations."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from phototag.errors import TORCH_EXTRA
from phototag.metrics import Evaluation

ROWS = (
    ("library", "Library most-frequent (paper's Baseline)"),
    ("owner", "Owner most-frequent"),
    ("knn", "kNN signal alone, tuned"),  # rows named after a registered signal: it alone (evaluate.baselines)
    ("propagation", "Propagation signal alone, tuned"),
    ("cooc", "Co-occurrence signal alone, tuned"),
    ("neighbours", "Neighbours signal alone, tuned"),
    ("A1", "Visual only (A1)"),
    ("A2", "Preference, no adversarial (A2)"),
    ("A6", "Full model (A6)"),
    ("A4", "Full model, cold start (A4)"),
    ("suggest_owner", "phototag suggest, no personal model"),
    ("suggest", "phototag suggest (after finetune)"),
)
PROTOCOL_ROWS = {"cooc": "partial", "neighbours": "event"}  # rows that need what only one protocol gives
ABLATED_ROWS = ("suggest_owner", "suggest")  # the rows an ablation (eval --without / --signals) repeats


@dataclass(frozen=True)
class Ablation:
    """The ranking with some signals left out (`eval --without neighbours`) or only some kept (`--signals
    knn,probe`): extra suggest rows, the blend refitted on the signals kept."""

    names: tuple[str, ...]
    only: bool = False  # True: keep only `names`; False: leave them out

    def suffix(self) -> str:
        return f"{'with only' if self.only else 'without'} {','.join(self.names)}"

    def kept(self, signals: tuple[str, ...]) -> list[str]:
        """The signals of `signals` this ablation keeps."""
        return [name for name in signals if (name in self.names) == self.only]

    def key(self, row: str) -> str:
        return f"{row} {self.suffix()}"


def row_label(key: str) -> str:
    """A row's name in tables: its ROWS label, with an ablation's suffix ('phototag suggest (after finetune),
    without neighbours')."""
    base, _, ablation = key.partition(" ")
    label = dict(ROWS).get(base, base)
    return f"{label}, {ablation}" if ablation else label


def row_order(keys) -> list[str]:
    """`keys` in ROWS order, each ablation right after the row it repeats."""
    position = {key: i for i, (key, _) in enumerate(ROWS)}
    return sorted(keys, key=lambda key: (position.get(key.partition(" ")[0], len(ROWS)), " " in key))


AVERAGES = ("per_photo", "per_owner")
EXAMPLE_TOP = 5  # tags of each row kept for an example photo


@dataclass
class Example:
    """One test photo of the first split with what every row suggested (`eval --html` shows a few)."""

    path: Path  # the photo file, to make a thumbnail from
    name: str  # its printable path relative to the library
    truth: list[str]  # the tags to find, most used first
    top: dict[str, list[str]]  # row key -> its EXAMPLE_TOP best tags, best first
    given: Optional[str] = None  # partial protocol: the tag the photo kept as input

    def to_json(self) -> dict:
        return {"path": self.name, "truth": self.truth, "given": self.given, "top": self.top}


@dataclass
class SplitResult:
    """One seeded split: its counts, each row's figures, training figures per variant, the signal rows' tuned
    parameters."""

    seed: int
    counts: dict[str, int]
    results: dict[str, Evaluation]
    training: dict[str, dict] = field(default_factory=dict)
    tuned: dict[str, dict] = field(default_factory=dict)  # signal row -> {signal, parameters, val_P@5}
    examples: list[Example] = field(default_factory=list)  # the first split's only

    def to_json(self) -> dict:
        rows = {key: {average: getattr(ev, average) for average in AVERAGES} for key, ev in self.results.items()}
        return {
            "seed": self.seed,
            "counts": self.counts,
            "tuned": self.tuned,
            "training": self.training,
            "rows": rows,
        }


def _mean_sd(values: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    names = values[0].keys()
    mean = {n: float(np.mean([v[n] for v in values])) for n in names}
    sd = {n: float(np.std([v[n] for v in values], ddof=1)) if len(values) > 1 else 0.0 for n in names}
    return mean, sd


def _mean_training(figures: list[dict]) -> dict:
    out = {}
    for name in figures[0]:
        values = [f[name] for f in figures if f.get(name) is not None]
        if values and not all(isinstance(v, (int, float)) for v in values):
            out[name] = values  # not a figure (the suggest rows' blends): one per split
            continue
        out[name] = round(float(np.mean(values)), 3) if values else None
    return out


@dataclass
class EvalResult:
    config: dict
    counts: dict[str, int]  # of the first split
    results: dict[str, Evaluation]  # row key -> figures (means over the splits)
    training: dict[str, dict] = field(default_factory=dict)  # variant -> best epoch, epochs, seconds (means)
    seconds: float = 0.0
    spread: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # row -> average -> metric -> sd
    splits: list[SplitResult] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)  # a few test photos of the first split
    skipped: tuple[str, ...] = ()  # rows asked for that were left out: they train a model, and PyTorch is missing

    @classmethod
    def combine(
        cls, config: dict, splits: list[SplitResult], seconds: float, skipped: tuple[str, ...] = ()
    ) -> "EvalResult":
        """Means and standard deviations over `splits` (each row scored on every split)."""
        results, spread, training = {}, {}, {}
        for key in row_order(splits[0].results):
            evaluations = [split.results[key] for split in splits]
            means = {}
            for average in AVERAGES:
                means[average], spread.setdefault(key, {})[average] = _mean_sd(
                    [getattr(e, average) for e in evaluations]
                )
            results[key] = Evaluation(
                means["per_photo"], means["per_owner"], evaluations[0].photos, evaluations[0].owners
            )
            if key in splits[0].training:
                training[key] = _mean_training([split.training[key] for split in splits])
        return cls(config, splits[0].counts, results, training, seconds, spread, splits, splits[0].examples, skipped)

    def reliability(self, key: str) -> list[dict]:
        """The suggest row's reliability bins over every split (counts added, means weighted by them); [] for
        rows without calibration figures."""
        tables = [split.training.get(key, {}).get("reliability") for split in self.splits]
        tables = [t for t in tables if t]
        if not tables:
            return []
        pooled = []
        for bins in zip(*tables):
            count = sum(b["count"] for b in bins)

            def mean(name: str, bins=bins, count=count) -> Optional[float]:
                return sum(b[name] * b["count"] for b in bins if b["count"]) / count if count else None

            edges = {"low": bins[0]["low"], "high": bins[0]["high"]}
            pooled.append({**edges, "count": count, "score": mean("score"), "right": mean("right")})
        return pooled

    def sd(self, key: str, average: str, name: str) -> Optional[float]:
        """The standard deviation over the splits of a row's figure; None with a single split."""
        if len(self.splits) < 2:
            return None
        return self.spread[key][average][name]

    def to_json(self) -> dict:
        rows = []
        for key, ev in self.results.items():
            row = {"method": key, "label": row_label(key), "per_photo": ev.per_photo, "per_owner": ev.per_owner}
            if key in self.spread:
                row["sd"] = self.spread[key]
            row |= {"photos": ev.photos, "owners": ev.owners}
            if key in self.training:
                row["training"] = self.training[key]
            if any(key in split.tuned for split in self.splits):
                row["tuned"] = [split.tuned.get(key) for split in self.splits]
            rows.append(row)
        out = {
            "config": self.config,
            "counts": self.counts,
            "rows": rows,
            "splits": [split.to_json() for split in self.splits],
            "examples": [example.to_json() for example in self.examples],
            "seconds": round(self.seconds, 1),
        }
        if self.skipped:  # only without PyTorch: a run with it gives the same JSON as before this key existed
            out["skipped"] = {"rows": list(self.skipped), "needs": "PyTorch", "install": TORCH_EXTRA}
        return out
