"""Extra Lite0 views: the whole frame (aspect kept, shorter side 224, no square crop) and a 320 px centre square,
each with its mirror; pooled head (1280) and logits. Usage: feats_mc.py LIB OUT.npz"""
import json, sys, time
from pathlib import Path
import numpy as np, torch
from PIL import Image
from phototag.model.backbone import load_backbone
from phototag.imaging.decode import load_rgb

torch.set_num_threads(2)
lib, out = Path(sys.argv[1]), sys.argv[2]
man = [json.loads(l) for l in open(lib / "manifest.jsonl")]
model = load_backbone("lite0")
res = {k: [] for k in ("full_head", "full_head_f", "full_logits", "full_logits_f", "sq320_head", "sq320_head_f", "sq320_logits", "sq320_logits_f")}
times = {"full": 0.0, "sq320": 0.0}
def run(img):
    x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)[None]
    o = []
    for v in (x, x.flip(3)):
        h = model.head(model.features(v).float()).mean(dim=(2, 3))
        o.append((h[0].numpy(), model.classifier(h)[0].numpy()))
    return o
with torch.inference_mode():
    for i, m in enumerate(man):
        p = lib / m["path"]
        t0 = time.perf_counter()
        im = load_rgb(p, 224)
        w, h = im.size; s = 224 / min(w, h)
        im = im.resize((max(224, round(w * s)), max(224, round(h * s))), Image.BICUBIC)
        (a, al), (b, bl) = run(im)
        res["full_head"].append(a); res["full_head_f"].append(b); res["full_logits"].append(al); res["full_logits_f"].append(bl)
        t1 = time.perf_counter(); times["full"] += t1 - t0
        (a, al), (b, bl) = run(load_rgb(p, 320, square=True))
        res["sq320_head"].append(a); res["sq320_head_f"].append(b); res["sq320_logits"].append(al); res["sq320_logits_f"].append(bl)
        times["sq320"] += time.perf_counter() - t1
        if i % 50 == 0: print(i, times, flush=True)
np.savez(out, ids=np.array([m["path"] for m in man]), **{k: np.stack(v) for k, v in res.items()})
print("img/s (both views, decode included, batch 1):", {k: len(man) / v for k, v in times.items()})
