"""Would smoothing kNN's votes towards the prior help? knn' = (votes * n + prior) / (n + 1) for n pseudo-counts
(n = inf: today's votes, whose zeros become logit(1e-4) inside the blend). suggest_owner P@5 / tuned-kNN P@5 and
the figures at --min-score 0.3 on feedme-dev, seeds 0-2. The product is not changed by this script.
Usage: OMP_NUM_THREADS=1 python benchmarks/research/ranking/knn_smoothing.py [INDEX]"""
import json, sys
from pathlib import Path

from phototag.app.evaluate import EvalConfig, run_eval
from phototag.library.history import TagHistory
from phototag.library.index import Index
from phototag.model import ranking
from phototag.model.features import FeatureExtractor, cached_features
from phototag.reporting import CollectingReporter

LIB = Path("/work/shared/corpora/feedme-dev")
index_path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/fe.db")
with Index.for_library(LIB, index_path) as index:
    tagged = TagHistory(index.photos()).tagged_photos()
    extractor = FeatureExtractor("lite0", "cpu")
    features = cached_features(index, tagged, extractor, CollectingReporter())
plain = ranking.knn_signal
out = {}
for n in (float("inf"), 50.0, 10.0, 3.0):
    def smoothed(gallery, queries, self_rows, prior, n=n, **kw):
        votes = plain(gallery, queries, self_rows, prior, **kw)
        return votes if n == float("inf") else (votes * n + prior) / (n + 1)
    ranking.knn_signal = smoothed
    figures = []
    for seed in (0, 1, 2):
        result = run_eval(tagged, features, EvalConfig(seed=seed, rows=("knn", "suggest_owner")), CollectingReporter(),
                          backbone_head=extractor.top.head, backbone_top=extractor.top)
        p5 = {k: v.per_photo["P@5"] for k, v in result.results.items()}
        figures.append({"P@5": p5, "ratio": p5["suggest_owner"] / p5["knn"], "at_0.3": result.training["suggest_owner"]["thresholds"][0]["0.3"]})
    out[str(n)] = figures
    print(n, "ratio", round(sum(f["ratio"] for f in figures) / 3, 3), [round(f["P@5"]["suggest_owner"], 3) for f in figures], [f["at_0.3"] for f in figures], flush=True)
Path("benchmarks/research/ranking/knn_smoothing.json").write_text(json.dumps(out, indent=1))
