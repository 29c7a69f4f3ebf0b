"""Use cases on a Ray cluster: `phototag suggest DIR --ray ADDRESS`, `scan DIR --ray ADDRESS` and `finetune DIR --ray`.

The driver (this process) scans, keeps the index, loads the model and fits the blend; the cluster
computes the features and ranks. Features: the cluster decodes the photos and runs the backbone as Ray
Data `map_batches` over an actor pool (phototag.app.cluster_stages), one model per actor. The actors
append their features by content fingerprint to the library's Parquet feature dataset beside the index
(phototag.library.feature_parquet), on storage every node mounts, and send the driver only fingerprints
and errors; where a node cannot see that folder, the features come back to the driver and go to the
index's own table instead. Later runs, with or without --ray, on any node, compute none of them again.
Ranking (`ClusterSuggestSession.results`): the fitted Recommender goes to the object store once and a
pool of RankActors ranks the targets in the blend's own batches: those whose features are in the shared
Parquet dataset travel as (part, row group) and the actors read them; the rest are read here and sent.
The results come back in the single-machine order, so output and writing are the single-machine code and
give the same suggestions, order and scores.

    session = cluster_session(index, options, reporter, address="auto")   # features computed on the cluster
    session.load()                                                        # here, as on one machine
    for results in session.results(): ...                                 # ranked on the cluster

`scan --ray` walks the library here and has the new and changed files' metadata read by Ray tasks,
a chunk of folders each (`library.scan.read_one`, the single-machine reader), merged into the index
here as they come back.

Ray is an optional extra (`pip install 'phototag[ray]'`): this module imports it only inside
functions, and `require_ray` turns its absence into one line.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

from phototag.app.suggest import CHUNK, SuggestOptions, SuggestSession
from phototag.errors import EXIT_USAGE, PhototagError
from phototag.reporting import Reporter, display_path

INSTALL = "pip install 'phototag[ray]'"
CLUSTER_CHUNK = 65_536  # photos per Ray Dataset: bounds the driver's memory for the photo list on big archives
PROBE_SECONDS = 60  # how long the check that every node reads the library may take before it is an error


class RayMissing(PhototagError):
    """--ray without Ray installed."""

    exit_code = EXIT_USAGE


class ClusterError(PhototagError):
    """The Ray cluster cannot be reached, cannot read the library, or failed the run."""


def require_ray() -> None:
    """Raise RayMissing (one line: how to install it) unless Ray and Ray Data import."""
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as error:
        raise RayMissing(f"--ray needs Ray, which is not installed here ({error.name or error}): {INSTALL}") from None


def cluster_session(index, options: SuggestOptions, reporter: Reporter, address: str) -> "ClusterSuggestSession":
    """A SuggestSession (scanned, targets chosen) whose photos' missing features were computed on the
    Ray cluster at `address` ("auto": RAY_ADDRESS, else the cluster started on this machine) and stored
    in the index's feature cache; `load` then runs as on one machine, and `results` ranks on the cluster."""
    require_ray()
    check_answers(address)  # before the scan, which can be long
    session = ClusterSuggestSession(index, options, reporter, address)
    if not session.targets:
        return session
    extractor = _extractor(index, options, reporter)
    if extractor is None:
        return session  # --model personal without one: load() says so
    session.features_dir = features_on_cluster(index, session.photos, extractor, reporter, address)
    return session


def finetune_features(index, photos: Sequence, backbone: str, device: str, reporter: Reporter, address: str) -> None:
    """`phototag finetune DIR --ray ADDRESS`: the tagged photos' missing features computed on the cluster and
    stored in the index's cache, so that training here finds them all (the extractor library_features builds)."""
    from phototag.model.features import FeatureExtractor

    features_on_cluster(index, photos, FeatureExtractor(backbone=backbone, device=device), reporter, address)


