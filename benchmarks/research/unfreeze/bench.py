#!/usr/bin/env python3
"""Does training the last MBConv block beat today's frozen trunk? (issue #11 item 4, research record)

On feedme-dev each photo is decoded once (phototag.imaging.pipeline, as
phototag.model.features does) and the Lite0 trunk is run once, keeping two maps:

    block input   [192, 7, 7]  input of blocks[-1] (stage 7: one MBConv 192 -> 1152 -> 320, 605k weights)
    trunk output  [320, 7, 7]  what phototag caches today

Then, on the seeded splits of `phototag eval` (the same `_split` code: 20 % test by
photo, 15 % of the rest for validation/early stopping, vocabulary min count 3,
owner from library, A6 with the default TrainOptions, train seed = split seed),
the A6 heads are trained through `phototag.train.finetune.train_heads` in two arms:

    frozen    today: heads (with the conv_head shared stage) on the cached trunk output
    unfrozen  blocks[-1] trainable too (Adam lr BLOCK_LR, no weight decay, BatchNorm in
              eval mode), run forward from the cached block input in every step; the heads
              are built and seeded exactly as in `frozen`
    control   `unfrozen` with lr 0 for the block: the frozen model on the unfrozen arm's input
              path (block output in float32 instead of the cached float16 trunk output); it
              differs from `frozen` only by rounding, so its gap to `frozen` is the noise floor

Writes benchmarks/research/unfreeze/results.json; results.md is written by hand from it.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/research/unfreeze/bench.py
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from phototag.app import evaluate as app_evaluate  # noqa: E402
from phototag.app.scan import scan  # noqa: E402
from phototag.imaging.pipeline import batches  # noqa: E402
from phototag.library.history import TagHistory  # noqa: E402
from phototag.library.index import Index  # noqa: E402
from phototag.metrics import KS, evaluate_scores  # noqa: E402
from phototag.model.altreco import pool_features  # noqa: E402
from phototag.model.backbone import load_backbone  # noqa: E402
from phototag.reporting import CollectingReporter  # noqa: E402
from phototag.train import finetune  # noqa: E402
from phototag.train.finetune import TrainOptions, predict  # noqa: E402

LIBRARY = Path("/work/shared/corpora/feedme-dev")
WORK = Path("/tmp/unfreeze")
OUT = Path(__file__).resolve().parent / "results.json"
BLOCK_LR = 1e-4


# ------------------------------------------------------------------ features, decoded once
def extract(photos, backbone) -> tuple[dict, dict, dict]:
    """Block input and trunk output (float16) of every distinct photo, keyed by fingerprint; timings."""
    cache = WORK / "features.pt"
    if cache.exists():
        saved = torch.load(cache, weights_only=True)
        return saved["block_in"], saved["trunk_out"], saved["timing"]
    by_fp = {}
    for photo in photos:
        by_fp.setdefault(photo.fingerprint, photo)
    fps = list(by_fp)
    paths = [by_fp[fp].path for fp in fps]
    stem, stages = backbone.trunk[:3], backbone.trunk[3]
    block_in, trunk_out = {}, {}
    started = time.perf_counter()
    with torch.inference_mode():
        for batch in batches(paths, backbone.spec.input_size, 16, workers=1):
            assert not batch.failed, batch.failed
            x = stem(batch.images)
            for stage in stages[:-1]:
                x = stage(x)
            y = stages[-1](x)
            for j, i in enumerate(batch.indices):
                block_in[fps[i]] = x[j].to(torch.float16).clone()
                trunk_out[fps[i]] = y[j].to(torch.float16).clone()
    timing = {"photos": len(fps), "decode_and_trunk_s": time.perf_counter() - started}
    torch.save({"block_in": block_in, "trunk_out": trunk_out, "timing": timing}, cache)
    return block_in, trunk_out, timing


@torch.inference_mode()
def block_cost(block: nn.Module, block_in: dict) -> dict:
    """What running blocks[-1] at suggest time would cost: seconds per photo, batches of 64, one pass."""
    maps = torch.stack(list(block_in.values())).float()
    block.eval()
    block(maps[:64])  # warm-up
    started = time.perf_counter()
    for start in range(0, len(maps), 64):
        block(maps[start : start + 64])
    seconds = time.perf_counter() - started
    return {"photos": len(maps), "seconds": seconds, "img_per_s": len(maps) / seconds}


# ------------------------------------------------------------------ the unfrozen arm
class BlockThenHeads(nn.Module):
    """blocks[-1] (trainable, BatchNorm kept in eval mode) followed by the pooled ALTReco heads."""

    def __init__(self, block: nn.Module, pooled_heads: nn.Module):
        super().__init__()
        self.block = block
        self.pooled = pooled_heads

    def forward(self, features: torch.Tensor, history: torch.Tensor):
        return self.pooled(self.block(features.float()), history)

    def train(self, mode: bool = True):
        super().train(mode)
        self.block.eval()  # running statistics stay ImageNet's: batches of 50 from one library would drift them
        return self


def unfrozen_learner(block: nn.Module, block_lr: float):
    """A `finetune._Learner` whose model runs `block` first; heads built exactly as today (same seed)."""

    class Learner(finetune._Learner):
        def __init__(self, vocabulary_size, channels, options, backbone_head):
            out_channels = block[-1].conv_pwl.out_channels  # the heads read the block's output, as today
            super().__init__(vocabulary_size, out_channels, options, backbone_head)
            trainable = copy.deepcopy(block)
            for parameter in trainable.parameters():
                parameter.requires_grad_(True)
            heads = self.model
            self.model = BlockThenHeads(trainable, heads)
            self.optimiser = torch.optim.Adam(
                [
                    {"params": heads.parameters(), "lr": options.lr, "weight_decay": options.weight_decay},
                    {"params": trainable.parameters(), "lr": block_lr, "weight_decay": 0.0},
                ]
            )

    return Learner


# ------------------------------------------------------------------ one arm on one split
def run_arm(name, shared, config, seed, backbone, learner=None) -> dict:
    split = app_evaluate._split(shared, config, seed)
    options = TrainOptions(seed=seed)
    original = finetune._Learner
    if learner is not None:
        finetune._Learner = learner
    try:
        outcome = split.fitset.train(options, backbone_head=backbone.head)
    finally:
        finetune._Learner = original
    scores = predict(outcome.model, split.test)
    figures = evaluate_scores(scores, split.fitset.vocabulary, split.test.truths, split.test.owners, KS).per_photo
    epoch_s = [r.seconds for r in outcome.reports]
    fit = len(split.fitset.fit)
    row = {
        "arm": name,
        "seed": seed,
        "test": {k: figures[k] for k in ("P@1", "P@5", "R@5", "mAP")},
        "val_P@5": outcome.best_val.get("P@5"),
        "best_epoch": outcome.best_epoch,
        "epochs": outcome.epochs_run,
        "train_s": outcome.seconds,
        "s_per_epoch": statistics.mean(epoch_s),
        "train_img_per_s": fit * len(epoch_s) / sum(epoch_s),  # fit photos trained (plus validation) per second
        "fit": fit,
        "val": len(split.fitset.val),
        "test_n": len(split.test),
        "vocabulary": len(split.fitset.vocabulary),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="split seeds (train seed = split seed)")
    parser.add_argument("--arms", default="frozen,unfrozen,control", help="which arms to run on every seed")
    parser.add_argument("--block-lr", type=float, default=BLOCK_LR)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    backbone = load_backbone("lite0")
    with Index.for_library(LIBRARY, WORK / "index.db") as index:
        scan(index, CollectingReporter())
        config = app_evaluate.EvalConfig()
        photos = TagHistory(index.photos(), config.owner_from).tagged_photos()
    block_in, trunk_out, timing = extract(photos, backbone)
    timing["block_forward"] = block_cost(backbone.trunk[3][-1], block_in)
    print(json.dumps(timing), flush=True)

    everything = TagHistory(photos, config.owner_from)
    photos = [p for p in everything.tagged_photos() if p.fingerprint in trunk_out]
    pooled = {fp: pool_features(f.unsqueeze(0).float(), config.train.feature_pool)[0] for fp, f in trunk_out.items()}
    frozen = app_evaluate._Shared(everything, photos, pooled, {}, backbone.head)  # as run_eval pools once
    unfrozen = app_evaluate._Shared(everything, photos, block_in, {}, backbone.head)
    block = backbone.trunk[3][-1]
    arms = {
        "frozen": (frozen, None),
        "unfrozen": (unfrozen, unfrozen_learner(block, args.block_lr)),
        "control": (unfrozen, unfrozen_learner(block, 0.0)),
    }
    # Rows of earlier invocations are kept (a rerun of an arm and seed replaces its row).
    saved = json.loads(OUT.read_text(encoding="utf-8")) if OUT.exists() else {"rows": [], "runs": []}
    rows = {(row["arm"], row["seed"]): row for row in saved["rows"]}
    for seed in (int(s) for s in args.seeds.split(",")):
        for arm in args.arms.split(","):
            shared_part, learner = arms[arm]
            rows[arm, seed] = run_arm(arm, shared_part, config, seed, backbone, learner)
    run = {"seeds": args.seeds, "arms": args.arms, "threads": torch.get_num_threads(), "block_lr": args.block_lr,
           "load_at_end": os.getloadavg()}
    result = {"timing": timing, "rows": list(rows.values()), "runs": saved.get("runs", []) + [run]}
    OUT.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
