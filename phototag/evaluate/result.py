"""The rows of `phototag eval` and their figures: what the protocol (phototag.app.evaluate) fills in
and phototag.evaluate.report prints."""

from __future__ import annotations

from dataclasses import dataclass, field

from phototag.metrics import Evaluation

ROWS = (
    ("library", "Library most-frequent (paper's Baseline)"),
    ("owner", "Owner most-frequent"),
    ("knn", "kNN label transfer"),
    ("A1", "Visual only (A1)"),
    ("A2", "Preference, no adversarial (A2)"),
    ("A6", "Full model (A6)"),
    ("A4", "Full model, cold start (A4)"),
)


@dataclass
class EvalResult:
    config: dict
    counts: dict[str, int]
    results: dict[str, Evaluation]  # row key -> evaluation
    training: dict[str, dict] = field(default_factory=dict)  # variant -> best epoch, epochs, seconds
    seconds: float = 0.0

    def to_json(self) -> dict:
        labels = dict(ROWS)
        return {
            "config": self.config,
            "counts": self.counts,
            "rows": [
                {
                    "method": key,
                    "label": labels[key],
                    "per_photo": ev.per_photo,
                    "per_owner": ev.per_owner,
                    "photos": ev.photos,
                    "owners": ev.owners,
                    **({"training": self.training[key]} if key in self.training else {}),
                }
                for key, ev in self.results.items()
            ],
            "seconds": round(self.seconds, 1),
        }