def features_on_cluster(index, photos: Sequence, extractor, reporter: Reporter, address: str) -> Optional[Path]:
    """Connect, check that every node reads the library, compute and store the missing features, say so; the
    Parquet feature dataset every node sees and writes (shared_features_dir), or None."""
    with connect(address) as cluster:
        check_readable(index.root, photos)
        features_dir = shared_features_dir(index, reporter)
        run = compute_features(index, photos, extractor, reporter, cluster, features_dir)
    reporter.info(
        f"features of {run.stored} photo(s) computed on the Ray cluster ({cluster.describe()}) in {run.seconds:.1f} s, "
        f"the first batch after {run.first_batch:.1f} s"
    )
    if features_dir is not None and run.stored:  # the workers' many small parts merged, so that readers open few
        from phototag.library.feature_parquet import compact

        done = compact(features_dir, warn=reporter.warn)
        if done and done.merged:
            reporter.info(
                f"{done.merged} small feature file(s) merged into {done.written} in {display_path(features_dir)}"
            )
        if done and done.stale_removed:
            reporter.info(f"{done.stale_removed} temporary feature file(s) of killed writers removed")
    return features_dir


def _extractor(index, options: SuggestOptions, reporter: Reporter):
    """The feature extractor `SuggestSession.load` will pick (same personal model, backbone and device),
    so the cluster computes the features the ranking reads; None when --model personal finds none."""
    from phototag.model.checkpoint import load_in_use, load_latest_good
    from phototag.model.features import extractor_for_model, will_measure

    personal = None
    if options.model != "general":
        personal = load_in_use(index)  # (its warnings come once, from load)
        if personal is None and options.model == "personal":
            personal = load_latest_good(index)
            if personal is None:
                return None
    meta = personal.meta if personal is not None else None
    if options.device == "auto" and will_measure((meta or {}).get("backbone", options.backbone), meta):
        reporter.info("Timing PyTorch against onnxruntime once on this machine (a few seconds)…")  # as load() would
    return extractor_for_model(meta, options.backbone, options.device, gpu_decode=False)


# Chunks of targets ranked per Ray Dataset (a window): their features are read here first (4 x 2,048 photos:
# about 256 MB of Lite0 features), sent, ranked and dropped before the next; each window starts its actor pool.
RANK_CHUNKS = 4


