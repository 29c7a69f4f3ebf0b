"""Seeded splits by photo, owner or folder on small hand-made cases."""

import pytest

from phototag.train.split import split_groups, split_items, split_key


def test_grouped_split_keeps_groups_whole_and_is_seeded():
    owners = ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"] * 10
    mask = split_groups(owners, 0.25, seed=1)
    for owner in set(owners):
        sides = {bool(m) for o, m in zip(owners, mask) if o == owner}
        assert len(sides) == 1
    assert 0 < mask.sum() < len(owners)
    assert (split_groups(owners, 0.25, seed=1) == mask).all()
    # the order of the input does not change which groups are held out
    reversed_mask = split_groups(owners[::-1], 0.25, seed=1)[::-1]
    assert (reversed_mask == mask).all()


def test_photo_split_fraction_and_seed_changes_it():
    items = list(range(100))
    kept, held = split_items(items, items, 0.2, seed=0)
    assert len(held) == 20 and len(kept) == 80 and not set(kept) & set(held)
    _, other = split_items(items, items, 0.2, seed=1)
    assert set(other) != set(held)
    with pytest.raises(ValueError):
        split_groups(items, 1.0, seed=0)


def test_photo_split_keeps_identical_copies_together():
    from phototag.library.index import PhotoRow

    def row(pid, fingerprint, folder):
        return PhotoRow(pid, None, b"", f"{folder}/{pid}.jpg", folder, 1, 1, fingerprint, None, None, None, "ok", None)

    photos = [row(i, f"fp{i // 2}", "a" if i < 10 else "b") for i in range(20)]  # pairs of byte-identical copies
    keys = [split_key(p, None, "photo") for p in photos]
    for seed in range(5):
        kept, held = split_items(photos, keys, 0.3, seed)
        assert not {p.fingerprint for p in kept} & {p.fingerprint for p in held}
    assert {split_key(p, None, "folder") for p in photos} == {"a", "b"}
