"""(Ran on 7168b1d plus a KNN_REFERENCE_OFFSET constant in model/ranking.py; the pseudo-neighbour has since been dropped.) How strong should kNN's prior pseudo-neighbour be? suggest_owner P@5 and threshold figures on feedme-dev
for offsets of its similarity from the library's typical best match (-inf: no pseudo-neighbour).
Usage: OMP_NUM_THREADS=1 python benchmarks/research/ranking/knn_reference.py [INDEX] [SEEDS...]"""
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
seeds = [int(s) for s in sys.argv[2:]] or [0, 1, 2]
with Index.for_library(LIB, index_path) as index:
    tagged = TagHistory(index.photos()).tagged_photos()
    extractor = FeatureExtractor("lite0", "cpu")
    features = cached_features(index, tagged, extractor, CollectingReporter())
out = {}
for offset in (float("-inf"), -0.1, -0.05, 0.0):
    ranking.KNN_REFERENCE_OFFSET = offset
    figures = []
    for seed in seeds:
        config = EvalConfig(seed=seed, rows=("knn", "suggest_owner"))
        result = run_eval(tagged, features, config, CollectingReporter(), backbone_head=extractor.top.head, backbone_top=extractor.top)
        p5 = {k: v.per_photo["P@5"] for k, v in result.results.items()}
        figures.append({"P@5": p5, "ratio": p5["suggest_owner"] / p5["knn"], "thresholds": result.training["suggest_owner"]["thresholds"][0]["0.3"]})
    out[str(offset)] = figures
    mean = sum(f["ratio"] for f in figures) / len(figures)
    print(offset, "ratio", round(mean, 3), [round(f["P@5"]["suggest_owner"], 3) for f in figures], [f["thresholds"] for f in figures], flush=True)
Path("benchmarks/research/ranking/knn_reference.json").write_text(json.dumps(out, indent=1))
