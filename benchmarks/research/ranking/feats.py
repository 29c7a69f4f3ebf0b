"""Cache backbone features for a library: pooled trunk (C), pooled head (1280), ImageNet logits (1000),
for the image and its horizontal mirror; trunk maps (float16) for the original. Usage: feats.py LIB_DIR OUT.npz BACKBONE"""
import json, sys, time
from pathlib import Path
import numpy as np, torch
from phototag.model.backbone import load_backbone, spec
from phototag.imaging.decode import load_rgb

lib, out, bb = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
torch.set_num_threads(2)
man = [json.loads(l) for l in open(lib / "manifest.jsonl")]
paths = [lib / m["path"] for m in man]
s = spec(bb); model = load_backbone(bb)
res = {k: [] for k in ["trunk", "head", "logits", "trunk_f", "head_f", "logits_f", "maps"]}
t_dec = t_net = 0.0
B = 16
with torch.inference_mode():
    for i in range(0, len(paths), B):
        t0 = time.perf_counter()
        imgs = torch.stack([torch.from_numpy(np.asarray(load_rgb(p, s.input_size, square=True), dtype=np.uint8).copy()).permute(2, 0, 1) for p in paths[i:i + B]])
        t1 = time.perf_counter(); t_dec += t1 - t0
        for suf, x in (("", imgs), ("_f", imgs.flip(3))):
            f = model.features(x)
            h = model.head(f.float())
            pooled_h = h.mean(dim=(2, 3))
            res["trunk" + suf].append(f.mean(dim=(2, 3)).numpy())
            res["head" + suf].append(pooled_h.numpy())
            res["logits" + suf].append(model.classifier(pooled_h).numpy())
            if not suf:
                res["maps"].append(f.to(torch.float16).numpy())
        t_net += time.perf_counter() - t1
        print(bb, i + len(imgs), f"dec {t_dec:.1f}s net(x2) {t_net:.1f}s", flush=True)
n = len(paths)
np.savez(out, ids=np.array([m["path"] for m in man]), **{k: np.concatenate(v) for k, v in res.items()},
         timing=np.array([n / t_dec, 2 * n / t_net]))
print("img/s decode", n / t_dec, "backbone+head per view", 2 * n / t_net)
