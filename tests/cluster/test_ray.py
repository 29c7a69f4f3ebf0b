"""`phototag suggest DIR --ray auto` and `scan DIR --ray auto` against a real local Ray cluster, on loopback only.

Ray binds the machine's primary address whatever --node-ip-address says; inside a private network
namespace with only `lo` up (`unshare -n`, then `ip link set lo up`) it falls back to 127.0.0.1. So the
cluster, the driver and the socket check all run in one such namespace (root only: CI runs as root),
and the test fails if any socket there listens on an address other than loopback.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from photos import write_sidecar
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[2]
PORT = 6379  # the namespace is private: no other cluster can hold the port
INSTALL_LINE = "pip install 'phototag[ray]'"
TAGS = {"red": ["sunset", "beach"], "green": ["forest", "hiking"], "blue": ["lake", "boat"]}
COLOURS = {"red": (200, 60, 30), "green": (40, 150, 50), "blue": (30, 70, 190)}


def ray_installed() -> bool:
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


def private_network_works() -> bool:
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_cluster = pytest.mark.skipif(
    not (ray_installed() and private_network_works() and shutil.which("ss")),
    reason="needs Ray (pip install '.[ray]'), `unshare -n` (root) and ss (iproute2)",
)


def make_library(root: Path, seed: int = 7) -> Path:
    """Real JPEGs drawn with Pillow in three colour families; two of each family tagged in XMP sidecars."""
    rng = random.Random(seed)
    for family, (r, g, b) in COLOURS.items():
        for n in range(4):
            image = Image.new("RGB", (320, 240), (r, g, b))
            draw = ImageDraw.Draw(image)
            for _ in range(12):  # shapes in shades of the family, so the photos differ
                box = sorted(rng.sample(range(320), 2)), sorted(rng.sample(range(240), 2))
                shade = tuple(max(0, min(255, c + rng.randint(-60, 60))) for c in (r, g, b))
                draw.ellipse([box[0][0], box[1][0], box[0][1], box[1][1]], fill=shade)
            path = root / family / f"{family}-{n}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path, "JPEG", quality=90)
            if n < 2:
                write_sidecar(path.with_suffix(".xmp"), subjects=TAGS[family][: 1 + n % 2])
    return root


def namespace_env(tmp: Path, data: str) -> dict:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "RAY_ADDRESS": f"127.0.0.1:{PORT}",
        "PHOTOTAG_DATA_DIR": str(tmp / data),
        "PHOTOTAG_CACHE_DIR": str(tmp / "cache"),
        "PHOTOTAG_LOG_DIR": str(tmp / "logs"),
        "RAY_USAGE_STATS_ENABLED": "0",
    }


def run_in_namespace(commands: str, tmp: Path, timeout: int = 900, ray_prefix: str = "") -> subprocess.CompletedProcess:
    """`commands` (sh) inside a private network namespace with a two-CPU Ray head started first and stopped
    after; `ray_prefix` wraps `ray start` (e.g. in a mount namespace). ss's listening sockets go to ss.txt."""
    temp_dir = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's unix socket paths must stay < 108 bytes
    start = (
        f"ray start --head --port {PORT} --num-cpus 2 --num-gpus 0 --include-dashboard false "
        f"--object-store-memory 100000000 --temp-dir {temp_dir} --disable-usage-stats >{tmp}/ray-start.log 2>&1"
    )
    script = (
        f"export PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH\n"  # `ray` beside this Python
        "ip link set lo up\n"
        f"{ray_prefix}{start} || {{ cat {tmp}/ray-start.log >&2; exit 99; }}\n"
        f"{commands}\n"
        f"ss -ltunpH >{tmp}/ss.txt\n"
        "ray stop --force >/dev/null 2>&1\n"
    )
    try:
        return subprocess.run(
            ["unshare", "-n", "sh", "-ec", script],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=namespace_env(tmp, "data"),
            cwd=REPO,
        )
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