class ClusterSuggestSession(SuggestSession):
    """A SuggestSession whose `results` rank the targets on the Ray cluster: scan, features, model and the
    fitted blend with its gallery (`load`) as on one machine; then the fitted Recommender goes to the object
    store once (`ray.put`) and a pool of `cluster_stages.RankActor`s, each holding one copy, ranks the targets
    in the blend's own batches (recommend.BATCH, cut as on one machine: the same scores). With a shared feature
    dataset (`features_dir`) the features found there travel as locations, read by the actors; the rest (the
    index's table, or computed here) the driver reads from its caches and sends with the photos. It yields the
    results in the single-machine order and chunks; output and --write stay this process's."""

    def __init__(self, index, options: SuggestOptions, reporter: Reporter, address: str):
        super().__init__(index, options, reporter)
        self.address = address
        self.features_dir: Optional[Path] = None  # the shared Parquet dataset (cluster_session): actors read there
        self.ranked = 0  # photos ranked on the cluster
        self.read_by_workers = 0  # of those, photos whose features the actors read from the Parquet dataset

    def results(self) -> Iterator[list]:
        import ray

        if not self.targets:
            return
        stdout = sys.stdout  # (connect sends Ray's prints to stderr; the results' output is this process's)
        with connect(self.address) as cluster:
            self.recommender.prepare()  # the gallery and the blend fitted here, once, before the copy
            try:
                shared = ray.put(self.recommender)
            except (TypeError, ValueError, AttributeError, ray.exceptions.RayError) as error:
                raise ClusterError(f"cannot send the ranking to the Ray cluster: {_first_line(error)}") from None
            started, workers = time.perf_counter(), set()
            with self.reporter.progress("Ranking on the Ray cluster", len(self.targets), unit="photos") as task:
                window = RANK_CHUNKS * CHUNK
                for first in range(0, len(self.targets), window):
                    for results in self._rank_window(
                        self.targets[first : first + window], shared, cluster, task, workers
                    ):
                        with redirect_stdout(_MainThreadOut(stdout)):
                            yield results
        self.reporter.info(
            f"{self.ranked} photo(s) ranked on the Ray cluster ({cluster.describe()}) by {len(workers)} worker "
            f"process(es) in {time.perf_counter() - started:.1f} s ({self.read_by_workers} read by the workers)"
        )

    def _rank_window(self, window: Sequence, shared, cluster: Cluster, task, workers: set) -> list[list]:
        """The PhotoSuggestions of `window`, one list per CHUNK as on one machine; the photos whose features cannot
        be read or computed are reported as skipped (cached_features) and left out."""
        import pickle

        import ray

        from phototag.app.cluster_stages import rank_dataset

        chunks, groups, batches, located = [], [], [], {}
        for first in range(0, len(window), CHUNK):
            chunk_batches, chunk_groups, chunk_located = self._window_chunk(window[first : first + CHUNK], task)
            chunks.append(chunk_batches)
            for photos, payload in zip(chunk_batches, chunk_groups):
                groups.append({"group": len(groups), "photos": payload})
                batches.append(photos)
            located.update(chunk_located)
        ranked: dict[int, list] = {}
        if groups:
            directory = os.fsencode(self.features_dir) if self.features_dir is not None else None
            dataset = rank_dataset(
                groups, shared, self.options.top_k, self.options.min_score, cluster.cpus, directory, self.extractor.key
            )
            del groups
            try:
                for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                    for group, results, pid in zip(batch["group"], batch["results"], batch["pid"]):
                        group, results = int(group), pickle.loads(results)
                        if results is None:  # a part the actor was sent to was compacted away meanwhile
                            sent = len(batches[group])
                            results = self._rank_here(batches[group])
                            task.advance(sent - len(results))  # (photos now unreadable: reported, left out)
                        else:
                            self.read_by_workers += sum(1 for p in batches[group] if p.fingerprint in located)
                        ranked[group] = results
                        workers.add(int(pid))
                        task.advance(len(results))
            except ray.exceptions.RayError as error:
                raise ClusterError(f"the Ray cluster failed the ranking: {_first_line(error)}") from None
        return self._in_order(chunks, ranked)

    def _window_chunk(self, chunk: Sequence, task) -> tuple[list[list], list[bytes], dict]:
        """One CHUNK of a window cut into the blend's batches, with each batch's payload and the Parquet locations
        of its features. With a shared feature dataset, the photos found there travel as locations (the actors
        read them); the rest (in the index's table, or not cached) are read or computed here (cached_features,
        which reports the photos that cannot be), as without one."""
        from phototag.app.cluster_stages import rank_payload
        from phototag.library import feature_store
        from phototag.model.features import cached_features
        from phototag.model.recommend import BATCH

        located: dict = {}
        if self.features_dir is not None:
            fingerprints = [p.fingerprint for p in chunk if p.fingerprint]
            located = feature_store.locate(self.index, fingerprints, self.extractor.key, self.reporter.warn)
        rest = [p for p in chunk if p.fingerprint not in located]
        features = cached_features(
            self.index, rest, self.extractor, self.reporter, workers=self.options.workers or None
        )
        ready = [p for p in chunk if p.fingerprint in features or p.fingerprint in located]  # (Recommender.suggest's)
        task.advance(len(chunk) - len(ready))
        batches = [ready[i : i + BATCH] for i in range(0, len(ready), BATCH)]
        return batches, [rank_payload(photos, features, located) for photos in batches], located

    def _rank_here(self, photos: list) -> list:
        """A group the actor could not read (a part compacted away since it was located) ranked on the driver,
        its features read again (the catalogue finds the merged part): the same batch, the same scores. A photo
        whose features cannot be read nor computed now is reported (cached_features) and left out of the batch."""
        from phototag.model.features import cached_features

        features = cached_features(
            self.index, photos, self.extractor, self.reporter, workers=self.options.workers or None
        )
        photos[:] = [p for p in photos if p.fingerprint in features]  # (the list _in_order reads)
        ranked = self.recommender.suggest(photos, features, top_k=self.options.top_k, min_score=self.options.min_score)
        return [(r.present, r.suggestions) for r in ranked]

    def _in_order(self, chunks: list[list], ranked: dict[int, list]) -> list[list]:
        """The groups' results back on the driver's own photos, in the targets' order, one list per chunk."""
        from phototag.model.recommend import PhotoSuggestions

        out, group = [], 0
        for chunk in chunks:
            results = []
            for photos in chunk:
                results += [PhotoSuggestions(p, present, chosen) for p, (present, chosen) in zip(photos, ranked[group])]
                group += 1
            self.ranked += len(results)
            out.append(results)
        return out


