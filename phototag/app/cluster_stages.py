"""The Ray Data stages of `suggest --ray`: what runs on the cluster's workers (phototag.app.cluster drives them).

Rows are {fingerprint, path (bytes)}; the result rows add `error` ('' when the photo decoded). With a
`features_dir` (the library's Parquet feature dataset on shared storage, phototag.library.feature_parquet)
each actor appends its batch's features there as one part file and returns only fingerprint and error,
so no feature array crosses the object store; without one (the driver's index is not on storage every
node sees) the rows carry `features` (float16 [C, s, s], the trunk output the index caches) back.
Decoding is the single-machine code (`imaging.pipeline.PhotoDataset`: the same draft decode, orientation
and central square) and the backbone is the same `model.features.FeatureExtractor`, so the features are
the ones a run on
one machine computes on the same device.

- CPU cluster: one actor per CPU holds the model and decodes its own batches (decoded pixels never
  cross the object store; one thread per actor, so actors do not fight over cores).
- GPU cluster: decoding runs as CPU tasks feeding one actor per GPU (num_gpus=1), as the trunk on an
  H100 outruns a node's CPU decoders about 20x (issue 23's figures).

Ranking (`rank_dataset`): rows are {group, photos (the pickled PhotoRows of one blend batch and their
features, or, for those in the shared Parquet dataset, only where they are: the actor reads them itself)};
each RankActor (one CPU, no GPU) holds one copy of the driver's fitted Recommender, fetched once from the
object store, and returns {group, results (pickled (present, suggestions) per photo), pid}.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np


def features_dataset(items: list[dict], extractor, cpus: int, gpus: int, features_dir: Optional[bytes] = None):
    """A Ray Dataset of `items` (fingerprint, path) mapped to their features (written to `features_dir`, else
    in the rows), lazily (iterate it to run)."""
    import ray.data

    size = extractor.spec.input_size
    on_gpu = gpus > 0 and not extractor.key.endswith("+int8")  # int8 features come from the int8 CPU graph only
    device = "cuda" if on_gpu else ("cpu" if extractor.device == "cuda" else extractor.device)
    batch_size = 64 if on_gpu else extractor.batch_size
    dataset = ray.data.from_items(items, override_num_blocks=max(1, -(-len(items) // batch_size)))
    backbone = {**actor_settings(extractor.backbone, device), "features_dir": features_dir}
    if on_gpu:
        decoded = dataset.map_batches(decode_batch, fn_kwargs={"size": size}, batch_size=batch_size, num_cpus=1)
        return decoded.map_batches(
            BackboneActor,
            fn_constructor_kwargs=backbone,
            batch_size=batch_size,
            num_gpus=1,
            compute=ray.data.ActorPoolStrategy(size=gpus),
        )
    return dataset.map_batches(
        BackboneActor,
        fn_constructor_kwargs={**backbone, "decode": True},
        batch_size=batch_size,
        num_cpus=1,
        compute=ray.data.ActorPoolStrategy(size=max(1, cpus)),
    )


def actor_settings(backbone: str, device: str) -> dict:
    """BackboneActor's constructor arguments: the backbone, the device and the input size it decodes to."""
    from phototag.model.backbone import spec

    return {"backbone": backbone, "device": device, "size": spec(backbone).input_size}


def decode_batch(batch: dict, size: int) -> dict:
    """{fingerprint, path} -> + image (uint8 [3, size, size], zeros where it failed), error."""
    from phototag.imaging.pipeline import PhotoDataset

    photos = PhotoDataset([os.fsdecode(p) for p in batch["path"]], size)
    images = np.zeros((len(photos), 3, size, size), dtype=np.uint8)
    errors = []
    for i in range(len(photos)):
        _, image, error = photos[i]
        if image is not None:
            images[i] = image
        errors.append(error or "")
    return {
        "fingerprint": batch["fingerprint"],
        "path": batch["path"],
        "image": images,
        "error": np.array(errors, dtype=object),
    }


class BackboneActor:
    """One model per actor: decoded images (or, with `decode`, paths) -> trunk features, written as a part of
    the dataset at `features_dir` when given (a failed write fails the task: Ray retries it, then the run)."""

    def __init__(
        self, backbone: str, device: str, size: int, decode: bool = False, features_dir: Optional[bytes] = None
    ):
        from phototag.errors import optional_torch
        from phototag.model.features import FeatureExtractor

        self.size, self.decode, self.features_dir = size, decode, features_dir
        threads = _assigned_cpus()
        torch = optional_torch()  # onnxruntime's int8 graph runs without it
        if torch is not None:
            torch.set_num_threads(threads)
        self.extractor = FeatureExtractor(backbone, device, gpu_decode=False)
        if self.extractor.session is not None:  # onnxruntime: as many threads as the actor holds CPUs
            self.extractor.session = _onnx_session(self.extractor, threads)

    def __call__(self, batch: dict) -> dict:
        if self.decode:
            batch = decode_batch(batch, self.size)
        ok = [i for i, error in enumerate(batch["error"]) if not error]
        if ok:
            computed = self.extractor.extract(np.ascontiguousarray(batch["image"][ok]))
            features = np.zeros((len(batch["error"]), *computed.shape[1:]), dtype=np.float16)
            features[ok] = computed
        else:  # nothing decoded: error rows only (the driver reads no features from them)
            features = np.zeros((len(batch["error"]), 1, 1, 1), dtype=np.float16)
        if self.features_dir is not None:
            from phototag.library.feature_parquet import write_part

            write_part(self.features_dir, {str(batch["fingerprint"][i]): features[i] for i in ok}, self.extractor.key)
            return {"fingerprint": batch["fingerprint"], "error": batch["error"]}
        return {"fingerprint": batch["fingerprint"], "features": features, "error": batch["error"]}


