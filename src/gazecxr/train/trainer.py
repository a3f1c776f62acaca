"""The Stage-1 training loop: AdamW, warm-up + cosine LR, early stopping, exact resume, DDP.

Resume strategy (documented in docs/training.md): the trainer checkpoints at the end of every
epoch and, with ``train.checkpoint_every = K``, every K optimiser steps inside an epoch. A
checkpoint holds weights, optimiser state, schedule position, the RNG states of every process and
the position inside the epoch. A resumed run rebuilds the epoch's sample order from (seed, epoch),
skips the batches already done without loading them, restores the RNG states and continues. Since
every sample's augmentation is seeded by (seed, epoch, index) (:mod:`gazecxr.train.loader`), the
resumed run on CPU with ``train.deterministic`` ends with bit-identical weights to an
uninterrupted one; work since the last checkpoint is redone.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from gazecxr.data.shuffle import shuffle_gaze
from gazecxr.data.splits import write_splits
from gazecxr.experiment import ExperimentConfig
from gazecxr.log import LOGGER_NAME, progress_disabled
from gazecxr.models.frozen import shared_prefix_cache
from gazecxr.runinfo import init_run_dir
from gazecxr.schema import ConfigError
from gazecxr.train import distributed
from gazecxr.train.checkpoint import (
    check_resume_config,
    load_checkpoint,
    load_module_weights,
    module_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from gazecxr.train.csvlog import CsvLog, TermWindow
from gazecxr.train.inference import choose_thresholds, infer, macro_auroc, validation_bce, write_thresholds
from gazecxr.train.loader import ResumableBatchSampler, SeededDataset, sample_cache
from gazecxr.train.rundir import BEST, LAST, RunDir
from gazecxr.train.runtime import (
    batch_to,
    device_description,
    lr_factor,
    param_groups,
    resolve_device,
    set_determinism,
)

log = logging.getLogger(f"{LOGGER_NAME}.train")


@dataclass
class Progress:
    """Trainer bookkeeping saved in every checkpoint."""

    epoch: int = 0  # epoch in progress (0-based)
    step_in_epoch: int = 0  # optimiser steps already done in that epoch
    global_step: int = 0
    best_score: float = -math.inf  # best validation macro AUROC so far
    best_epoch: int = -1
    bad_epochs: int = 0  # epochs since the best one (early stopping)
    done: bool = False


class Trainer:
    """One training run. Use :func:`train_run`; the class exists to keep the loop readable."""

    def __init__(
        self,
        cfg: ExperimentConfig,
        data_root: str | Path | None,
        out: Path,
        on_step: Callable[[int], None] | None = None,
    ) -> None:
        from gazecxr.data import build_datasets, collate
        from gazecxr.losses import Objective
        from gazecxr.models import build_model

        self.cfg, self.out, self.on_step = cfg, out, on_step
        set_determinism(cfg)
        self.device = resolve_device(cfg.train.device, int(os.environ.get("LOCAL_RANK", "0")))
        self.dist = distributed.init_distributed(self.device)
        self.global_count = distributed.mean_count(self.dist)  # the objective's denominators (exact DDP)
        if cfg.train.batch_size % self.dist.world_size:
            raise ConfigError(
                f"train.batch_size={cfg.train.batch_size} is not divisible by the "
                f"{self.dist.world_size} DDP processes"
            )
        self.amp_dtype = self._amp_dtype()

        datasets = build_datasets(cfg, root=data_root)
        self.datasets = datasets
        self.data_problems = len(datasets["train"].source.problems)
        if self.data_problems and self.dist.is_main:
            log.warning(
                "%d data problem(s) under %s (counted in run.json; `gazecxr data check ROOT` lists them)",
                self.data_problems,
                datasets["train"].source.root,
            )
        self.label_names: list[str] = list(datasets["train"].label_names)
        if len(datasets["train"]) == 0 or len(datasets["validate"]) == 0:
            raise ConfigError(
                f"{data_root}: the train or validate split is empty "
                f"({len(datasets['train'])} / {len(datasets['validate'])} readings)"
            )
        self.collate = collate
        train_cache = cfg.train.cache and not cfg.data.augment
        self.train_set = SeededDataset(
            datasets["train"], cfg.seed, cache=sample_cache(cfg, data_root, "train") if train_cache else None
        )
        self.val_set = SeededDataset(
            datasets["validate"],
            cfg.seed,
            cache=sample_cache(cfg, data_root, "validate") if cfg.train.cache else None,
        )
        self.sampler = DistributedSampler(
            self.train_set,
            num_replicas=self.dist.world_size,
            rank=self.dist.rank,
            shuffle=True,
            seed=cfg.seed,
            # No padding with repeated samples: process r takes perm[r::W] of the first W*floor(N/W),
            # so the W per-process batches of a step are exactly one single-process batch.
            drop_last=True,
        )
        per_process = cfg.train.batch_size // self.dist.world_size
        if len(self.sampler) < per_process:
            raise ConfigError(
                f"{data_root}: {len(datasets['train'])} training readings are fewer than one batch "
                f"(train.batch_size={cfg.train.batch_size}); lower train.batch_size"
            )
        self.batch_sampler = ResumableBatchSampler(self.sampler, per_process, drop_last=True)
        # An in-memory cache lives in this process, so it rules out loader worker processes.
        self.train_workers = 0 if train_cache else cfg.data.loader_workers()
        self.val_workers = 0 if cfg.train.cache else cfg.data.loader_workers()

        self.model = build_model(cfg.model, len(self.label_names), cfg.data.image_size).to(self.device)
        self.objective = Objective(cfg.loss, len(self.label_names)).to(self.device)
        modules = [self.model, self.objective]
        distributed.broadcast_module(self.model, self.dist)
        self.params = [p for m in modules for p in m.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(param_groups(modules, cfg.train.weight_decay), lr=cfg.train.lr)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.steps_per_epoch = self.batch_sampler.epoch_length()
        self.total_steps = self.steps_per_epoch * cfg.train.epochs
        self.warmup_steps = round(cfg.train.warmup_epochs * self.steps_per_epoch)
        self.progress = Progress()

    def _amp_dtype(self) -> torch.dtype | None:
        if not (self.cfg.train.amp and self.device.type == "cuda"):
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    # -- checkpoints -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        rngs = distributed.gather_objects(rng_state(), self.dist)
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {
                "global_step": self.progress.global_step,
                "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps,
            },
            "scaler": self.scaler.state_dict(),
            "rng": rngs,
            "progress": asdict(self.progress),
            "world_size": self.dist.world_size,
        }

    def save(self, name: str = LAST) -> None:
        state = self.state()  # collective: every rank takes part
        if self.dist.is_main:
            save_checkpoint(
                self.out,
                name,
                module_weights(self.model, self.objective),
                state,
                tag=str(self.progress.global_step),
            )

    def restore(self) -> None:
        weights, state = load_checkpoint(self.out, LAST)
        assert state is not None
        if state["world_size"] != self.dist.world_size:
            raise ConfigError(
                f"{self.out}: checkpoint was written by {state['world_size']} processes, resuming "
                f"with {self.dist.world_size}; resume with the same number for an exact continuation"
            )
        # The learning rate is a function of the step and this schedule: a resume whose data or
        # train.epochs / warmup_epochs give another schedule would silently change the LR curve.
        saved = state["scheduler"]
        if (saved["total_steps"], saved["warmup_steps"]) != (self.total_steps, self.warmup_steps):
            raise ConfigError(
                f"{self.out}: the checkpoint's LR schedule ({saved['total_steps']} steps, "
                f"{saved['warmup_steps']} of warm-up) differs from this resume's ({self.total_steps}, "
                f"{self.warmup_steps}): the data, train.epochs or train.warmup_epochs changed; "
                "resume with the run's own data and settings"
            )
        load_module_weights(self.model, self.objective, weights, str(RunDir(self.out).weights(LAST)))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.progress = Progress(**state["progress"])
        set_rng_state(state["rng"][self.dist.rank])
        log.info(
            "resumed %s at epoch %d, step %d of the epoch (global step %d)",
            self.out,
            self.progress.epoch + 1,
            self.progress.step_in_epoch,
            self.progress.global_step,
        )

    # -- loop --------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train from the resume point to the last epoch or early stopping: each epoch
        :meth:`train_epoch`, then :meth:`end_of_epoch` on the main process, then the last checkpoint."""
        cfg, p, rd = self.cfg, self.progress, RunDir(self.out)
        steps_log = CsvLog(rd.steps_log, "step") if self.dist.is_main else None
        epochs_log = CsvLog(rd.epochs_log, "epoch") if self.dist.is_main else None
        tb = None
        if self.dist.is_main:
            steps_log.truncate(p.global_step)
            epochs_log.truncate(p.epoch)
            from torch.utils.tensorboard import SummaryWriter

            tb = SummaryWriter(str(rd.tensorboard), purge_step=p.global_step or None)
        if cfg.model.freeze_blocks and cfg.train.cache and not cfg.data.augment:
            # after a resume has loaded the weights: the cache is keyed by the frozen ones
            self.model.prefix_cache = shared_prefix_cache(
                self.model.frozen_digest(), int(cfg.train.frozen_cache_gb * 2**30)
            )
        start = time.perf_counter()
        while not p.done and p.epoch < cfg.train.epochs:
            epoch_loss = self.train_epoch(steps_log, tb)
            distributed.broadcast_module(self.model, self.dist)  # BN running statistics of rank 0 everywhere
            stop = self.end_of_epoch(epoch_loss, epochs_log, tb) if self.dist.is_main else False
            p.done = distributed.broadcast_flag(stop, self.dist)
            p.epoch += 1
            p.step_in_epoch = 0
            p.done = p.done or p.epoch >= cfg.train.epochs
            p.best_score = float(p.best_score)
            self.save(LAST)
        if tb is not None:
            tb.close()
        timing: dict[str, Any] = {
            "train_time_s": time.perf_counter() - start
        }  # this process, from the resume point on
        if getattr(self.model, "prefix_cache", None) is not None:
            timing["frozen_cache"] = (
                self.model.prefix_cache.stats()
            )  # the process's: cumulative over its runs
        return timing

    def end_of_epoch(self, epoch_loss: float, epochs_log: CsvLog, tb: Any) -> bool:
        """The main process's work after an epoch: validate, keep the best checkpoint and its
        thresholds, log the epoch (CSV, TensorBoard, log line); True when early stopping is due."""
        cfg, p = self.cfg, self.progress
        val = infer(self.model, self.val_loader(), self.device, self.label_names, self.amp_dtype)
        score, val_bce = macro_auroc(val), validation_bce(val)
        improved = score > p.best_score
        if improved:
            p.best_score, p.best_epoch, p.bad_epochs = score, p.epoch, 0
            self.save_best(val)
        else:
            p.bad_epochs += 1
        epochs_log.append(
            {
                "epoch": p.epoch + 1,
                "step": p.global_step,
                "train_loss": epoch_loss,
                "val_macro_auroc": score,
                "val_bce": val_bce,
                "best": int(improved),
                "lr": self.optimizer.param_groups[0]["lr"],
            }
        )
        tb.add_scalar("val/macro_auroc", score, p.global_step)
        tb.add_scalar("val/bce", val_bce, p.global_step)
        log.info(
            "epoch %d/%d: train loss %.4f, val macro AUROC %.4f%s",
            p.epoch + 1,
            cfg.train.epochs,
            epoch_loss,
            score,
            " (best)" if improved else "",
        )
        if p.bad_epochs >= cfg.train.patience:
            log.info("early stopping: no validation improvement for %d epochs", p.bad_epochs)
            return True
        return False

    def save_best(self, val: Any) -> None:
        """The best checkpoint (weights only) and the thresholds chosen on this validation."""
        cfg, p = self.cfg, self.progress
        save_checkpoint(
            self.out, BEST, module_weights(self.model, self.objective), None, tag=str(p.global_step)
        )
        write_thresholds(
            self.out,
            self.label_names,
            choose_thresholds(val, cfg.eval.threshold_metric),
            cfg.eval.threshold_metric,
            p.epoch,
            val,
        )

    def _loader_generator(self) -> torch.Generator:
        # A DataLoader draws its workers' base seed when an iterator is created; from the global
        # RNG that draw would shift the dropout stream of a run resumed mid-epoch.
        return torch.Generator().manual_seed(self.cfg.seed * 100_003 + self.progress.epoch)

    def val_loader(self) -> DataLoader:
        return DataLoader(
            self.val_set,
            batch_size=self.cfg.train.batch_size,
            shuffle=False,
            num_workers=self.val_workers,
            collate_fn=self.collate,
            generator=self._loader_generator(),
        )

    def train_epoch(self, steps_log: CsvLog | None, tb: Any) -> float:
        cfg, p = self.cfg, self.progress
        self.sampler.set_epoch(p.epoch)
        self.train_set.set_epoch(p.epoch)
        self.batch_sampler.start = p.step_in_epoch
        loader = DataLoader(
            self.train_set,
            batch_sampler=self.batch_sampler,
            num_workers=self.train_workers,
            collate_fn=self.collate,
            pin_memory=self.device.type == "cuda",
            generator=self._loader_generator(),
        )
        self.model.train()
        window = TermWindow()
        total, count = 0.0, 0
        bar = tqdm(
            loader,
            total=len(self.batch_sampler),
            desc=f"epoch {p.epoch + 1}/{cfg.train.epochs}",
            disable=progress_disabled() or not self.dist.is_main,
            leave=False,
        )
        for batch in bar:
            terms = self.step(batch_to(batch, self.device))
            total, count = total + terms["loss"], count + 1
            window.add(terms)
            p.global_step += 1
            p.step_in_epoch += 1
            bar.set_postfix(loss=f"{terms['loss']:.4f}")
            if p.global_step % cfg.train.log_every == 0 or p.step_in_epoch == self.steps_per_epoch:
                means = window.pop_means()
                if steps_log is not None:
                    lr = self.optimizer.param_groups[0]["lr"]
                    steps_log.append(
                        {
                            "step": p.global_step,
                            "epoch": p.epoch + p.step_in_epoch / self.steps_per_epoch,
                            "lr": lr,
                            **means,
                        }
                    )
                    for k, v in means.items():
                        tb.add_scalar(f"train/{k}", v, p.global_step)
                    tb.add_scalar("train/lr", lr, p.global_step)
            if (
                cfg.train.checkpoint_every
                and p.step_in_epoch % cfg.train.checkpoint_every == 0
                and p.step_in_epoch < self.steps_per_epoch
            ):
                self.save(LAST)
            if self.on_step is not None:
                self.on_step(p.global_step)
        return total / max(count, 1)

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One optimiser step on a (per-process) batch; returns every loss term (``loss`` = total)."""
        cfg, p = self.cfg, self.progress
        factor = lr_factor(p.global_step, self.total_steps, self.warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.train.lr * factor
        epoch_float = p.epoch + p.step_in_epoch / self.steps_per_epoch
        if cfg.loss.gaze.shuffle:  # the control, once per batch, before the forward (ViT gaze token)
            batch = shuffle_gaze(batch)
        with torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        ):
            out = self.model.forward_batch(
                batch, texts=self.objective.needs_texts, fixations=self.objective.needs_fixations
            )
            loss, terms = self.objective(out, batch, epoch_float, count=self.global_count)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss is {loss.item()} at global step {p.global_step} "
                f"(terms: { {k: float(v) for k, v in terms.items()} }); lower train.lr"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        distributed.average_gradients(self.params, self.dist)
        if cfg.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, cfg.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return {k: float(v) for k, v in terms.items()}


def train_run(
    cfg: ExperimentConfig,
    data_root: str | Path | None,
    out: str | Path,
    resume: bool = False,
    on_step: Callable[[int], None] | None = None,
    argv: list[str] | None = None,
) -> Path:
    """Train one model into run directory ``out`` and return it.

    Args:
        cfg: experiment config (``cfg.data.root`` is used when ``data_root`` is None).
        data_root: dataset root (MIMIC-Eye, REFLACX, EGD or synthetic tree).
        out: run directory; must not hold a checkpoint unless ``resume``.
        resume: continue from ``out/checkpoint_last.*`` when it exists (start fresh otherwise);
            a finished run is returned unchanged.
        on_step: called with the global step after every optimiser step (progress hooks, tests).

    Writes config.yaml, run.json, checkpoint_{last,best}.safetensors (+ state), thresholds.json,
    log.csv (per logged step: lr and every loss term), epochs.csv, tb/ and metrics.json.
    """
    out = Path(out)
    root = data_root if data_root is not None else cfg.data.root
    if root is None:
        raise ConfigError("no dataset root: pass --data ROOT or set data.root in the config")
    # The resolved config names its data absolutely, so the run works from any directory.
    cfg = cfg.model_copy(update={"data": cfg.data.with_absolute_roots(root)})
    root = cfg.data.root
    has_ckpt = RunDir(out).weights(LAST).is_file()
    if has_ckpt and not resume:
        raise ConfigError(
            f"{out} already holds a training run; pass --resume to continue it or choose a new --out"
        )
    if has_ckpt:
        check_resume_config(out, cfg)
    trainer = Trainer(cfg, root, out, on_step=on_step)
    try:
        if has_ckpt:
            trainer.restore()
            if trainer.progress.done:
                log.info("%s is already finished; nothing to do", out)
                return out
        elif trainer.dist.is_main:
            init_run_dir(
                out,
                cfg,
                cfg.seed,
                argv,
                extra={
                    "data_root": str(root),
                    "data_problems": trainer.data_problems,
                    "world_size": trainer.dist.world_size,
                    "labels": trainer.label_names,
                    "device": device_description(trainer.device),
                    "amp_dtype": str(trainer.amp_dtype).removeprefix("torch.") if trainer.amp_dtype else None,
                },
            )
            # The patient-grouped split of every reading, so a table can be traced to its test set.
            write_splits(pd.concat([d.index for d in trainer.datasets.values()]), out)
        distributed.barrier(trainer.dist)
        timing = trainer.fit()
        if trainer.dist.is_main:
            p = trainer.progress
            summary = {
                "best_epoch": p.best_epoch + 1,
                "best_val_macro_auroc": p.best_score,
                "epochs_run": p.epoch,
                "global_steps": p.global_step,
                "stopped_early": p.epoch < cfg.train.epochs,
                "labels": trainer.label_names,
                "world_size": trainer.dist.world_size,
                # readings whose image could not be read in this process's loaders (train: skipped,
                # validate: not scored); worker processes flag them in shared memory
                "unreadable_readings": {
                    split: trainer.datasets[split].unreadable_readings() for split in ("train", "validate")
                },
                **timing,
            }
            RunDir(out).update_metrics("train", summary)
    finally:
        distributed.barrier(trainer.dist)
        distributed.shutdown(trainer.dist)
    return out
