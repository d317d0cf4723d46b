"""The training loop around `GAN`: data on the device, epochs, the metric log, the validation
estimate and model selection, snapshots, checkpoints and resumption; `train` writes the run's
model.pt and train.json.

Runs resume from checkpoint.pt in the output folder; on the CPU a resumed run ends bit for bit
where an uninterrupted one would.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ganrepro.arrays import data_digest
from ganrepro.data.prepared import load_labels, load_split, read_meta
from ganrepro.density import parzen_log_density
from ganrepro.device import keep_freed_memory, resolve_device
from ganrepro.errors import UserError
from ganrepro.gan_config import VALIDATION_KEYS, TrainConfig
from ganrepro.io import write_json
from ganrepro.models.artifacts import cpu_state_dict, save_model
from ganrepro.models.networks import check_data_shape, generate
from ganrepro.training import checkpoint, metric_log
from ganrepro.training.gan import GAN, Batch
from ganrepro.training.metric_log import MetricLog, log_progress
from ganrepro.training.objective import METRIC_NAMES

log = logging.getLogger(__name__)
PROGRESS_SECONDS = 30  # between progress lines when there is no terminal for the bar


class Trainer:
    """The training loop around `GAN`. Nothing in the loop synchronises with the device except
    every `log_every` iterations."""

    def __init__(self, cfg: TrainConfig, data_path: Path, out_dir: Path, dataset: str | None = None) -> None:
        self.cfg, self.out_dir = cfg, out_dir
        self.parzen_grid = cfg.valid_sigmas
        self.device = resolve_device(cfg.device)
        keep_freed_memory()
        self.meta = read_meta(data_path)
        self.dataset = dataset or self.meta.get("dataset")  # the name model files record
        check_data_shape(cfg.arch, self.meta["example_shape"], f"{self.dataset} ({data_path})")
        x = _as_rows(load_split(data_path, "train", unit=False))
        if cfg.train_limit:
            x = x[: cfg.train_limit]
        self.unit_scale = float(self.meta.get("unit_scale", 1))
        y = load_labels(data_path, "train")[: len(x)]
        self.data_digest = data_digest(x, np.array(self.unit_scale), *([y] if cfg.conditional else []))
        self.x_train = torch.from_numpy(x).to(self.device)
        self.y_train = torch.from_numpy(y).to(self.device)
        self.n_classes = int(self.meta.get("num_classes") or 0)
        if cfg.conditional and (not self.n_classes or (self.y_train < 0).any()):
            raise UserError(f"train.*.conditional: {data_path} has no labels for every training example")
        x_valid = _as_rows(load_split(data_path, "valid"))
        self.x_valid = torch.from_numpy(x_valid[: cfg.valid_points] if cfg.valid_points else x_valid)
        self.data_dim = self.x_train.shape[1]
        torch.manual_seed(cfg.seed)
        pixel_means = self.x_train.float().mean(0) / self.unit_scale
        self.gan = GAN(cfg, self.data_dim, self.n_classes, self.device, pixel_means)
        self.batch = cfg.batch_size
        self.steps_per_epoch = len(self.x_train) // (self.batch * cfg.k)
        if self.steps_per_epoch == 0:
            raise UserError(
                f"train.*.batch_size x k ({self.batch} x {cfg.k}) exceeds the {len(self.x_train)} training examples"
            )
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.step, self.perm = 0, None
        self.seconds_before = 0.0  # training time of the runs this one resumes
        self.seconds_total = 0.0  # training time up to the last checkpoint
        self.t_start = time.perf_counter()
        self.valid_history: list[dict[str, float]] = []
        self.best: dict[str, Any] | None = None
        self.ckpt_path = out_dir / checkpoint.NAME
        self.trained_on = str(self.device)  # the device of the last training segment (train.json's)
        self.log = MetricLog(out_dir / metric_log.NAME)

    # -- checkpoints ---------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        self.seconds_total = self.seconds_before + time.perf_counter() - self.t_start
        self.trained_on = str(self.device)
        checkpoint.save(
            self.ckpt_path,
            {
                "step": self.step,
                "config": self.cfg.as_dict(),
                "gan": self.gan.state_dict(),
                "perm": self.perm,
                **checkpoint.rng_states(self.device),
                "valid_history": self.valid_history,
                "best": self.best,
                "log": self.log.lines,
                "seconds_total": self.seconds_total,
                "data": self.data_digest,
                "device": self.trained_on,
            },
        )
        self.log.save()

    def try_resume(self, if_changed: str = "error") -> bool:
        """Resume from the checkpoint if there is one. One that is truncated or corrupted, was made
        with other parameters or is past this run's budget is an error, or with if_changed='restart'
        is discarded."""
        state, why = checkpoint.resumable(self.ckpt_path, self.cfg, self.total_steps, if_changed, data=self.data_digest)
        if state is None:
            self._start_afresh(why)
            return False
        self.gan.load_state_dict(state["gan"])
        self.step = state["step"]
        self.perm = None if state["perm"] is None else state["perm"].to(self.device)
        checkpoint.restore_rng_states(state, self.device)
        self.valid_history, self.best = state["valid_history"], state["best"]
        saved, new = state["config"], self.cfg.as_dict()
        estimate_changed = [k for k in VALIDATION_KEYS if saved.get(k) != new.get(k)]
        if self.best is not None and estimate_changed:
            log.warning(
                f"the validation estimate changed ({', '.join(estimate_changed)}): model selection "
                f"starts again from this epoch (the best so far was epoch {self.best['epoch']})"
            )
            self.best = None
        self.seconds_before = self.seconds_total = state.get("seconds_total", 0.0)
        self.trained_on = state.get("device", self.trained_on)
        self.log.lines = state["log"]
        self.log.save()  # at once: the workflow may have deleted it, and a finished run writes no new checkpoint
        self._drop_snapshots_after(self.step // self.steps_per_epoch)
        log.info(
            f"resuming from {self.ckpt_path} at step {self.step} of {self.total_steps} "
            f"(epoch {self.step / self.steps_per_epoch:g})"
        )
        return True

    def _start_afresh(self, why: str) -> None:
        """Say why training starts from step 0; drop the outputs of a discarded run (its snapshots, its
        log, its model and summary), so that none is taken for this run's."""
        log.info(f"training from scratch: {why}")
        self._drop_snapshots_after(0)
        for path in (self.log.path, self.out_dir / "model.pt", self.out_dir / "train.json"):
            path.unlink(missing_ok=True)

    # -- the loop ------------------------------------------------------------------------------
    def batches(self, step: int) -> list[Batch]:
        i = step % self.steps_per_epoch
        if i == 0 or self.perm is None:
            self.perm = torch.randperm(len(self.x_train), device=self.device)
        out = []
        k, b = self.cfg.k, self.batch
        for j in range(k):
            idx = self.perm[(i * k + j) * b : (i * k + j + 1) * b]
            x = self.x_train.index_select(0, idx).float()  # index_select: a quarter of x_train[idx]'s time on the CPU
            if self.unit_scale != 1:
                x = x.div_(self.unit_scale)
            out.append((x, self.y_train.index_select(0, idx) if self.gan.n_classes else None))
        return out

    def run(self, show_progress: bool, if_changed: str = "error") -> dict[str, Any]:
        """Train up to the budget, resuming from the checkpoint; return what this invocation did
        (resumed, steps_this_run, seconds_this_run), which train.json leaves out so that a finished
        run invoked again rewrites its outputs byte for byte."""
        self.t_start = time.perf_counter()
        resumed = self.try_resume(if_changed)
        start_step = self.step
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not show_progress, unit="it", dynamic_ncols=True)
        acc = torch.zeros(len(METRIC_NAMES), device=self.device)
        n_acc, t_last, last_line = 0, time.perf_counter(), 0.0
        while self.step < self.total_steps:
            epoch = self.step // self.steps_per_epoch
            acc += self.gan.iteration(self.batches(self.step), epoch)
            n_acc += 1
            self.step += 1
            if self.step % self.cfg.log_every == 0 or self.step == self.total_steps:
                now = time.perf_counter()
                values = (acc / n_acc).tolist()
                self._check_finite(values)
                row = dict(zip(METRIC_NAMES, values))
                row.update(
                    step=self.step,
                    epoch=self.step / self.steps_per_epoch,
                    lr=self.gan.opt_g.lr(),
                    momentum=self.gan.opt_g.momentum(epoch),
                    examples_per_s=n_acc * self.batch * self.cfg.k / (now - t_last),
                )
                self.log.add(row)
                bar.update(n_acc)
                bar.set_postfix(d=f"{row['d_loss']:.3f}", g=f"{row['g_loss']:.3f}", refresh=False)
                if not show_progress and now - last_line > PROGRESS_SECONDS:
                    log_progress(row, self.total_steps)
                    last_line = now
                acc.zero_()
                n_acc, t_last = 0, now
            if self.step % self.steps_per_epoch == 0:
                self._maybe_validate(self.step // self.steps_per_epoch)
                self._maybe_snapshot(self.step // self.steps_per_epoch)
            if self.step % self.cfg.checkpoint_every == 0 or self.step == self.total_steps:
                self.save_checkpoint()
        bar.close()
        this_run = {
            "resumed": resumed,
            "steps_this_run": self.step - start_step,
            "seconds_this_run": time.perf_counter() - self.t_start,
        }
        log.info(
            f"{this_run['steps_this_run']} steps this run ({this_run['seconds_this_run']:.0f} s); "
            f"{self.step} of {self.total_steps} in all ({self.seconds_total:.0f} s of training)"
        )
        return this_run

    def _check_finite(self, values: list[float]) -> None:
        if all(math.isfinite(v) for v in values):
            return
        shown = ", ".join(f"{k}={v:.4g}" for k, v in zip(METRIC_NAMES, values))
        kept = (
            f"the last good checkpoint ({self.ckpt_path}) is kept"
            if self.ckpt_path.exists()
            else "no checkpoint was written"
        )
        raise UserError(
            f"non-finite loss before step {self.step} ({shown}); training stopped and {kept}. "
            "Lower train.*.lr or check the data's value range."
        )

    def _maybe_validate(self, epoch: int) -> None:
        every = self.cfg.valid_every
        if not every or (epoch % every and epoch != self.cfg.epochs):
            return
        samples = generate(self.gan.G, self.cfg, self.cfg.valid_samples, self.cfg.seed + epoch)
        scores = parzen_log_density(self.x_valid.numpy(), samples["x"], self.parzen_grid, device=self.device).mean(
            axis=1
        )
        best_i = int(np.argmax(scores))
        entry = {
            "epoch": epoch,
            "step": self.step,
            "log_likelihood": float(scores[best_i]),
            "sigma": float(self.parzen_grid[best_i]),
            "samples": self.cfg.valid_samples,
            "points": len(self.x_valid),
        }
        self.valid_history.append(entry)
        if self.best is None or entry["log_likelihood"] > self.best["log_likelihood"]:
            self.best = {**entry, "G": cpu_state_dict(self.gan.G)}
        log.info(f"epoch {epoch}: validation Parzen {entry['log_likelihood']:.1f} (sigma {entry['sigma']:.3f})")

    def _maybe_snapshot(self, epoch: int) -> None:
        """Every `snapshot_every` epochs, the networks as they are, as a model file of their own
        (snapshots/epoch_0100.pt): `ganrepro sample --model` evaluates it like model.pt."""
        every = self.cfg.snapshot_every
        if every and epoch % every == 0:
            path = self.out_dir / "snapshots" / f"epoch_{epoch:04d}.pt"
            save_model(path, self.gan.G, self.gan.D, self.model_meta("last", {"epoch": epoch, "step": self.step}))

    def _drop_snapshots_after(self, epoch: int) -> None:
        """Snapshots belong to the run being continued: remove those past its checkpoint (a killed run
        wrote them) or, for a fresh start, all of them."""
        for path in (self.out_dir / "snapshots").glob("epoch_*.pt"):
            number = path.stem.removeprefix("epoch_")
            if number.isdigit() and int(number) > epoch:
                path.unlink()

    def model_meta(self, selection: str, selected: dict[str, Any]) -> dict[str, Any]:
        """What a model file records besides the networks (artifacts.save_model)."""
        return {
            "config": self.cfg.as_dict(),
            "dataset": self.dataset,
            "seed": self.cfg.seed,
            "data_dim": self.data_dim,
            "example_shape": self.meta["example_shape"],
            "n_classes": self.n_classes,
            "kind": self.meta["kind"],
            "selection": selection,
            "selected": selected,
        }


def _as_rows(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.reshape(len(x), -1))


def train(cfg: TrainConfig, dataset: str, data_path: Path, out_dir: Path, if_changed: str = "error") -> dict[str, Any]:
    """Train (or resume) one model; write model.pt (the selected generator), train.json and train_log.csv.
    Their contents follow from the checkpoint alone: a finished run invoked again (the DVC train stage
    forces its training commands) rewrites them byte for byte, and what is evaluated from them is not
    redone. Returns train.json's record with this invocation's facts added (Trainer.run)."""
    trainer = Trainer(cfg, data_path, out_dir, dataset)  # checks the data before any folder is made
    out_dir.mkdir(parents=True, exist_ok=True)
    this_run = trainer.run(show_progress=sys.stderr.isatty(), if_changed=if_changed)
    use_best = cfg.select == "best_valid" and trainer.best is not None
    G = trainer.gan.G
    if use_best:
        G.load_state_dict(trainer.best["G"])
    selected = (
        {k: v for k, v in trainer.best.items() if k != "G"} if use_best else {"epoch": cfg.epochs, "step": trainer.step}
    )
    meta = trainer.model_meta("best_valid" if use_best else "last", selected)
    save_model(out_dir / "model.pt", G, trainer.gan.D, meta)
    summary = {
        "dataset": dataset,
        "seed": cfg.seed,
        "device": trainer.trained_on,
        "steps": trainer.step,
        "seconds_total": trainer.seconds_total,
        "epochs": cfg.epochs,
        "steps_per_epoch": trainer.steps_per_epoch,
        "selection": meta["selection"],
        "selected": selected,
        "valid_history": trainer.valid_history,
    }
    write_json(out_dir / "train.json", summary)
    return {**summary, **this_run}
