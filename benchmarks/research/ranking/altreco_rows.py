"""The snapshot's own personal model (ALTReco A6 and A1, default TrainOptions) on each seeded split:
fit on train (70 %), early-stop on val (10 %), predict val and test; scores saved for the blend."""
import sys, time
from types import SimpleNamespace
import numpy as np, torch
from common import *
from phototag.train.data import Examples
from phototag.train.finetune import TrainOptions, train_heads, predict
from phototag.model.backbone import load_backbone

torch.set_num_threads(1)
man, tags, owners, groups, F = load_library()
maps = torch.from_numpy(F["maps"])
head = load_backbone("lite0").head
variants = sys.argv[1:] or ["A6", "A1"]

def examples(idx, V, hist):
    Y = label_matrix(tags, idx, V)
    H = np.tile(hist, (len(idx), 1)).astype(np.float32)
    # leave-one-out owner history (one owner): counts minus own tags, / max count
    return Y, H

for seed in SEEDS:
    tr, va, te = split(groups, seed); V = vocabulary(tags, tr)
    Ytr = label_matrix(tags, tr, V); counts = Ytr.sum(0)
    out = {}
    def ex(idx, loo):
        Y = label_matrix(tags, idx, V)
        H = counts[None, :] - (Y if loo else np.zeros_like(Y))
        H = (H / np.maximum(H.max(1, keepdims=True), 1)).astype(np.float32)
        photos = [SimpleNamespace(fingerprint=groups[i], id=i) for i in idx]
        truths = [{V[j] for j in np.flatnonzero(y)} for y in Y]
        return Examples(photos, ["curator"] * len(idx), maps[idx], torch.from_numpy(Y), torch.from_numpy(H), truths)
    fit, val, test = ex(tr, True), ex(va, False), ex(te, False)
    for v in variants:
        t0 = time.time()
        res = train_heads(fit, val, V, TrainOptions(variant=v, seed=0), backbone_head=head)
        uh = v != "A1"
        out[f"{v}_val"] = predict(res.model, val, use_history=uh)
        out[f"{v}_test"] = predict(res.model, test, use_history=uh)
        m = metrics(out[f"{v}_test"], test.labels.numpy())
        print(seed, v, "best_epoch", res.best_epoch, "epochs", res.epochs_run, f"{time.time()-t0:.0f}s", "test P@5 %.3f" % m["P@5"], flush=True)
    np.savez(f"/tmp/research/cache/altreco_seed{seed}.npz", **out)