def _assigned_cpus() -> int:
    """The CPUs Ray gave this actor (1 outside Ray: the stages called directly, as the tests do)."""
    import ray

    if not ray.is_initialized():
        return 1
    return max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))


def _onnx_session(extractor, threads: int):
    """The extractor's onnxruntime graph again, with `threads` intra-op threads (the actor's CPUs, not the node's)."""
    import onnxruntime as ort

    from phototag.model.features import INT8, int8_graph, onnx_path

    path = int8_graph(extractor.backbone) if extractor.device == INT8 else onnx_path(extractor.backbone)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def read_chunk(photos: list) -> list:
    """scan --ray: `library.scan.read_one` of each photo of a chunk of folders (never raises per photo)."""
    from phototag.library.scan import read_one

    return [read_one(photo) for photo in photos]


# ------------------------------------------------------------ ranking (suggest --ray)
def rank_dataset(
    groups: list[dict],
    recommender,
    top_k: int,
    min_score: float,
    cpus: int,
    features_dir: Optional[bytes] = None,
    key: str = "",
):
    """A Ray Dataset of ranking groups {group, photos (pickled photos, their features or where they are)} mapped
    to {group, results, pid} by a pool of RankActors, one group per batch, lazily (iterate it to run).
    `recommender`: the ObjectRef of the driver's fitted Recommender, which each actor fetches once from the
    object store; `features_dir` and `key`: the Parquet dataset and feature key the located features are read from."""
    import ray.data

    dataset = ray.data.from_items(groups, override_num_blocks=max(1, len(groups)))
    settings = {"top_k": top_k, "min_score": min_score, "features_dir": features_dir, "key": key}
    return dataset.map_batches(
        RankActor,
        fn_constructor_kwargs={"recommender": [recommender], **settings},
        batch_size=1,
        num_cpus=1,
        compute=ray.data.ActorPoolStrategy(size=max(1, min(cpus, len(groups)))),
    )


def rank_payload(photos: list, features: dict, locations: Optional[dict] = None) -> bytes:
    """One ranking group as it travels to a RankActor: its photos (PhotoRows), the features by fingerprint of
    those not in `locations`, and the (part, row group) in the Parquet dataset of those that are."""
    import pickle

    located = {p.fingerprint: locations[p.fingerprint] for p in photos if p.fingerprint in (locations or {})}
    arrays = {p.fingerprint: features[p.fingerprint] for p in photos if p.fingerprint not in located}
    return pickle.dumps((photos, arrays, located), protocol=5)


class RankActor:
    """One copy of the driver's fitted Recommender per actor: a group of photos with their features -> each
    photo's (present tags, suggestions), pickled, in the group's order. A group is one batch of the blend
    (recommend.BATCH photos or fewer, cut as on one machine), so the scores are the single-machine ones.
    Located features are read from the Parquet dataset at `features_dir` (feature_parquet.read_located); a group
    with one it cannot find (its part compacted away since) is not ranked: its results are None, and the
    driver ranks it."""

    def __init__(
        self, recommender: list, top_k: int, min_score: float, features_dir: Optional[bytes] = None, key: str = ""
    ):
        import ray

        (shared,) = recommender  # (in a list: an ObjectRef given whole would be resolved by Ray, or not)
        self.recommender = ray.get(shared) if isinstance(shared, ray.ObjectRef) else shared
        self.top_k, self.min_score, self.features_dir, self.key = top_k, min_score, features_dir, key
        torch = _torch_if_loaded()
        if torch is not None:  # a personal model's heads: as many threads as the actor holds CPUs
            torch.set_num_threads(_assigned_cpus())

    def __call__(self, batch: dict) -> dict:
        import pickle

        results = []
        for payload in batch["photos"]:
            photos, features, located = pickle.loads(payload)
            if located:
                from phototag.library.feature_parquet import read_located

                found = read_located(self.features_dir, located, self.key)
                if len(found) < len(located):
                    results.append(pickle.dumps(None))  # a part compacted away meanwhile: the driver ranks it
                    continue
                features.update(found)
            ranked = self.recommender.suggest(photos, features, top_k=self.top_k, min_score=self.min_score)
            results.append(pickle.dumps([(r.present, r.suggestions) for r in ranked], protocol=5))
        return {
            "group": batch["group"],
            "results": np.array(results, dtype=object),
            "pid": np.full(len(results), os.getpid()),
        }


def _torch_if_loaded():
    """PyTorch when this process has imported it already (a personal model came with the recommender), else None."""
    import sys

    return sys.modules.get("torch")
