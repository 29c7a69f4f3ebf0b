"""Which history-prior parameters make small libraries calibrated? (experiment)"""
import sys, json
sys.path.insert(0, "/work/main"); sys.path.insert(0, "/work/main/benchmarks")
import numpy as np
import bench_library_size as B
from phototag.app.scan import scan
from phototag.library.history import TagHistory
from phototag.library.index import Index
from phototag.model.evidence import LibraryLooks, general_readout
from phototag.model.features import library_features
from phototag.model.signals import REGISTRY, PRIOR
from phototag.reporting import CollectingReporter
from pathlib import Path

lib, db = sys.argv[1], sys.argv[2]
settings = [(10.0, 0.02), (10.0, 0.1), (3.0, 0.1), (3.0, 0.3), (1.0, 0.3)]
with Index.for_library(Path(lib), Path(db)) as index:
    scan(index, CollectingReporter())
    everything = TagHistory([p for p in index.photos() if p.status == "ok"])
    photos = sorted(everything.tagged_photos(), key=lambda p: p.display_path)
    features, extractor = library_features(index, photos, "lite2", "auto", CollectingReporter())
photos = [p for p in photos if p.fingerprint in features]
looks = LibraryLooks(general_readout(extractor.backbone), photos, features)
for pp, rate in settings:
    import dataclasses, types, phototag.model.signals as S
    S.REGISTRY[PRIOR] = dataclasses.replace(S.REGISTRY[PRIOR], parameters=types.MappingProxyType({'prior_photos': pp, 'prior_rate': rate}))
    out = []
    for size in (3, 10, 30):
        draws = [B.one_draw(everything, photos, looks, size, seed, 200) for seed in range(3)]
        s = B.summarise(draws)
        out.append(f"{size}: ECE {s['ece']:.3f} off {s['offers']} prec {s['precision']} p5 {s['p5']:.3f}")
    print(Path(lib).name, pp, rate, " | ".join(out), flush=True)
