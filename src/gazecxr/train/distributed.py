"""Process-group handling for ``torchrun`` (one process per device, or several CPU processes).

Gradients are averaged with one coalesced ``all_reduce`` per step after ``backward`` instead of
wrapping the model in :class:`torch.nn.parallel.DistributedDataParallel`: the training objective
calls the model's text and fixation encoders outside ``forward`` (``model.encode_text``,
``model.encode_fixations``), which DDP's reducer cannot track (it would either miss those
gradients or see parameters "marked ready twice"). Averaging after ``backward`` is exactly the
synchronous data-parallel update, for any pattern of parameter use.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group started by ``torchrun`` (env ``WORLD_SIZE`` > 1); no-op otherwise.

    Backend: NCCL on CUDA, gloo on CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every process."""
    if not info.enabled:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def average_gradients(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    """Average ``.grad`` over processes in one flat all-reduce.

    A parameter without a gradient on every process keeps ``grad=None`` (as in one process, so the
    optimiser skips it); one with a gradient on some processes only counts as zero on the others.
    """
    if not info.enabled:
        return
    has_grad = torch.tensor([p.grad is not None for p in params], dtype=torch.int32)
    dist.all_reduce(has_grad)
    grads = []
    for p, used in zip(params, has_grad.tolist(), strict=True):
        if not used:
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= info.world_size
    for g, synced in zip(grads, _unflatten_dense_tensors(flat, grads), strict=True):
        g.copy_(synced)


def mean_count(info: DistInfo) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """For the objective's ``count``: a count of this process's batch -> the sum over processes
    divided by their number (None in one process: the objective then uses its own count). With
    these denominators, averaging the gradients over processes gives exactly the gradient of one
    process on the whole batch, whatever share of known labels or usable gaze each one holds."""
    if not info.enabled:
        return None

    def count(n: torch.Tensor) -> torch.Tensor:
        total = n.detach().clone()
        dist.all_reduce(total)
        return total / info.world_size

    return count


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """Rank 0's decision (e.g. early stopping) on every process."""
    if not info.enabled:
        return flag
    t = torch.tensor([int(flag)])
    dist.broadcast(t, src=0)
    return bool(t.item())


def gather_objects(obj: object, info: DistInfo) -> list[object]:
    """Every process's ``obj`` (rank order) on every process."""
    if not info.enabled:
        return [obj]
    out: list[object] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
