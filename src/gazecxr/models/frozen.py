"""Frozen leading trunk stages (``model.freeze_blocks``) and the cache of their outputs.

A CNN's first blocks trained on ImageNet are generic edge and texture filters. Frozen (no
gradient, BatchNorm on its ImageNet statistics, no drop-connect) they are a fixed function of
the input image, so a training run needs their output once per image: :class:`PrefixCache`
memoises it, keyed by the bytes of the input image, and :func:`shared_prefix_cache` shares one
cache between every run of a process whose frozen stages are equal (an ablation's variants and
seeds start from the same ImageNet weights). Only a deterministic input pipeline may use it
(``data.augment: false``); with augmentation every image differs and the cache is not attached.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable

import torch
from torch import nn


def freeze(modules: Iterable[nn.Module]) -> None:
    """No gradient for the parameters of ``modules`` (their train/eval mode is the caller's)."""
    for m in modules:
        m.requires_grad_(False)


def _bytes(t: torch.Tensor) -> bytes:
    """The raw bytes of a tensor of any dtype (NumPy has no bfloat16)."""
    return t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()


def state_digest(modules: Iterable[nn.Module], *extra: object) -> str:
    """SHA-1 of the parameters and buffers of ``modules`` (values, shapes, dtypes) and ``extra``."""
    h = hashlib.sha1(repr(extra).encode())
    for m in modules:
        for name, t in [*m.named_parameters(recurse=True), *m.named_buffers(recurse=True)]:
            h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
            h.update(_bytes(t))
    return h.hexdigest()


class PrefixCache:
    """Memo of a per-image deterministic function ``fn`` of a batch, keyed by each image's bytes.

    ``cache(images (B, ...), fn)`` returns ``fn(images)`` with the rows of images seen before taken
    from the cache; ``fn`` is called once, on the new images only, and must treat every image
    independently of the others (a frozen CNN stage in eval mode does). Entries are kept until
    ``max_bytes`` is reached; after that new images are computed every time (``overflow`` counts
    them). The autocast state is part of the key (a bfloat16 result never stands in for float32).

    Args:
        max_bytes: upper bound of the stored outputs.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._store: dict[bytes, torch.Tensor] = {}
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self.overflow = 0

    def __len__(self) -> int:
        return len(self._store)

    def _keys(self, images: torch.Tensor) -> list[bytes]:
        dev = images.device.type
        tag = str(torch.get_autocast_dtype(dev)) if torch.is_autocast_enabled(dev) else "off"
        rows = images.detach().cpu().contiguous()
        return [hashlib.blake2b(tag.encode() + _bytes(r), digest_size=16).digest() for r in rows]

    def __call__(self, images: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        keys = self._keys(images)
        new: dict[bytes, int] = {}  # unseen key -> its first row (an image twice in a batch: once)
        for i, k in enumerate(keys):
            if k not in self._store:
                new.setdefault(k, i)
        self.hits += len(keys) - len(new)
        self.misses += len(new)
        if not new:
            return torch.stack([self._store[k] for k in keys])
        rows = list(new.values())
        computed = fn(images if len(rows) == len(keys) else images[rows])
        fresh = dict(zip(new, computed, strict=True))
        for k, row in fresh.items():
            size = row.numel() * row.element_size()
            if self.nbytes + size > self.max_bytes:
                self.overflow += 1
                continue
            self._store[k] = row.clone()  # a row of its own, not a view pinning the batch
            self.nbytes += size
        if len(rows) == len(keys):
            return computed
        return torch.stack([fresh[k] if k in fresh else self._store[k] for k in keys])

    def stats(self) -> dict[str, int]:
        """``images`` stored, ``bytes``, ``hits``, ``misses``, ``overflow`` (computed, not stored)."""
        return {
            "images": len(self._store),
            "bytes": self.nbytes,
            "hits": self.hits,
            "misses": self.misses,
            "overflow": self.overflow,
        }


# One cache per distinct frozen prefix, shared by the runs of this process (LRU of a few).
_CACHES: OrderedDict[str, PrefixCache] = OrderedDict()
MAX_CACHES = 2


def shared_prefix_cache(digest: str, max_bytes: int) -> PrefixCache:
    """The process-wide :class:`PrefixCache` of frozen stages with state digest ``digest``
    (:func:`state_digest`); made on first use, least recently used dropped beyond ``MAX_CACHES``."""
    cache = _CACHES.pop(digest, None)
    _CACHES[digest] = cache = cache if cache is not None else PrefixCache(max_bytes)
    while len(_CACHES) > MAX_CACHES:
        _CACHES.popitem(last=False)
    return cache