class _MainThreadOut:
    """sys.stdout while results are yielded: the main thread's writes (--json/--csv) go to `stdout`, any other
    thread's (Ray's reports of the cluster) to stderr, so machine-readable output stays clean."""

    def __init__(self, stdout):
        import threading

        self._stdout, self._stderr, self._main = stdout, sys.stderr, threading.main_thread()

    def _target(self):
        import threading

        return self._stdout if threading.current_thread() is self._main else self._stderr

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str):
        return getattr(self._stdout, name)


class Cluster:
    """What the driver knows of the cluster it is connected to: its address, CPUs and GPUs."""

    def __init__(self, address: str, cpus: int, gpus: int):
        self.address, self.cpus, self.gpus = address, cpus, gpus

    def describe(self) -> str:
        return f"{self.address}: {self.cpus} CPU(s), {self.gpus} GPU(s)"


@contextmanager
def connect(address: str) -> Iterator[Cluster]:
    """Connect this process to an existing Ray cluster (never starts one); ClusterError when it cannot."""
    import logging

    import ray
    from ray.data import DataContext

    # The core worker's C++ lines (actor restart notes) are not the person's business; Ray's exceptions
    # still arrive, and RAY_BACKEND_LOG_LEVEL set by the person wins. (Ray still says once that it is set.)
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    # Ray prints what the cluster reports (a worker that died, with its lease id) to sys.stdout, which
    # carries --json/--csv: while connected it goes to stderr, beside phototag's own messages.
    check_answers(address)
    with redirect_stdout(sys.stderr):
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ClusterError(f"cannot connect to the Ray cluster at {address!r}: {_first_line(error)}") from None
        try:
            context = DataContext.get_current()
            context.enable_progress_bars = False  # the driver's own progress bar counts the photos
            context.print_on_execution_start = False
            logging.getLogger("ray.data").setLevel(logging.ERROR)  # (it warns that progress bars are off)
            resources = ray.cluster_resources()
            yield Cluster(address, int(resources.get("CPU", 0)), int(resources.get("GPU", 0)))
        finally:
            ray.shutdown()  # (stops the thread that prints the cluster's reports)


