"""Personal checkpoints: verified on load, broken ones refused, resume state round-trips."""

import json

import pytest
import torch

from phototag.model import checkpoint as ck
from phototag.model.weights import sha256_file


def _save(tmp_path, value=1.0, vocabulary=("cat", "dog")):
    heads = {"layer.weight": torch.full((2, 3), value), "layer.bias": torch.zeros(2)}
    histories = torch.tensor([[1.0, 0.5]])
    meta = {"vocabulary": list(vocabulary), "model_kwargs": {}, "owners": ["me"], "hierarchy": {"cat": "Animals|cat"}}
    return ck.save_model(tmp_path, heads, histories, meta)


def test_save_and_load_latest_good(tmp_path):
    first = _save(tmp_path, 1.0)
    second = _save(tmp_path, 2.0)
    assert second.name > first.name
    loaded = ck.load_latest_good(tmp_path)
    assert loaded.id == second.name
    assert torch.equal(loaded.heads_state()["layer.weight"], torch.full((2, 3), 2.0))
    assert (
        loaded.vocabulary == ["cat", "dog"]
        and loaded.tag_path("cat") == "Animals|cat"
        and loaded.tag_path("dog") == "dog"
    )
    assert loaded.history_for("me").tolist() == [1.0, 0.5]
    meta = json.loads((second / "meta.json").read_text())
    assert meta["sha256"] == sha256_file(second / "heads.safetensors")
    assert meta["phototag_version"] and meta["created"]


def test_wrong_checksum_is_refused_and_older_model_used(tmp_path):
    good = _save(tmp_path, 1.0)
    bad = _save(tmp_path, 2.0)
    data = bytearray((bad / "heads.safetensors").read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the weights
    (bad / "heads.safetensors").write_bytes(bytes(data))
    warnings = []
    loaded = ck.load_latest_good(tmp_path, warn=warnings.append)
    assert loaded.id == good.name
    assert len(warnings) == 1 and "checksum mismatch" in warnings[0]
    with pytest.raises(ck.CheckpointError):
        ck.load_model(bad)
    infos = {i.id: i for i in ck.list_checkpoints(tmp_path)}
    assert not infos[bad.name].ok and infos[good.name].ok


def test_partial_checkpoints_are_never_used(tmp_path):
    good = _save(tmp_path, 1.0)
    models = tmp_path / "models"
    # a folder without meta.json (as if copied half-way) and an interrupted temporary write
    (models / "29990101T000000000000Z").mkdir()
    (models / "29990101T000000000000Z" / "heads.safetensors").write_bytes(b"\0" * 10)
    (models / ".tmp-29990101T000000000001Z-1").mkdir()
    truncated = _save(tmp_path, 3.0)
    payload = (truncated / "heads.safetensors").read_bytes()
    (truncated / "heads.safetensors").write_bytes(payload[: len(payload) // 2])
    warnings = []
    assert ck.load_latest_good(tmp_path, warn=warnings.append).id == good.name
    assert len(warnings) == 2
    assert [i.ok for i in ck.list_checkpoints(tmp_path)] == [False, False, True]


def test_no_model_at_all(tmp_path):
    assert ck.load_latest_good(tmp_path) is None and ck.list_checkpoints(tmp_path) == []


def test_resume_state_round_trip_and_signature(tmp_path):
    state = {"epoch": 3, "weights": {"w": torch.arange(4.0)}, "rng": torch.get_rng_state()}
    ck.save_resume_state(tmp_path, state, signature="abc")
    ck.save_resume_state(tmp_path, dict(state, epoch=4), signature="abc")
    assert len(list((tmp_path / "finetune-resume").iterdir())) == 1  # only the newest is kept
    loaded = ck.load_resume_state(tmp_path, "abc")
    assert loaded["epoch"] == 4 and torch.equal(loaded["weights"]["w"], torch.arange(4.0))
    warnings = []
    assert ck.load_resume_state(tmp_path, "other", warn=warnings.append) is None
    assert "other photos" in warnings[0]
    folder = next((tmp_path / "finetune-resume").iterdir())
    (folder / "state.pt").write_bytes(b"garbage")
    assert ck.load_resume_state(tmp_path, "abc", warn=warnings.append) is None
    assert "checksum" in warnings[-1]


def test_the_choice_of_model_round_trips_and_removing_the_one_in_use_leaves_none(tmp_path):
    older, newer = _save(tmp_path, 1.0), _save(tmp_path, 2.0)
    assert ck.chosen(tmp_path) is None and ck.load_in_use(tmp_path).id == newer.name  # never chosen: the newest
    ck.choose(tmp_path, older.name)
    assert ck.chosen(tmp_path) == older.name and ck.load_in_use(tmp_path).id == older.name
    assert ck.in_use(ck.list_checkpoints(tmp_path), ck.chosen(tmp_path)) == older.name
    ck.choose(tmp_path, ck.GENERAL)
    assert ck.load_in_use(tmp_path) is None and ck.in_use(ck.list_checkpoints(tmp_path), ck.GENERAL) is None
    ck.choose(tmp_path, older.name)
    outside = tmp_path / "keep.txt"
    outside.write_text("not phototag's model")
    assert ck.remove_model(tmp_path, older.name) == older
    assert not older.exists() and newer.exists() and outside.read_text() == "not phototag's model"
    assert ck.chosen(tmp_path) == ck.GENERAL and ck.load_in_use(tmp_path) is None  # no silent switch to `newer`
    assert ck.remove_model(tmp_path, newer.name) == newer and ck.list_checkpoints(tmp_path) == []
    with pytest.raises(KeyError):
        ck.remove_model(tmp_path, "../keep.txt")
    assert outside.exists()


def test_a_chosen_model_that_broke_is_reported_and_suggest_goes_without(tmp_path):
    older, _newer = _save(tmp_path, 1.0), _save(tmp_path, 2.0)
    ck.choose(tmp_path, older.name)
    (older / "heads.safetensors").write_bytes(b"broken")
    warnings = []
    assert ck.load_in_use(tmp_path, warn=warnings.append) is None  # not the newer one behind the person's back
    assert len(warnings) == 1 and "chosen for suggest is unusable" in warnings[0] and "checksum" in warnings[0]
    (tmp_path / "models" / ck.CHOICE_FILE).write_text('{"use": "../../elsewhere"}')
    assert ck.chosen(tmp_path) is None  # a choice is a folder name inside models/, never a path


def test_a_payload_that_matches_its_checksum_but_does_not_parse_is_listed_as_broken(tmp_path):
    good = _save(tmp_path, 1.0)
    bad = _save(tmp_path, 2.0)
    (bad / "heads.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{bad}json")
    meta = json.loads((bad / "meta.json").read_text())
    meta["sha256"] = sha256_file(bad / "heads.safetensors")
    (bad / "meta.json").write_text(json.dumps(meta))
    infos = ck.list_checkpoints(tmp_path)
    assert [(i.id, i.ok) for i in infos] == [(bad.name, False), (good.name, True)]
    assert "unreadable heads.safetensors" in infos[0].problem
