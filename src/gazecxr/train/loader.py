"""Data loading that can be resumed exactly, in one process or under DDP.

Exact resume needs two things from the input pipeline:

1. the *order* of samples in an epoch must be a function of (seed, epoch) only; it comes from
   :class:`torch.utils.data.DistributedSampler` (also with one process), and a resumed epoch
   skips the batches already done by index, without loading them;
2. the *augmentation* of a sample must not depend on which worker loaded it or on what was
   loaded before: :class:`SeededDataset` draws every sample under its own RNG seed derived from
   (seed, epoch, dataset index), inside a saved-and-restored RNG context, so the training
   process's own RNG stream (dropout, modality dropout, gaze shuffling) is untouched by loading.
"""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from gazecxr.config import to_dict
from gazecxr.experiment import ExperimentConfig


@contextmanager
def seeded_rng(seed: int) -> Iterator[None]:
    """Run a block with torch (CPU)/NumPy/``random`` seeded to ``seed``, restoring all three afterwards.

    Only the CPU generator: ``torch.manual_seed`` would also queue a lazy seeding call, with its
    formatted stack, for every accelerator backend not yet initialised: once per decoded sample,
    1.9 s of a profiled 66 s demo run)."""
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002 - the global generator is what third-party code draws from
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        np.random.seed(seed % 2**32)  # noqa: NPY002 - the global generator is what third-party code draws from
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)  # noqa: NPY002 - the global generator is what third-party code draws from
            random.setstate(py_state)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed that depends on (seed, epoch, index) only."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


# Decoded deterministic samples shared by every run of this process that reads the same data
# with the same data/gaze settings (an ablation trains dozens of runs on one cohort).
_SAMPLE_CACHES: OrderedDict[str, dict[int, Any]] = OrderedDict()
MAX_SAMPLE_CACHES = 4


def shared_sample_cache(*key_parts: Any) -> dict[int, Any]:
    """The process-wide sample cache for a (root, split, settings) key; least recently used dropped."""
    key = json.dumps(key_parts, sort_keys=True, default=str)
    cache = _SAMPLE_CACHES.pop(key, None)
    _SAMPLE_CACHES[key] = cache if cache is not None else {}
    while len(_SAMPLE_CACHES) > MAX_SAMPLE_CACHES:
        _SAMPLE_CACHES.popitem(last=False)
    return _SAMPLE_CACHES[key]


class SeededDataset(Dataset):
    """Wraps a dataset so that item ``i`` in epoch ``e`` is drawn under seed (seed, e, i).

    ``cache`` (a dict, e.g. from :func:`shared_sample_cache`) keeps the first draw of every item
    and returns it afterwards; only valid when the wrapped dataset is deterministic (no
    augmentation).
    """

    def __init__(self, dataset: Dataset, seed: int, cache: dict[int, Any] | None = None) -> None:
        self.dataset = dataset
        self.seed = seed
        self.epoch = 0
        self.cache = cache

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> Any:
        if self.cache is not None and index in self.cache:
            return self.cache[index]
        with seeded_rng(sample_seed(self.seed, self.epoch, index)):
            item = self.dataset[index]
        if self.cache is not None:
            self.cache[index] = item
        return item


class ResumableBatchSampler(Sampler[list[int]]):
    """Batches of a :class:`DistributedSampler`'s indices for one epoch, starting at batch ``start``.

    Args:
        sampler: yields this process's indices for the current epoch (order fixed by seed + epoch).
        batch_size: per-process batch size.
        drop_last: drop the last incomplete batch (training: keeps batch statistics and in-batch
            negatives of the contrastive terms comparable between steps).
    """

    def __init__(self, sampler: DistributedSampler, batch_size: int, drop_last: bool) -> None:
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.start = 0

    def batches(self) -> list[list[int]]:
        indices: Sequence[int] = list(self.sampler)
        out = [list(indices[i : i + self.batch_size]) for i in range(0, len(indices), self.batch_size)]
        if self.drop_last and out and len(out[-1]) < self.batch_size:
            out.pop()
        return out

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()[self.start :]

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        full = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return max(full - self.start, 0)

    def epoch_length(self) -> int:
        """Number of batches of a whole epoch (independent of ``start``)."""
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def sample_cache(cfg: ExperimentConfig, root: str | Path | None, split: str) -> dict[int, Any]:
    """Process-wide cache of a split's deterministic samples (same root, data and gaze settings)."""
    data = {k: v for k, v in to_dict(cfg.data).items() if k not in ("num_workers", "root")}
    return shared_sample_cache(str(Path(str(root)).resolve()), split, data, to_dict(cfg.gaze))
