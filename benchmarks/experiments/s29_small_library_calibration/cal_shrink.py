"""Does a weaker pull of the calibration map towards the identity fix small-library ECE? (experiment)"""
import sys
sys.path.insert(0, "/work/main"); sys.path.insert(0, "/work/main/benchmarks")
import bench_library_size as B
import phototag.model.ranking as R
from phototag.app.scan import scan
from phototag.library.history import TagHistory
from phototag.library.index import Index
from phototag.model.evidence import LibraryLooks, general_readout
from phototag.model.features import library_features
from phototag.reporting import CollectingReporter
from pathlib import Path

lib, db = sys.argv[1], sys.argv[2]
with Index.for_library(Path(lib), Path(db)) as index:
    scan(index, CollectingReporter())
    everything = TagHistory([p for p in index.photos() if p.status == "ok"])
    photos = sorted(everything.tagged_photos(), key=lambda p: p.display_path)
    features, extractor = library_features(index, photos, "lite2", "auto", CollectingReporter())
photos = [p for p in photos if p.fingerprint in features]
looks = LibraryLooks(general_readout(extractor.backbone), photos, features)
for shrink in [(30.0, 10.0), (10.0, 3.0), (3.0, 1.0)]:
    R.CALIBRATION_SHRINK = shrink
    out = []
    for size in (10, 30, 100):
        s = B.summarise([B.one_draw(everything, photos, looks, size, seed, 200) for seed in range(5)])
        out.append(f"{size}: ECE {s['ece']:.3f} off {s['offers']} prec {s['precision']} p5 {s['p5']:.3f}")
    print(Path(lib).name, shrink, " | ".join(out), flush=True)