def check_answers(address: str, seconds: float = 5.0) -> None:
    """ClusterError unless something accepts a TCP connection at the cluster's host:port: Ray itself
    retries an address where nothing listens for minutes. `auto` without RAY_ADDRESS (Ray looks for a
    cluster started on this machine, and says at once when there is none) and ray:// are left to Ray."""
    import socket

    target = os.environ.get("RAY_ADDRESS", "") if address == "auto" else address
    if not target or target == "auto" or "://" in target:
        return
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--ray {address}: expected auto or HOST:PORT (the head node's GCS address), not {target!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=seconds).close()
    except OSError as error:
        raise ClusterError(
            f"no Ray cluster answers at {target} ({error.strerror or error}); start one with `ray start --head` "
            "or give the head node's address"
        ) from None


def check_readable(root: Path, photos: Sequence) -> None:
    """Every alive node of the cluster can read the library folder and one of its photos at the driver's
    paths (shared storage mounted at the same place); ClusterError naming the first node that cannot."""
    sample = os.fsencode(photos[0].path) if photos else b""
    for node, problem in on_every_node(_can_read, os.fsencode(root), sample).items():
        if problem:
            raise ClusterError(
                f"the Ray workers on node {node} cannot read the library: {problem}; put it on storage every "
                "node mounts at the same path"
            )


def on_every_node(function, *args) -> dict[str, str]:
    """`function(*args)` run once on every alive node of the cluster: its answer by node address."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0)(function)
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    refs = {
        node["NodeManagerAddress"]: probe.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ).remote(*args)
        for node in nodes
    }
    try:
        return dict(zip(refs, ray.get(list(refs.values()), timeout=PROBE_SECONDS)))
    except ray.exceptions.GetTimeoutError:
        raise ClusterError(
            f"the Ray cluster did not answer within {PROBE_SECONDS} s (are its workers running?)"
        ) from None


def shared_features_dir(index, reporter: Reporter) -> Optional[Path]:
    """The library's Parquet feature dataset when every node sees it at the driver's path and may write there
    (a marker file the driver leaves in it is found on each node); else None, said in one line, and the
    features go back to the driver's index as before (e.g. the index on this machine's own disk)."""
    import uuid

    from phototag.fsio import private_dir
    from phototag.library.feature_parquet import dataset_dir

    directory = dataset_dir(index)
    marker = directory / f".node-check-{uuid.uuid4().hex}"
    try:
        private_dir(directory)
        marker.touch()
    except OSError as error:
        reporter.info(f"features kept in the index on this machine: cannot write {directory} ({error.strerror})")
        return None
    try:
        problems = {node: p for node, p in on_every_node(_sees_marker, os.fsencode(marker)).items() if p}
    finally:
        marker.unlink(missing_ok=True)
    if problems:
        try:
            directory.rmdir()  # when empty: a folder later runs would look into for nothing
        except OSError:
            pass
        node, problem = next(iter(problems.items()))
        reporter.info(
            f"features kept in the index on this machine: the Ray workers on node {node} {problem}; put the index "
            "(--index) on storage every node mounts to share them"
        )
        return None
    return directory


def _sees_marker(marker: bytes) -> str:
    """'' when `marker` exists on this node and its folder is writable, else what is wrong (runs on each node)."""
    folder = os.path.dirname(marker)
    if not os.path.exists(marker):
        return f"do not see the feature folder {display_path(folder)}"
    if not os.access(folder, os.W_OK):
        return f"cannot write the feature folder {display_path(folder)}"
    return ""


def _can_read(root: bytes, sample: bytes) -> str:
    """'' when `root` lists and `sample` opens on this node, else why not (runs on each node)."""
    for path, check in ((root, os.listdir), (sample, lambda p: open(p, "rb").close())):
        if not path:
            continue
        try:
            check(path)
        except OSError as error:
            return f"{display_path(path)}: {error.strerror or error}"
    return ""


@dataclass
class ClusterRun:
    """What a cluster run did: features stored, seconds in all, seconds until the first batch came back
    (connecting aside: actors starting, models loading; benchmarks/bench_ray.py reads both)."""

    stored: int = 0
    seconds: float = 0.0
    first_batch: float = 0.0


def compute_features(
    index, photos: Sequence, extractor, reporter: Reporter, cluster: Cluster, features_dir: Optional[Path] = None
) -> ClusterRun:
    """Compute on the cluster the features of `photos` the index's caches lack: the workers append them to the
    Parquet dataset `features_dir`, or without one the driver stores them in the index's table. Photos the
    cluster could not decode are left out: the session decodes them again on this machine and reports them
    (so one broken file reads the same with or without --ray)."""
    from phototag.app.cluster_stages import features_dataset
    from phototag.library.index import fingerprint_file
    from phototag.model.features import load_cached

    missing: dict[str, bytes] = {}
    for photo in photos:
        try:
            fingerprint = photo.fingerprint = photo.fingerprint or fingerprint_file(photo.path)
        except OSError:
            continue  # the session reports it
        missing.setdefault(fingerprint, os.fsencode(photo.path))
    for fingerprint in load_cached(index, list(missing), extractor.key, reporter.warn):
        del missing[fingerprint]
    items = [{"fingerprint": fp, "path": path} for fp, path in missing.items()]
    run, started = ClusterRun(), time.perf_counter()
    shared = os.fsencode(features_dir) if features_dir is not None else None
    with reporter.progress("Features on the Ray cluster", len(items), unit="photos") as task:
        for first in range(0, len(items), CLUSTER_CHUNK):
            chunk = items[first : first + CLUSTER_CHUNK]
            dataset = features_dataset(chunk, extractor, cluster.cpus, cluster.gpus, shared)
            _store_results(index, dataset, extractor.key, task.advance, run, started)
    run.seconds = time.perf_counter() - started
    return run


def _store_results(index, dataset, key: str, advance, run: ClusterRun, started: float) -> None:
    """Run `dataset`, counting each batch as it arrives; features that come back in the rows (no shared
    dataset) are stored in the index, one transaction per batch."""
    import ray

    from phototag.model.features import store

    try:
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            run.first_batch = run.first_batch or time.perf_counter() - started
            ok = [i for i, error in enumerate(batch["error"]) if not error]
            if "features" in batch:
                store(index, {batch["fingerprint"][i]: batch["features"][i] for i in ok}, key)
            run.stored += len(ok)
            advance(len(batch["error"]))
    except ray.exceptions.RayError as error:
        raise ClusterError(f"the Ray cluster failed the run: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


# ------------------------------------------------------------------ scan --ray
SCAN_CHUNK = 256  # photos per read task: folders packed whole up to this, bigger ones split


def cluster_scan(index, reporter: Reporter, address: str, follow_links: bool = False):
    """`scan DIR --ray ADDRESS`: the walk and the index on this machine, the new and changed files' metadata
    read by Ray tasks (a chunk of folders each), merged into the index as they come back (one transaction
    per WRITE_BATCH photos, as on one machine). Returns the ScanSummary."""
    from phototag.app.scan import scan

    require_ray()
    with connect(address) as cluster:
        check_readable(index.root, [])
        return scan(
            index,
            reporter,
            follow_links=follow_links,
            read_all=lambda photos, advance: read_on_cluster(photos, advance, cluster),
        )


def folder_chunks(photos: Sequence, size: int = SCAN_CHUNK) -> list[list]:
    """`photos` (walk order: a folder's photos together) in chunks of whole folders of at most `size`
    photos; a folder of more than `size` is split."""
    from collections import Counter

    in_folder = Counter(photo.path.parent for photo in photos)
    chunks, current = [], []
    for photo in photos:
        starts_folder = not current or current[-1].path.parent != photo.path.parent
        if current and (len(current) >= size or (starts_folder and len(current) + in_folder[photo.path.parent] > size)):
            chunks.append(current)
            current = []
        current.append(photo)
    if current:
        chunks.append(current)
    return chunks


def read_on_cluster(photos: Sequence, advance, cluster: Cluster) -> Iterator:
    """`library.scan.read_one` of every photo, run by Ray tasks, yielded as the tasks finish; at most two
    tasks per CPU in flight, so the driver's memory stays bounded whatever the library's size."""
    import ray

    from phototag.app.cluster_stages import read_chunk

    task = ray.remote(num_cpus=1, max_retries=3)(read_chunk)
    waiting = iter(folder_chunks(photos))
    pending: list = []
    try:
        while True:
            while len(pending) < 2 * max(1, cluster.cpus) and (chunk := next(waiting, None)) is not None:
                pending.append(task.remote(chunk))
            if not pending:
                return
            done, pending = ray.wait(pending, num_returns=1)
            for item in ray.get(done[0]):
                yield item
                advance(1)
    except ray.exceptions.RayError as error:
        raise ClusterError(f"the Ray cluster failed the scan: {_first_line(error)}") from None