def non_loopback_listeners(ss_output: str) -> list[str]:
    """Lines of `ss -ltunpH` whose local address is not 127.0.0.1 / ::1 (a wildcard counts as not loopback)."""
    bad = []
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        host = fields[4].rsplit(":", 1)[0].strip("[]")
        if not (host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1") or host.startswith("::ffff:127.")):
            bad.append(line)
    return bad


def suggest_line(library: Path, data: str, out: str, *args: str) -> str:
    """One phototag suggest process in the namespace script (its own index: nothing cached between runs)."""
    return (
        f"PHOTOTAG_DATA_DIR={data} {sys.executable} -m phototag suggest {library} --device onnx --min-score "
        f"0 {' '.join(args)} "
        f">{out}.out 2>{out}.err && echo 0 >{out}.rc || echo $? >{out}.rc"
    )  # (sh -e: a failing run is recorded, not fatal)


def read_run(tmp: Path, name: str) -> tuple[int, str, str]:
    return int((tmp / f"{name}.rc").read_text()), (tmp / f"{name}.out").read_text(), (tmp / f"{name}.err").read_text()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every output mode on one machine and with --ray, each with its own fresh index; --write on two copies."""
    if not (ray_installed() and private_network_works() and shutil.which("ss")):
        pytest.skip("needs Ray, `unshare -n` and ss")
    tmp = tmp_path_factory.mktemp("ray")
    library = make_library(tmp / "Pictures")
    for copy in ("write-single", "write-ray"):
        shutil.copytree(library, tmp / copy)
    lines = []
    for mode, args in (("json", ["--json"]), ("csv", ["--csv"]), ("table", [])):
        lines.append(suggest_line(library, tmp / f"data-{mode}-single", tmp / f"{mode}-single", *args))
        lines.append(suggest_line(library, tmp / f"data-{mode}-ray", tmp / f"{mode}-ray", *args, "--ray", "auto"))
    lines.append(suggest_line(tmp / "write-single", tmp / "data-w1", tmp / "write-single", "--write", "--json"))
    lines.append(
        suggest_line(tmp / "write-ray", tmp / "data-w2", tmp / "write-ray", "--write", "--json", "--ray", "auto")
    )
    proc = run_in_namespace("\n".join(lines), tmp)
    assert proc.returncode == 0, proc.stderr
    return tmp


def scores_by_photo(jsonl: str) -> list[tuple[str, list[tuple[str, float]]]]:
    return [
        (r["path"], [(s["tag"], s["score"]) for s in r["suggestions"]]) for r in map(json.loads, jsonl.splitlines())
    ]


def assert_same_suggestions(single, ray) -> None:
    assert [path for path, _ in single] == [path for path, _ in ray]  # same photos, same order
    for (path, expected), (_, got) in zip(single, ray):
        assert [tag for tag, _ in expected] == [tag for tag, _ in got], path
        assert all(abs(a - b) <= 1e-4 for (_, a), (_, b) in zip(expected, got)), (path, expected, got)


@pytest.mark.slow  # a Ray cluster and several phototag processes
@needs_cluster
def test_json_suggestions_equal_the_single_machine_ones(runs):
    code, single, _ = read_run(runs, "json-single")
    ray_code, ray, ray_err = read_run(runs, "json-ray")
    assert code == ray_code == 0, ray_err
    expected = scores_by_photo(single)
    assert len(expected) == 6 and sum(len(s) for _, s in expected) > 0  # the untagged photos, with suggestions
    assert_same_suggestions(expected, scores_by_photo(ray))
    assert (
        "features of 12 photo(s) computed on the Ray cluster (auto: 2 CPU(s), 0 GPU(s)) in " in ray_err
    )  # all of them, tagged ones too
    ranked = [line for line in ray_err.splitlines() if "ranked on the Ray cluster" in line]
    assert len(ranked) == 1 and ranked[0].startswith(
        "6 photo(s) ranked on the Ray cluster (auto: 2 CPU(s), 0 GPU(s)) by 1 "
    )
    _, _, single_err = read_run(runs, "json-single")
    assert "Traceback" not in ray_err and "Ray cluster" not in single_err


@pytest.mark.slow  # a Ray cluster and several phototag processes
@needs_cluster
def test_csv_and_table_equal_the_single_machine_ones(runs):
    csv_rows = {name: list(csv.reader(io.StringIO(read_run(runs, f"csv-{name}")[1]))) for name in ("single", "ray")}
    assert len(csv_rows["single"]) > 1 and [row[:2] for row in csv_rows["single"]] == [
        row[:2] for row in csv_rows["ray"]
    ]
    assert all(abs(float(a[2]) - float(b[2])) <= 1e-4 for a, b in zip(csv_rows["single"][1:], csv_rows["ray"][1:]))
    tables = [read_run(runs, f"table-{name}")[1] for name in ("single", "ray")]
    assert "Suggestions (" in tables[0] and tables[0] == tables[1]


@pytest.mark.slow  # a Ray cluster and several phototag processes
@needs_cluster
def test_write_gives_the_same_sidecars(runs):
    for name in ("write-single", "write-ray"):
        assert read_run(runs, name)[0] == 0, read_run(runs, name)[2]
    single, ray = runs / "write-single", runs / "write-ray"
    written = sorted(p.relative_to(single) for p in single.rglob("*.xmp"))
    assert len(written) > 6  # the six tagged photos' sidecars and new ones for the untagged
    assert written == sorted(p.relative_to(ray) for p in ray.rglob("*.xmp"))
    for relative in written:
        assert (single / relative).read_bytes() == (ray / relative).read_bytes(), relative


@pytest.mark.slow  # a Ray cluster and several phototag processes
@needs_cluster
def test_every_ray_socket_listens_on_loopback_only(runs):
    listeners = (runs / "ss.txt").read_text()
    assert "gcs_server" in listeners and "raylet" in listeners  # the check saw the cluster
    assert non_loopback_listeners(listeners) == []


def test_the_loopback_check_catches_other_addresses():
    assert non_loopback_listeners('tcp LISTEN 0 128 0.0.0.0:6379 0.0.0.0:* users:(("gcs_server",pid=1,fd=3))')
    assert non_loopback_listeners('tcp LISTEN 0 128 *:6379 *:* users:(("gcs_server",pid=1,fd=3))')
    assert non_loopback_listeners("tcp LISTEN 0 128 10.0.0.5:6379 0.0.0.0:*")
    assert not non_loopback_listeners('tcp LISTEN 0 4096 [::ffff:127.0.0.1]:6379 *:* users:(("gcs_server",pid=1,fd=3))')
    assert not non_loopback_listeners("tcp LISTEN 0 128 127.0.0.1:44871 0.0.0.0:*")


@pytest.mark.slow  # a Ray cluster and several phototag processes
@needs_cluster
def test_a_library_the_workers_cannot_read_is_one_clear_error(tmp_path):
    hidden = tmp_path / "shared"
    library = make_library(hidden / "Pictures")
    # The cluster starts in a mount namespace of its own where an empty tmpfs covers the library's
    # folder: its workers see no library, while the driver reads it (storage not mounted on the nodes).
    prefix = f'unshare -m sh -c \'mount -t tmpfs none {hidden} && exec "$0" "$@"\' '
    line = (
        f"timeout 300 {sys.executable} -m phototag suggest {library} --json --ray auto >{tmp_path}/out "
        f"2>{tmp_path}/err && echo 0 >{tmp_path}/rc || echo $? >{tmp_path}/rc"
    )
    proc = run_in_namespace(line, tmp_path, timeout=400, ray_prefix=prefix)
    assert proc.returncode == 0, proc.stderr
    code, err = int((tmp_path / "rc").read_text()), (tmp_path / "err").read_text()
    assert code == 1, err  # not 124: no hang
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot read the library" in errors[0] and str(library) in errors[0], err
    assert "Traceback" not in err and (tmp_path / "out").read_text() == ""


@pytest.mark.slow
@needs_cluster
def test_an_address_where_no_cluster_answers_is_one_error_at_once(tmp_path):
    """Ray retries such an address for minutes; phototag checks that something listens there first."""
    library = make_library(tmp_path / "Pictures")
    env = {**namespace_env(tmp_path, "data"), "RAY_ADDRESS": "127.0.0.1:1"}
    started = time.monotonic()
    proc = subprocess.run(
        [
            "unshare",
            "-n",
            "sh",
            "-c",
            f"ip link set lo up && exec {sys.executable} -m phototag suggest {library} --ray auto",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 1 and time.monotonic() - started < 60
    assert proc.stderr.strip().splitlines() == [
        "error: no Ray cluster answers at 127.0.0.1:1 (Connection refused); start one with `ray start --head` or give "
        "the head node's address"
    ]
    assert proc.stdout == ""
    (index,) = (tmp_path / "data").rglob("*.sqlite")
    with sqlite3.connect(index) as db:
        assert db.execute("SELECT count(*) FROM photos").fetchone() == (0,)  # it said so before scanning


@pytest.mark.slow
def test_without_ray_one_line_says_how_to_install_it(tmp_path):
    """A sitecustomize on PYTHONPATH blocks `import ray` (a meta path finder), as if it were not installed."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class NoRay:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ray' or name.startswith('ray.'):\n"
        "            raise ImportError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, NoRay())\n",
        encoding="utf-8",
    )
    library = make_library(tmp_path / "Pictures")
    env = {**os.environ, "PYTHONPATH": f"{blocker}{os.pathsep}{REPO}", "PHOTOTAG_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run(
        [sys.executable, "-m", "phototag", "suggest", str(library), "--ray", "auto"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert proc.stdout == "" and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert proc.stderr.startswith("error:") and INSTALL_LINE in proc.stderr
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.sqlite"))  # nothing was done


@pytest.mark.slow
@pytest.mark.skipif(ray_installed(), reason="Ray is installed here; the test above blocks its import instead")
def test_without_ray_installed_the_same_line(tmp_path):
    library = make_library(tmp_path / "Pictures")
    proc = subprocess.run(
        [sys.executable, "-m", "phototag", "suggest", str(library), "--ray", "auto"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
    )
    assert proc.returncode == 2 and INSTALL_LINE in proc.stderr and proc.stderr.strip().count("\n") == 0


@pytest.mark.slow  # a Ray cluster and several phototag processes
@needs_cluster
def test_a_worker_killed_mid_run_gives_the_same_result_and_one_undo(tmp_path):
    """One backbone actor's process is killed (SIGKILL) while a --write run is under way: Ray restarts the
    actor and retries its batch; the suggestions and the sidecars written are those of one machine, and one
    `undo` gives the library back byte for byte (writes happen on the driver, in one journaled batch)."""
    library = make_library(tmp_path / "Pictures")
    more = library / "more"
    more.mkdir()
    for n in range(200):  # enough untagged photos that the run is still going when the worker dies
        family = ("red", "green", "blue")[n % 3]
        with Image.open(library / family / f"{family}-{2 + n % 2}.jpg") as image:
            image.rotate(n * 7 % 360).save(more / f"p{n:03}.jpg", "JPEG", quality=85 + n % 10)
    pristine = {p.relative_to(library): p.read_bytes() for p in library.rglob("*") if p.is_file()}
    copy = tmp_path / "Pictures-ray"
    shutil.copytree(library, copy)
    single = suggest_line(library, tmp_path / "data-single", tmp_path / "single", "--json", "--write")
    ray = suggest_line(copy, tmp_path / "data-ray", tmp_path / "ray", "--json", "--write", "--ray", "auto")
    kill = (
        f"( {ray} ) & driver=$!\n"
        "for i in $(seq 600); do victim=$(pgrep -f '^ray::MapWorker' | head -n 1); [ -n \"$victim\" ] && "
        "break; sleep 0.1; done\n"
        f"sleep 1; kill -0 $driver && kill -9 $victim && echo $victim >{tmp_path}/killed\n"
        "wait $driver\n"
        f"cp -a {copy} {tmp_path}/written\n"
        f"PHOTOTAG_DATA_DIR={tmp_path}/data-ray {sys.executable} -m phototag undo {copy} >{tmp_path}/undo.out 2>&1"
    )
    proc = run_in_namespace(f"{single}\n{kill}", tmp_path)
    assert proc.returncode == 0, proc.stderr + (tmp_path / "undo.out").read_text()
    assert (tmp_path / "killed").read_text().strip(), "no worker was killed while the run went on"
    code, out, err = read_run(tmp_path, "ray")
    assert code == 0, err
    expected = scores_by_photo(read_run(tmp_path, "single")[1])
    assert len(expected) == 206
    assert_same_suggestions(expected, scores_by_photo(out))
    written = [p.relative_to(library) for p in library.rglob("*.xmp") if p.relative_to(library) not in pristine]
    assert len(written) > 100  # new sidecars for the untagged photos (min-score 0: every photo gets tags)
    ray_written = tmp_path / "written"
    for relative in written:
        assert (ray_written / relative).read_bytes() == (library / relative).read_bytes(), relative
    assert {p.relative_to(ray_written) for p in ray_written.rglob("*.xmp")} == {
        p.relative_to(library) for p in library.rglob("*.xmp")
    }
    after_undo = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert after_undo == pristine  # one undo: every sidecar the run wrote is gone, every photo untouched


@pytest.mark.slow
@needs_cluster
def test_scan_ray_gives_the_same_index(tmp_path):
    library = make_library(tmp_path / "Pictures")
    for n in range(24):  # nested folders (300 photos: more than one read task of SCAN_CHUNK), files the scan skips
        make_library(library / "trips" / f"day-{n}", seed=n)
    broken = library / "trips" / "day-1" / "broken.jpg"
    broken.write_bytes((library / "red" / "red-0.jpg").read_bytes()[:300])
    (library / "blue" / "notes.jpg").write_text("not a photo", encoding="utf-8")
    lines = [
        f"PHOTOTAG_DATA_DIR={tmp_path}/data-{name} {sys.executable} -m phototag scan {library} --json {extra} "
        f">{tmp_path}/{name}.out 2>{tmp_path}/{name}.err && echo 0 >{tmp_path}/{name}.rc || echo $? "
        f">{tmp_path}/{name}.rc"
        for name, extra in (("single", ""), ("ray", "--ray auto"))
    ]
    proc = run_in_namespace("\n".join(lines), tmp_path)
    assert proc.returncode == 0, proc.stderr
    (code, single, single_err), (ray_code, ray, ray_err) = read_run(tmp_path, "single"), read_run(tmp_path, "ray")
    assert code == ray_code == 3, ray_err  # done, files skipped
    records = [json.loads(line) for line in single.splitlines()]
    assert len(records) == 300 and sum(bool(r["keywords"]) for r in records) == 150
    assert ray == single  # every photo, its keywords, sources, fingerprint, in the same order
    skipped = [
        sorted(line for line in err.splitlines() if line.strip().startswith("skipped 1 ×"))
        for err in (single_err, ray_err)
    ]
    assert len(skipped[0]) == 2 and skipped[0] == skipped[1]  # the truncated JPEG and the text file, same reasons
    assert "Traceback" not in ray_err


def test_scan_chunks_keep_folders_whole():
    from phototag.app.cluster import folder_chunks

    class Photo:
        def __init__(self, folder: str, n: int):
            self.path = Path("/lib") / folder / f"{n}.jpg"

    photos = [Photo("a", n) for n in range(3)] + [Photo("b", n) for n in range(4)] + [Photo("c", n) for n in range(9)]
    chunks = folder_chunks(photos, size=5)
    assert [[p.path.parent.name for p in chunk] for chunk in chunks] == [
        ["a"] * 3,
        ["b"] * 4,
        ["c"] * 5,
        ["c"] * 4,
    ]  # a and b would not fit together; c is split
    assert [p for chunk in chunks for p in chunk] == photos
    assert folder_chunks([], size=5) == []
    small = [Photo("a", 0), Photo("b", 0), Photo("c", 0)]
    assert folder_chunks(small, size=5) == [small]  # small folders share a task


@pytest.mark.slow  # loads the backbone
@pytest.mark.skipif(not ray_installed(), reason="needs Ray (pip install '.[ray]')")
def test_both_stage_layouts_compute_the_single_machine_features(tmp_path):
    """The GPU layout (decode tasks feeding actors) and the CPU one (actors decoding their own batches),
    called directly on this machine's CPU, against the single-machine pipeline; a broken file is an error row."""
    import numpy as np
    import torch

    from phototag.app.cluster_stages import BackboneActor, actor_settings, decode_batch
    from phototag.imaging.pipeline import batches
    from phototag.model.features import FeatureExtractor

    library = make_library(tmp_path / "Pictures")
    paths = sorted(library.rglob("*.jpg"))[:5]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(paths[0].read_bytes()[:200])
    rows = {
        "fingerprint": np.array([f"f{i}" for i in range(6)], dtype=object),
        "path": np.array([os.fsencode(p) for p in [*paths, broken]], dtype=object),
    }
    settings = actor_settings("lite0", "onnx")
    decoded = decode_batch(rows, settings["size"])
    assert [bool(e) for e in decoded["error"]] == [False] * 5 + [True]
    two_stage = BackboneActor(**settings)(decoded)
    fused = BackboneActor(**settings, decode=True)(rows)
    extractor = FeatureExtractor("lite0", "onnx")
    (batch,) = list(batches(paths, extractor.spec.input_size, batch_size=16, workers=0))
    expected = extractor.extract(batch.images)
    for result in (two_stage, fused):
        assert list(result["fingerprint"]) == list(rows["fingerprint"]) and bool(result["error"][5])
        assert np.array_equal(result["features"][:5], expected) and result["features"].dtype == np.float16
    assert torch.from_numpy(expected).shape[1:] == (320, 7, 7)
    # With a feature folder, the actor writes its batch there as one part and returns no arrays
    from phototag.library import feature_parquet

    folder = tmp_path / "features"
    shared = BackboneActor(**settings, decode=True, features_dir=os.fsencode(folder))(rows)
    assert "features" not in shared and list(shared["fingerprint"]) == list(rows["fingerprint"])
    assert len(list(folder.glob("part-*.parquet"))) == 1
    found = feature_parquet.read(folder, list(rows["fingerprint"]), extractor.key)
    assert sorted(found) == [f"f{i}" for i in range(5)]  # not the broken file's
    assert all(np.array_equal(found[f"f{i}"], expected[i]) for i in range(5))


@pytest.mark.slow  # a Ray cluster and two trainings
@needs_cluster
def test_finetune_ray_trains_the_same_model_on_features_from_the_cluster(tmp_path):
    from tests.train.small_library import build_library

    library = build_library(tmp_path / "lib", per_look=5)  # 20 tagged photos
    args = "--device onnx --epochs 3 --batch-size 8 --min-count 2 --seed 3 --json"
    lines = [
        f"PHOTOTAG_DATA_DIR={tmp_path}/data-{name} {sys.executable} -m phototag finetune {library} {args} {extra} "
        f">{tmp_path}/{name}.out 2>{tmp_path}/{name}.err && echo 0 >{tmp_path}/{name}.rc || echo $? "
        f">{tmp_path}/{name}.rc"
        for name, extra in (("single", ""), ("ray", "--ray auto"))
    ]
    proc = run_in_namespace("\n".join(lines), tmp_path)
    assert proc.returncode == 0, proc.stderr
    (code, single, single_err), (ray_code, ray, ray_err) = read_run(tmp_path, "single"), read_run(tmp_path, "ray")
    assert code == ray_code == 0, ray_err
    assert "features of 20 photo(s) computed on the Ray cluster" in ray_err
    assert "Ray cluster" not in single_err
    single, ray = (json.loads(out.strip().splitlines()[-1]) for out in (single, ray))
    same = ("vocabulary", "train_photos", "validation_photos", "best_epoch", "epochs_run", "validation", "comparison")
    assert {key: ray[key] for key in same} == {key: single[key] for key in same}  # the same features, the same fit
    assert "Traceback" not in ray_err


def feature_rows(data: Path) -> int:
    (index,) = (data / "libraries").glob("*.sqlite")
    with sqlite3.connect(index) as db:
        return db.execute("SELECT count(*) FROM features").fetchone()[0]


@pytest.mark.slow  # a Ray cluster and three phototag processes
@needs_cluster
def test_cluster_features_are_kept_as_parquet_and_read_by_every_later_run(tmp_path):
    """The actors write the features as Parquet parts beside the index (none go to its SQLite table); a second
    --ray run and a single-machine run on the same index compute none and print the same suggestions; the rank
    actors of both --ray runs read the targets' features from the parts themselves."""
    library = make_library(tmp_path / "Pictures")
    data = tmp_path / "data"
    lines = [
        suggest_line(library, data, tmp_path / name, "--json", *extra)
        for name, extra in (("first", ["--ray", "auto"]), ("second", ["--ray", "auto"]), ("single", []))
    ]
    proc = run_in_namespace("\n".join(lines), tmp_path)
    assert proc.returncode == 0, proc.stderr
    (code, first, first_err), (code2, second, second_err) = read_run(tmp_path, "first"), read_run(tmp_path, "second")
    code3, single, single_err = read_run(tmp_path, "single")
    assert code == code2 == code3 == 0, first_err + second_err + single_err
    assert "features of 12 photo(s) computed on the Ray cluster" in first_err
    assert "features of 0 photo(s) computed on the Ray cluster" in second_err  # all found in the dataset
    parts = list((data / "libraries").glob("*/features/part-*.parquet"))
    assert parts and not list((data / "libraries").glob("*/features/.*"))  # no temporary file, no marker left
    assert feature_rows(data) == 0  # not in the index's table, and the single-machine run computed none
    assert len(scores_by_photo(first)) == 6 and first == second == single
    for err in (first_err, second_err):  # the rank rows carried where the features are; the actors read them
        assert "6 photo(s) ranked on the Ray cluster" in err and "(6 read by the workers)" in err, err
    assert "Traceback" not in first_err + second_err + single_err


@pytest.mark.slow  # a Ray cluster and one phototag process
@needs_cluster
def test_workers_that_cannot_see_the_index_folder_send_the_features_back(tmp_path):
    """The cluster's mount namespace covers the index's folder with an empty tmpfs (an index on the driver's own
    disk): the probe's marker is not found there, one line says so, and the features go to the index's table."""
    library = make_library(tmp_path / "Pictures")
    hidden = tmp_path / "private"
    data = hidden / "data"
    data.mkdir(parents=True)
    prefix = f'unshare -m sh -c \'mount -t tmpfs none {hidden} && exec "$0" "$@"\' '
    proc = run_in_namespace(
        suggest_line(library, data, tmp_path / "ray", "--json", "--ray", "auto"), tmp_path, ray_prefix=prefix
    )
    assert proc.returncode == 0, proc.stderr
    code, out, err = read_run(tmp_path, "ray")
    assert code == 0, err
    assert "features kept in the index on this machine: the Ray workers on node " in err, err
    assert "do not see the feature folder" in err
    assert "features of 12 photo(s) computed on the Ray cluster" in err
    assert feature_rows(data) == 12 and not list((data / "libraries").glob("*/features"))
    assert len(scores_by_photo(out)) == 6 and "Traceback" not in err
    assert "(0 read by the workers)" in err  # the features went with the rank rows, as before


@pytest.mark.slow  # loads the backbone
@pytest.mark.skipif(not ray_installed(), reason="needs Ray (pip install '.[ray]')")
def test_a_rank_actor_ranks_a_pickled_recommender_as_one_machine(tmp_path):
    """The RankActor, called directly, with a pickled copy of the driver's fitted recommender (what ray.put sends):
    the same present tags, suggestions, scores and sources as SuggestSession.results on one machine."""
    import pickle

    from phototag.app.cluster_stages import RankActor, rank_payload
    from phototag.app.suggest import SuggestOptions, SuggestSession
    from phototag.library.index import Index
    from phototag.model.features import cached_features
    from phototag.reporting import CollectingReporter

    library = make_library(tmp_path / "Pictures")
    with Index(tmp_path / "index.sqlite", library) as index:
        session = SuggestSession(index, SuggestOptions(device="onnx", min_score=0), CollectingReporter())
        session.load()
        single = [r for results in session.results() for r in results]
        session.recommender.prepare()
        actor = RankActor([pickle.loads(pickle.dumps(session.recommender))], top_k=5, min_score=0)
        payload = rank_payload(session.targets, cached_features(index, session.targets, session.extractor))
        out = actor({"group": [7], "photos": [payload]})
    assert list(out["group"]) == [7] and list(out["pid"]) == [os.getpid()]
    ranked = pickle.loads(out["results"][0])
    assert len(single) == len(ranked) == 6 and any(r.suggestions for r in single)
    assert [(r.present, r.suggestions) for r in single] == [(present, chosen) for present, chosen in ranked]


@pytest.mark.slow  # a Ray cluster, a training and two phototag processes
@needs_cluster
def test_a_personal_model_ranks_on_the_cluster_as_on_one_machine(tmp_path):
    """The recommender sent to the ranking actors carries the personal model (its PyTorch heads rebuilt there)."""
    from tests.train.small_library import LOOKS, build_library, make_photo

    library = build_library(tmp_path / "lib", per_look=5)  # 20 tagged photos
    for n, (colour, _) in enumerate(list(LOOKS.values()) * 2):
        make_photo(library / "new" / f"n{n}.jpg", colour, 100 + n)
    data = tmp_path / "data"
    train = (
        f"PHOTOTAG_DATA_DIR={data} {sys.executable} -m phototag finetune {library} --device onnx --epochs 3 "
        f"--batch-size 8 --min-count 2 --seed 3 >{tmp_path}/train.out 2>&1"
    )
    lines = [train] + [
        suggest_line(library, data, tmp_path / name, "--json", "--model", "personal", *extra)
        for name, extra in (("single", []), ("ray", ["--ray", "auto"]))
    ]
    proc = run_in_namespace("\n".join(lines), tmp_path)
    assert proc.returncode == 0, proc.stderr + (tmp_path / "train.out").read_text()
    (code, single, single_err), (ray_code, ray, ray_err) = read_run(tmp_path, "single"), read_run(tmp_path, "ray")
    assert code == ray_code == 0, ray_err
    expected = scores_by_photo(single)
    assert len(expected) == 8 and all(r["model"].startswith("personal:") for r in map(json.loads, single.splitlines()))
    assert any("personal" in s["source"] for r in map(json.loads, single.splitlines()) for s in r["suggestions"])
    assert_same_suggestions(expected, scores_by_photo(ray))
    assert "8 photo(s) ranked on the Ray cluster" in ray_err and "Traceback" not in ray_err + single_err


@pytest.mark.slow  # loads the backbone
@pytest.mark.skipif(not ray_installed(), reason="needs Ray (pip install '.[ray]')")
def test_cluster_ranking_gives_back_the_single_machine_order_and_chunks(tmp_path, monkeypatch):
    """ClusterSuggestSession.results over several windows and chunks, with a stand-in for the cluster that runs
    the RankActor here and returns the groups shuffled, two a batch: the same lists, in the same order and
    chunks, as SuggestSession.results."""

    import numpy as np

    from phototag.app import cluster, cluster_stages, suggest
    from phototag.library.index import Index
    from phototag.reporting import CollectingReporter

    class Shuffled:
        def __init__(self, groups, recommender, top_k, min_score, cpus, features_dir=None, key=""):
            self.groups = list(groups)
            self.actor = cluster_stages.RankActor([recommender], top_k, min_score, features_dir, key)
            seen.append(len(self.groups))

        def iter_batches(self, **_):
            random.Random(len(seen)).shuffle(self.groups)
            for first in range(0, len(self.groups), 2):
                rows = self.groups[first : first + 2]
                yield self.actor({"group": np.array([r["group"] for r in rows]), "photos": [r["photos"] for r in rows]})

    seen: list[int] = []
    rank_in_process(monkeypatch, Shuffled)
    library = make_library(tmp_path / "Pictures")
    options = suggest.SuggestOptions(device="onnx", min_score=0, only_untagged=False)
    with Index(tmp_path / "index.sqlite", library) as index:
        single = suggest.SuggestSession(index, options, CollectingReporter())
        single.load()
        expected = [[(r.photo.id, r.present, r.suggestions) for r in results] for results in single.results()]
        reporter = CollectingReporter()
        session = cluster.ClusterSuggestSession(index, options, reporter, "fake")
        session.load()
        got = [[(r.photo.id, r.present, r.suggestions) for r in results] for results in session.results()]
    assert [len(chunk) for chunk in expected] == [3, 3, 3, 3] and seen == [2, 2]
    assert got == expected and session.ranked == 12
    assert any(
        "12 photo(s) ranked on the Ray cluster (fake: 2 CPU(s), 0 GPU(s)) by 1 worker" in m and "(0 read by" in m
        for m in reporter.notes
    )
    assert [(t.description, t.done) for t in reporter.tasks[-1:]] == [("Ranking on the Ray cluster", 12)]


@pytest.mark.slow  # loads the backbone
@pytest.mark.skipif(not ray_installed(), reason="needs Ray (pip install '.[ray]')")
def test_rank_actors_read_the_parquet_features_themselves(tmp_path, monkeypatch):
    """With the features in the shared Parquet dataset (none in the index's table), the rank rows carry only where
    they are and the RankActor reads them; the parts located for the first window are compacted away before its
    actors read (so the driver ranks those groups itself), the second window's are read from the merged part: the
    same lists, order and chunks as SuggestSession.results."""
    import pickle

    import numpy as np

    from phototag.app import cluster, cluster_stages, suggest
    from phototag.library import feature_parquet, feature_store
    from phototag.library.index import Index
    from phototag.reporting import CollectingReporter

    class Compacting:
        def __init__(self, groups, recommender, top_k, min_score, cpus, features_dir=None, key=""):
            self.groups = list(groups)
            self.actor = cluster_stages.RankActor([recommender], top_k, min_score, features_dir, key)
            arrays_sent.extend(len(pickle.loads(g["photos"])[1]) for g in self.groups)
            if not arrays_sent[len(self.groups) :]:  # the first window: its located parts merged away meanwhile
                assert feature_parquet.compact(features_dir, target_rows=1000, min_parts=2).merged == 4

        def iter_batches(self, **_):
            for row in self.groups:
                yield self.actor({"group": np.array([row["group"]]), "photos": [row["photos"]]})

    arrays_sent: list[int] = []
    rank_in_process(monkeypatch, Compacting)
    library = make_library(tmp_path / "Pictures")
    options = suggest.SuggestOptions(device="onnx", min_score=0, only_untagged=False)
    with Index(tmp_path / "index.sqlite", library) as index:
        single = suggest.SuggestSession(index, options, CollectingReporter())
        single.load()
        expected = [[(r.photo.id, r.present, r.suggestions) for r in results] for results in single.results()]
        key, fingerprints = single.extractor.key, [p.fingerprint for p in single.photos]
        features = feature_store.get_many(index, fingerprints, key)
        directory = feature_parquet.dataset_dir(index)
        for first in range(0, len(fingerprints), 3):  # as the actors write them: small parts
            feature_parquet.write_part(directory, {fp: features[fp] for fp in fingerprints[first : first + 3]}, key)
        with index.write() as db:
            db.execute("DELETE FROM features")  # only the dataset holds them now
        reporter = CollectingReporter()
        session = cluster.ClusterSuggestSession(index, options, reporter, "fake")
        session.features_dir = directory
        session.load()
        got = [[(r.photo.id, r.present, r.suggestions) for r in results] for results in session.results()]
        assert feature_rows_in(index) == 0  # nothing recomputed on the driver
    assert got == expected and session.ranked == 12 and session.read_by_workers == 6
    assert arrays_sent == [0, 0, 0, 0]  # no feature array in any rank row
    assert any("12 photo(s) ranked on the Ray cluster" in m and "(6 read by the workers)" in m for m in reporter.notes)
    assert reporter.warnings == []


def feature_rows_in(index) -> int:
    return index.connection.execute("SELECT COUNT(*) FROM features").fetchone()[0]


def rank_in_process(monkeypatch, rank_dataset) -> None:
    """A fake cluster of 2 CPUs in this process: `rank_dataset` stands in for cluster_stages.rank_dataset, ray.put
    passes the value itself, and the targets go in two windows of two chunks of 3 photos."""
    import contextlib

    import ray

    from phototag.app import cluster, cluster_stages, suggest

    monkeypatch.setattr(cluster, "connect", lambda address: contextlib.nullcontext(cluster.Cluster(address, 2, 0)))
    monkeypatch.setattr(cluster_stages, "rank_dataset", rank_dataset)
    monkeypatch.setattr(ray, "put", lambda value: value)
    for module in (suggest, cluster):
        monkeypatch.setattr(module, "CHUNK", 3)
    monkeypatch.setattr(cluster, "RANK_CHUNKS", 2)  # two windows of two chunks
