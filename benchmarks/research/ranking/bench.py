"""img/s of the backbone (trunk + conv_head, pooled) on this CPU, 2 threads, batch 16, 64 feedme photos decoded first."""
import json, os, time
import numpy as np, torch
from phototag.model.backbone import load_backbone, spec
from phototag.imaging.decode import load_rgb
from common import FEEDME
torch.set_num_threads(2)
paths = [FEEDME / json.loads(l)["path"] for l in list(open(FEEDME / "manifest.jsonl"))[:64]]
for bb in ("lite0", "lite2"):
    s = spec(bb); m = load_backbone(bb)
    t0 = time.perf_counter()
    imgs = torch.stack([torch.from_numpy(np.asarray(load_rgb(p, s.input_size, square=True), dtype=np.uint8).copy()).permute(2, 0, 1) for p in paths])
    dec = time.perf_counter() - t0
    with torch.inference_mode():
        m.head(m.features(imgs[:16]).float())  # warm-up
        t0 = time.perf_counter()
        for i in range(0, 64, 16):
            m.head(m.features(imgs[i:i + 16]).float()).mean(dim=(2, 3))
        net = time.perf_counter() - t0
    print(f"{bb} {s.input_size}px: decode {64 / dec:.0f} img/s, backbone {64 / net:.1f} img/s (x2 cost with flip TTA: {32 / net:.1f} img/s); load {os.getloadavg()[0]:.1f}", flush=True)
