"""Algorithm 1 of the paper with the authors' training setup: `ganrepro train`.

One training iteration = k discriminator updates and one generator update. With
`update: simultaneous` (the authors' code) the last discriminator update and the generator update
come from one forward pass: D runs once on the concatenated real and generated batch, one backward
pass gives D's gradients and the gradient at the generated images, which (per example, since D is
piecewise linear up to its logit) is rescaled into the generator's gradient. `alternating` is
Algorithm 1 as printed: D steps, then a G step through D on fresh noise.

Runs resume from `checkpoint.pt` in the output folder; on the CPU a resumed run ends bit for bit
where an uninterrupted one would.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from ganrepro.config import check_train_overrides, resolve, train_config
from ganrepro.data.prepared import load_labels, load_split, read_meta
from ganrepro.density import parzen_log_density
from ganrepro.device import keep_freed_memory, resolve_device
from ganrepro.errors import UserError
from ganrepro.io import atomic_path, write_json, write_text
from ganrepro.models.artifacts import cpu_state_dict, save_model
from ganrepro.models.networks import Linear, bias_from_marginals, build_models, check_data_shape, generate, sample_noise
from ganrepro.paper import paper_grid
from ganrepro.training import passes

# Keys that may change between a checkpoint and its resumption (budgets and bookkeeping).
# Changing the validation estimate's keys on resumption restarts model selection (scores of two
# estimates do not compare).
RESUMABLE_KEYS = {
    "epochs",
    "checkpoint_every",
    "log_every",
    "valid_every",
    "valid_samples",
    "valid_points",
    "valid_sigmas",
    "select",
    "snapshot_every",
    "device",
}
# Bumped when a checkpoint's tensors or training objective change meaning (2: maxout rows
# piece-major, see models.Maxout; D's objective halved as the authors').
CHECKPOINT_FORMAT = 2
VALIDATION_KEYS = ("valid_samples", "valid_points", "valid_sigmas")
METRIC_NAMES = ("d_loss", "g_loss", "d_real", "d_fake")
# The authors' discriminator objective is half the sum of the two cross-entropies
# (AdversaryCost2: d_obj = 0.5 * (cost(1, D(x)) + cost(0, D(G(z))))): D's gradient steps are half
# those of the plain sum at the same learning rate. The logged d_loss is the plain sum (log 4 at
# the equilibrium D = 1/2).
D_OBJECTIVE_SCALE = 0.5
LEGACY_LOG = "train_log.running.csv"  # the log being written, before its rows moved into the checkpoint
LOGIT_FLOOR = -80.0  # exp(-logit) stays finite in float32 for the generator-gradient rescaling


class MomentumSGD:
    """pylearn2's SGD: v <- mu v - lr g; p <- p + v. The learning rate is divided by `decay`
    after every update (floor `lr_min`); mu rises linearly from mu_start to mu_end between
    epochs 1 and `saturate` (pylearn2's MomentumAdjustor).

    One update = the backward passes run inside `with opt.update(epoch):`. Weights and biases of
    `models.Linear` layers attached with `take_weight_grads`, and of the layers of the hand-written
    passes (passes.py), never form a gradient: the backward pass hands (dy, x) to `receive` once
    the layer's input gradient is formed, and both are updated on the spot, v <- mu v - lr dy^T x
    as one matrix product into v (a GEMM with beta = mu; the bias's with a vector of ones), then
    p <- p + v while both are still in cache. Products arriving outside an update are discarded
    (D's, when the generator's backward pass runs through D). A layer used twice in one forward
    pass cannot be taken: autograd refuses its second backward step (the weight changed in place)."""

    def __init__(self, params: list[nn.Parameter], cfg: dict[str, Any]) -> None:
        self.params = params
        self.velocity = [torch.zeros_like(p) for p in params]
        self.lr0, self.decay, self.lr_min = cfg["lr"], cfg["lr_decay"], cfg["lr_min"]
        self.mu_start, self.mu_end, self.saturate = cfg["momentum_start"], cfg["momentum_end"], cfg["momentum_saturate"]
        self.updates = 0
        self.slot = {p: i for i, p in enumerate(params)}
        self._open: tuple[float, float] | None = None  # (mu, lr) of the update in progress
        self._taken: set[int] = set()  # indices of the parameters updated from products in it
        self._ones = torch.ones(0)  # the bias products' vector of ones (one per row of dy)

    def take_weight_grads(self, model: nn.Module) -> None:
        for layer in model.modules():
            if isinstance(layer, Linear) and layer.weight in self.slot and layer.bias in self.slot:
                layer.weight_grad_sink = self.receive

    @torch.no_grad()
    def receive(self, weight: torch.Tensor, bias: torch.Tensor, dy: torch.Tensor, x: torch.Tensor) -> None:
        """The products of one layer (weight W, bias b, output gradient dy, input x): W and b updated now."""
        if self._open is None:
            return
        mu, lr = self._open
        i, j = self.slot[weight], self.slot[bias]
        v, v_bias = self.velocity[i], self.velocity[j]
        torch.addmm(v, dy.t(), x, beta=mu, alpha=-lr, out=v)
        weight.add_(v)
        if len(self._ones) != len(dy):
            self._ones = dy.new_ones(len(dy))
        torch.addmv(v_bias, dy.t(), self._ones, beta=mu, alpha=-lr, out=v_bias)
        bias.add_(v_bias)
        self._taken.update((i, j))

    def lr(self) -> float:
        return max(self.lr0 * self.decay ** (-self.updates), self.lr_min)

    def momentum(self, epoch: int) -> float:
        """pylearn2's MomentumAdjustor(start=1): its counter is 1 during (0-based) epoch 0."""
        alpha = min(max(epoch, 0) / max(self.saturate - 1, 1), 1.0)
        return self.mu_start * (1 - alpha) + self.mu_end * alpha

    @contextmanager
    def update(self, epoch: int) -> Iterator[None]:
        """One update from the backward passes run inside the block: taken parameters during them, the
        parameters with a .grad at the end. An exception inside leaves the update half applied (taken
        parameters moved, the rest not): the run stops and resumes from its last checkpoint."""
        for p in self.params:
            p.grad = None
        self._taken = set()
        mu, lr = self.momentum(epoch), self.lr()
        self._open = (mu, lr)
        try:
            yield
        finally:
            self._open = None
        if any((i in self._taken) == (p.grad is not None) for i, p in enumerate(self.params)):
            raise RuntimeError("MomentumSGD.update: every parameter needs exactly one gradient (.grad or taken)")
        rest = [i for i in range(len(self.params)) if i not in self._taken]
        if rest:
            self._step_with_grads(rest, mu, lr)
        self.updates += 1

    @torch.no_grad()
    def _step_with_grads(self, rest: list[int], mu: float, lr: float) -> None:
        """The update of the parameters that formed a .grad (the conv layers of the CIFAR-10 models)."""
        velocity, params = [self.velocity[i] for i in rest], [self.params[i] for i in rest]
        torch._foreach_mul_(velocity, mu)
        torch._foreach_add_(velocity, [p.grad for p in params], alpha=-lr)
        torch._foreach_add_(params, velocity)

    def state_dict(self) -> dict[str, Any]:
        return {"velocity": self.velocity, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for v, saved in zip(self.velocity, state["velocity"]):
            v.copy_(saved)
        self.updates = state["updates"]


class Adam:
    """torch's Adam behind the same interface (constant learning rate)."""

    def __init__(self, params: list[nn.Parameter], cfg: dict[str, Any]) -> None:
        self.params = params
        self.opt = torch.optim.Adam(params, lr=cfg["lr"], betas=tuple(cfg["adam_betas"]), foreach=True)

    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def momentum(self, epoch: int) -> float:
        return self.opt.param_groups[0]["betas"][0]

    def take_weight_grads(self, model: nn.Module) -> None:
        """Adam needs every gradient: nothing to take."""

    @contextmanager
    def update(self, epoch: int) -> Iterator[None]:
        """One update from the gradients of the backward passes run inside the block."""
        self.opt.zero_grad(set_to_none=True)
        yield
        self.opt.step()

    def state_dict(self) -> dict[str, Any]:
        return self.opt.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.opt.load_state_dict(state)


def make_optimizer(params: list[nn.Parameter], cfg: dict[str, Any]) -> MomentumSGD | Adam:
    return {"sgd": MomentumSGD, "adam": Adam}[cfg["optimizer"]](params, cfg)


class GAN:
    """Generator, discriminator, their optimizers and one training iteration (Algorithm 1)."""

    def __init__(
        self,
        cfg: dict[str, Any],
        data_dim: int,
        n_classes: int,
        device: torch.device,
        pixel_means: torch.Tensor | None = None,
    ) -> None:
        self.cfg, self.device = cfg, device
        self.n_classes = n_classes if cfg.get("conditional") else 0
        self.G, self.D = (m.to(device) for m in build_models(cfg, data_dim, n_classes))
        if cfg.get("g_output_bias") == "marginals" and not hasattr(self.G, "out"):
            raise UserError(
                "train.*.g_output_bias: 'marginals' needs a fully connected generator (arch: mlp); "
                "use g_output_bias: none with arch: conv"
            )
        if cfg.get("g_output_bias") == "marginals" and pixel_means is not None:
            with torch.no_grad():
                self.G.out.bias.copy_(bias_from_marginals(pixel_means.cpu()))  # float64 on the host (MPS has none)
        self.g_params, self.d_params = list(self.G.parameters()), list(self.D.parameters())
        self.opt_g, self.opt_d = make_optimizer(self.g_params, cfg), make_optimizer(self.d_params, cfg)
        self.by_hand = passes.supports(self.G, self.D) and all(
            isinstance(o, MomentumSGD) for o in (self.opt_g, self.opt_d)
        )
        self.opt_g.take_weight_grads(self.G)
        self.opt_d.take_weight_grads(self.D)
        self.max_col_norm = cfg.get("max_col_norm")

    def noise(self, n: int) -> torch.Tensor:
        return sample_noise(n, self.cfg["z_dim"], self.cfg["noise"], self.device)

    def d_step(self, x_real: torch.Tensor, c_real: torch.Tensor | None, epoch: int) -> None:
        """One discriminator update on a real batch and fresh generated images (G not updated)."""
        with torch.no_grad():
            c_fake = self._fake_labels(c_real)
            x_fake = self.G(self.noise(len(x_real)), c_fake)
        logits = self.D(torch.cat([x_real, x_fake]), _cat(c_real, c_fake))
        with self._updating(self.opt_d, self.d_params, epoch):
            logits.backward(_d_logit_grad(torch.sigmoid(logits.detach()), len(x_real)))

    def iteration(self, batches: list[tuple[torch.Tensor, torch.Tensor | None]], epoch: int) -> torch.Tensor:
        """k-1 D updates, then D and G updates; returns (d_loss, g_loss, mean D(x), mean D(G(z)))."""
        for x_real, c_real in batches[:-1]:
            self.d_step(x_real, c_real, epoch)
        x_real, c_real = batches[-1]
        if self.cfg["update"] == "simultaneous":
            return self._simultaneous_step(x_real, c_real, epoch)
        return self._alternating_step(x_real, c_real, epoch)

    def _simultaneous_step(self, x_real: torch.Tensor, c_real: torch.Tensor | None, epoch: int) -> torch.Tensor:
        if self.by_hand:
            return self._simultaneous_step_by_hand(x_real, c_real, epoch)
        m = len(x_real)
        c_fake = self._fake_labels(c_real)
        x_fake = self.G(self.noise(m), c_fake)
        x_fake_leaf = x_fake.detach().requires_grad_()
        logits = self.D(torch.cat([x_real, x_fake_leaf]), _cat(c_real, c_fake))
        probs = torch.sigmoid(logits.detach())
        with self._updating(self.opt_d, self.d_params, epoch):  # D's gradients use its weights before the update
            logits.backward(_d_logit_grad(probs, m))
        fake_logits = logits[m:].detach()
        with self._updating(self.opt_g, self.g_params, epoch):
            x_fake.backward(x_fake_leaf.grad * _g_grad_ratio(fake_logits, self.cfg["g_loss"])[:, None])
        return _metrics(logits.detach(), probs, fake_logits, m, self.cfg["g_loss"])

    @torch.no_grad()
    def _simultaneous_step_by_hand(self, x_real: torch.Tensor, c_real: torch.Tensor | None, epoch: int) -> torch.Tensor:
        """The same step through the hand-written passes (passes.py)."""
        m = len(x_real)
        c_fake = self._fake_labels(c_real)
        g_tape = passes.generator_forward(self.G, self.noise(m), c_fake)
        x_fake = g_tape.output
        logits, d_tape = passes.discriminator_forward(self.D, torch.cat([x_real, x_fake]), _cat(c_real, c_fake))
        probs = torch.sigmoid(logits)
        with self._updating(self.opt_d, self.d_params, epoch):
            dx_fake = passes.discriminator_backward(
                self.D, d_tape, _d_logit_grad(probs, m), self.opt_d.receive, input_rows=slice(m, None)
            )
        fake_logits = logits[m:]
        with self._updating(self.opt_g, self.g_params, epoch):
            dx_fake = dx_fake[:, : x_fake.shape[1]] * _g_grad_ratio(fake_logits, self.cfg["g_loss"])[:, None]
            passes.generator_backward(self.G, g_tape, dx_fake, self.opt_g.receive)
        return _metrics(logits, probs, fake_logits, m, self.cfg["g_loss"])

    def _alternating_step(self, x_real: torch.Tensor, c_real: torch.Tensor | None, epoch: int) -> torch.Tensor:
        m = len(x_real)
        c_fake = self._fake_labels(c_real)
        with torch.no_grad():
            x_fake = self.G(self.noise(m), c_fake)
        logits = self.D(torch.cat([x_real, x_fake]), _cat(c_real, c_fake))
        probs = torch.sigmoid(logits.detach())
        with self._updating(self.opt_d, self.d_params, epoch):
            logits.backward(_d_logit_grad(probs, m))
        c_fake = self._fake_labels(c_real)
        fake_logits = self.D(self.G(self.noise(m), c_fake), c_fake)
        with self._updating(self.opt_g, self.g_params, epoch):
            # D's products on the way arrive outside D's update: discarded
            fake_logits.backward(_g_logit_grad(fake_logits.detach(), self.cfg["g_loss"]), inputs=self.g_params)
        return _metrics(logits.detach(), probs, fake_logits.detach(), m, self.cfg["g_loss"])

    def _fake_labels(self, c_real: torch.Tensor | None) -> torch.Tensor | None:
        """Conditional models generate the classes of the real batch (the same class balance)."""
        return c_real if self.n_classes else None

    @contextmanager
    def _updating(self, opt: MomentumSGD | Adam, params: list[nn.Parameter], epoch: int) -> Iterator[None]:
        """One update of `opt` from the backward passes inside the block, then the column-norm limit."""
        with opt.update(epoch):
            yield
        if self.max_col_norm:
            with torch.no_grad():
                for p in params:
                    if p.dim() == 2:
                        p.copy_(torch.renorm(p, 2, 0, self.max_col_norm))

    def state_dict(self) -> dict[str, Any]:
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])


def _cat(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    return None if a is None else torch.cat([a, b])


def _d_logit_grad(probs: torch.Tensor, m: int) -> torch.Tensor:
    """d/dl of D's objective, s (-mean log D(x) - mean log(1 - D(G(z)))) with s = D_OBJECTIVE_SCALE
    and D = sigmoid(l), over the logits of m real then m generated rows: s/m (D - 1) on the real
    rows, s/m D on the generated ones."""
    grad = probs * (D_OBJECTIVE_SCALE / m)
    grad[:m] -= D_OBJECTIVE_SCALE / m
    return grad


def _g_grad_ratio(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Per generated row, the generator loss's d/dl over D's objective's d/dl (s sigmoid(l)/m, with
    s = D_OBJECTIVE_SCALE): what turns the gradient at D's input from D's backward pass into the
    generator's. Nonsaturating (-log D): -sigmoid(-l)/m over s sigmoid(l)/m = -exp(-l)/s (the
    logit floored so that exp stays finite); minimax (log(1 - D)): -sigmoid(l)/m over it = -1/s."""
    if kind == "nonsaturating":
        return torch.exp(-fake_logits.clamp(min=LOGIT_FLOOR)) * (-1.0 / D_OBJECTIVE_SCALE)
    return torch.full_like(fake_logits, -1.0 / D_OBJECTIVE_SCALE)


def _g_logit_grad(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """d/dl of the generator loss over the logits of its m rows: nonsaturating (-mean log D),
    -sigmoid(-l)/m; minimax (mean log(1 - D)), -sigmoid(l)/m."""
    sign = -1.0 if kind == "nonsaturating" else 1.0
    return torch.sigmoid(sign * fake_logits) * (-1.0 / len(fake_logits))


def _metrics(
    logits: torch.Tensor, probs: torch.Tensor, fake_logits: torch.Tensor, m: int, g_loss_kind: str
) -> torch.Tensor:
    """(d_loss, g_loss, mean D(x), mean D(G(z))): d_loss = -mean log D(x) - mean log(1 - D(G(z)))
    (the plain sum), g_loss = -mean log D(G(z)) (nonsaturating) or mean log(1 - D(G(z))) (minimax),
    on the logits of m real then m generated rows, and on `fake_logits` for the generator."""
    d_loss = (F.softplus(-logits[:m]).sum() + F.softplus(logits[m:]).sum()) / m
    g_loss = F.softplus(-fake_logits).mean() if g_loss_kind == "nonsaturating" else -F.softplus(fake_logits).mean()
    return torch.stack([d_loss, g_loss, probs[:m].mean(), probs[m:].mean()])


class Trainer:
    """The training loop around `GAN`: data on the device, epochs, logging, validation,
    checkpoints and resumption. Nothing in the loop synchronises with the device except every
    `log_every` iterations."""

    def __init__(self, cfg: dict[str, Any], data_path: Path, out_dir: Path, dataset: str | None = None) -> None:
        self.cfg, self.out_dir = cfg, out_dir
        self.parzen_grid = cfg.get("valid_sigmas") or paper_grid()
        if cfg["checkpoint_every"] % cfg["log_every"]:
            raise UserError("train.*.checkpoint_every must be a multiple of train.*.log_every")
        self.device = resolve_device(cfg["device"])
        keep_freed_memory()
        self.meta = read_meta(data_path)
        self.dataset = dataset or self.meta.get("dataset")  # the name model files record
        check_data_shape(cfg["arch"], self.meta["example_shape"], f"{self.dataset} ({data_path})")
        x = _as_rows(load_split(data_path, "train", unit=False))
        if cfg["train_limit"]:
            x = x[: cfg["train_limit"]]
        self.unit_scale = float(self.meta.get("unit_scale", 1))
        self.x_train = torch.from_numpy(x).to(self.device)
        self.y_train = torch.from_numpy(load_labels(data_path, "train")[: len(x)]).to(self.device)
        self.n_classes = int(self.meta.get("num_classes") or 0)
        if cfg.get("conditional") and (not self.n_classes or (self.y_train < 0).any()):
            raise UserError(f"train.*.conditional: {data_path} has no labels for every training example")
        x_valid = _as_rows(load_split(data_path, "valid"))
        self.x_valid = torch.from_numpy(x_valid[: cfg["valid_points"]] if cfg["valid_points"] else x_valid)
        self.data_dim = self.x_train.shape[1]
        torch.manual_seed(cfg["seed"])
        pixel_means = self.x_train.float().mean(0) / self.unit_scale
        self.gan = GAN(cfg, self.data_dim, self.n_classes, self.device, pixel_means)
        self.batch = cfg["batch_size"]
        self.steps_per_epoch = len(self.x_train) // (self.batch * cfg["k"])
        if self.steps_per_epoch == 0:
            raise UserError(
                f"train.*.batch_size x k ({self.batch} x {cfg['k']}) exceeds the {len(self.x_train)} training examples"
            )
        self.total_steps = cfg["epochs"] * self.steps_per_epoch
        self.step, self.perm = 0, None
        self.seconds_before = 0.0  # training time of the runs this one resumes
        self.valid_history: list[dict[str, float]] = []
        self.best: dict[str, Any] | None = None
        self.ckpt_path = out_dir / "checkpoint.pt"
        self.log = MetricLog(out_dir / "train_log.csv")

    # -- checkpoints ---------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        state = {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "config": self.cfg,
            "gan": self.gan.state_dict(),
            "perm": self.perm,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
            "valid_history": self.valid_history,
            "best": self.best,
            "log": self.log.lines,
            "seconds_total": self.seconds_before + time.perf_counter() - self.t_start,
        }
        with atomic_path(self.ckpt_path) as tmp:
            torch.save(state, tmp)
        self.log.save()

    def try_resume(self, if_changed: str = "error") -> bool:
        """Resume from the checkpoint if there is one. One made with other parameters (or past this
        run's budget) is an error, or with if_changed='restart' is discarded."""
        if not self.ckpt_path.exists():
            self._start_afresh(f"no checkpoint at {self.ckpt_path}")
            return False
        state = torch.load(self.ckpt_path, map_location="cpu", weights_only=False)  # RNG states stay on the CPU
        saved = state["config"]
        changed = sorted(
            k
            for k in set(saved) | set(self.cfg)  # missing, None, 0 and False are all "off"
            if k not in RESUMABLE_KEYS and (saved.get(k) or None) != (self.cfg.get(k) or None)
        )
        if state.get("format", 1) != CHECKPOINT_FORMAT:
            changed.append(f"checkpoint format {state.get('format', 1)}, this version reads {CHECKPOINT_FORMAT}")
        if state["step"] > self.total_steps:
            changed.append(f"epochs (checkpoint at step {state['step']} > {self.total_steps})")
        changes = ", ".join(_describe_change(k, saved, self.cfg) for k in changed)
        if changed and if_changed == "restart":
            self.ckpt_path.unlink()
            self._start_afresh(f"{self.ckpt_path} was made with other parameters ({changes})")
            return False
        if changed:
            raise UserError(
                f"{self.ckpt_path} was trained with other parameters ({changes}); "
                "delete it, or pass --if-changed restart, to train from scratch"
            )
        self.gan.load_state_dict(state["gan"])
        self.step = state["step"]
        self.perm = None if state["perm"] is None else state["perm"].to(self.device)
        torch.set_rng_state(state["rng_cpu"])
        if state["rng_cuda"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        self.valid_history, self.best = state["valid_history"], state["best"]
        estimate_changed = [k for k in VALIDATION_KEYS if saved.get(k) != self.cfg.get(k)]
        if self.best is not None and estimate_changed:
            print(
                f"[train] the validation estimate changed ({', '.join(estimate_changed)}): model selection "
                f"starts again from this epoch (the best so far was epoch {self.best['epoch']})",
                file=sys.stderr,
            )
            self.best = None
        self.seconds_before = state.get("seconds_total", 0.0)
        self.log.lines = state["log"] if "log" in state else _legacy_log_lines(self.out_dir, self.step)
        self.log.save()  # at once: the workflow may have deleted it, and a finished run writes no new checkpoint
        self._drop_snapshots_after(self.step // self.steps_per_epoch)
        print(
            f"[train] resuming from {self.ckpt_path} at step {self.step} of {self.total_steps} "
            f"(epoch {self.step / self.steps_per_epoch:g})",
            file=sys.stderr,
            flush=True,
        )
        return True

    def _start_afresh(self, why: str) -> None:
        """Say why training starts from step 0; drop the outputs of a discarded run (its snapshots, its log)."""
        print(f"[train] training from scratch: {why}", file=sys.stderr, flush=True)
        self._drop_snapshots_after(0)
        self.log.path.unlink(missing_ok=True)
        (self.out_dir / LEGACY_LOG).unlink(missing_ok=True)

    # -- the loop ------------------------------------------------------------------------------
    def batches(self, step: int) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        i = step % self.steps_per_epoch
        if i == 0 or self.perm is None:
            self.perm = torch.randperm(len(self.x_train), device=self.device)
        out = []
        k, b = self.cfg["k"], self.batch
        for j in range(k):
            idx = self.perm[(i * k + j) * b : (i * k + j + 1) * b]
            x = self.x_train.index_select(0, idx).float()  # index_select: a quarter of x_train[idx]'s time on the CPU
            if self.unit_scale != 1:
                x = x.div_(self.unit_scale)
            out.append((x, self.y_train.index_select(0, idx) if self.gan.n_classes else None))
        return out

    def run(self, show_progress: bool, if_changed: str = "error") -> dict[str, Any]:
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
            if self.step % self.cfg["log_every"] == 0 or self.step == self.total_steps:
                now = time.perf_counter()
                values = (acc / n_acc).tolist()
                self._check_finite(values)
                row = dict(zip(METRIC_NAMES, values))
                row.update(
                    step=self.step,
                    epoch=self.step / self.steps_per_epoch,
                    lr=self.gan.opt_g.lr(),
                    momentum=self.gan.opt_g.momentum(epoch),
                    examples_per_s=n_acc * self.batch * self.cfg["k"] / (now - t_last),
                )
                self.log.add(row)
                bar.update(n_acc)
                bar.set_postfix(d=f"{row['d_loss']:.3f}", g=f"{row['g_loss']:.3f}", refresh=False)
                if not show_progress and now - last_line > 30:
                    _log_line(row, self.total_steps)
                    last_line = now
                acc.zero_()
                n_acc, t_last = 0, now
            if self.step % self.steps_per_epoch == 0:
                self._maybe_validate(self.step // self.steps_per_epoch)
                self._maybe_snapshot(self.step // self.steps_per_epoch)
            if self.step % self.cfg["checkpoint_every"] == 0 or self.step == self.total_steps:
                self.save_checkpoint()
        bar.close()
        return {
            "steps": self.step,
            "steps_this_run": self.step - start_step,
            "resumed": resumed,
            "seconds_this_run": time.perf_counter() - self.t_start,
            "seconds_total": self.seconds_before + time.perf_counter() - self.t_start,
        }

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
        every = self.cfg["valid_every"]
        if not every or (epoch % every and epoch != self.cfg["epochs"]):
            return
        samples = generate(self.gan.G, self.cfg, self.cfg["valid_samples"], self.cfg["seed"] + epoch)
        scores = parzen_log_density(self.x_valid.numpy(), samples["x"], self.parzen_grid, device=self.device).mean(
            axis=1
        )
        best_i = int(np.argmax(scores))
        entry = {
            "epoch": epoch,
            "step": self.step,
            "log_likelihood": float(scores[best_i]),
            "sigma": float(self.parzen_grid[best_i]),
            "samples": self.cfg["valid_samples"],
            "points": len(self.x_valid),
        }
        self.valid_history.append(entry)
        if self.best is None or entry["log_likelihood"] > self.best["log_likelihood"]:
            self.best = {**entry, "G": cpu_state_dict(self.gan.G)}
        print(
            f"[train] epoch {epoch}: validation Parzen {entry['log_likelihood']:.1f} (sigma {entry['sigma']:.3f})",
            file=sys.stderr,
            flush=True,
        )

    def _maybe_snapshot(self, epoch: int) -> None:
        """Every `snapshot_every` epochs, the networks as they are, as a model file of their own
        (snapshots/epoch_0100.pt): `ganrepro sample --model` evaluates it like model.pt."""
        every = self.cfg.get("snapshot_every") or 0
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
            "config": self.cfg,
            "dataset": self.dataset,
            "seed": self.cfg["seed"],
            "data_dim": self.data_dim,
            "example_shape": self.meta["example_shape"],
            "n_classes": self.n_classes,
            "kind": self.meta["kind"],
            "selection": selection,
            "selected": selected,
        }


class MetricLog:
    """Per-interval training metrics as CSV (drawn by `dvc plots` and the report). The rows are kept
    in the checkpoint and `save` rewrites the file atomically at every checkpoint, so the file ends
    where the checkpoint does: a killed run leaves no row its resumption writes again, and a resumed
    run rebuilds the file when the workflow removed it (Snakemake deletes a job's outputs first)."""

    FIELDS = ("step", "epoch", *METRIC_NAMES, "lr", "momentum", "examples_per_s")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []  # CSV rows without the header

    def add(self, row: dict[str, float]) -> None:
        self.lines.append(",".join(_csv_value(row[k]) for k in self.FIELDS))

    def save(self) -> None:
        write_text(self.path, "\n".join([",".join(self.FIELDS), *self.lines]) + "\n")


def _csv_value(value: float) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _legacy_log_lines(out_dir: Path, step: int) -> list[str]:
    """The rows up to `step` of a checkpoint written before the rows moved into it: from the old
    running log (removed here), else train_log.csv."""
    legacy = out_dir / LEGACY_LOG
    path = legacy if legacy.exists() else out_dir / "train_log.csv"
    lines = path.read_text().splitlines()[1:] if path.exists() else []
    legacy.unlink(missing_ok=True)
    return [line for line in lines if int(line.split(",", 1)[0]) <= step]


def _describe_change(key: str, saved: dict[str, Any], cfg: dict[str, Any]) -> str:
    """`key: old -> new` for a changed parameter (other reasons, already sentences, as they are)."""
    if key not in saved and key not in cfg:
        return key
    return f"{key}: {_short(saved.get(key))} -> {_short(cfg.get(key))}"


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _log_line(row: dict[str, float], total: int) -> None:
    print(
        f"[train] step {row['step']}/{total} epoch {row['epoch']:.2f} d_loss {row['d_loss']:.4f} "
        f"g_loss {row['g_loss']:.4f} D(x) {row['d_real']:.3f} D(G(z)) {row['d_fake']:.3f} "
        f"lr {row['lr']:.4g} {row['examples_per_s']:.0f} ex/s",
        file=sys.stderr,
        flush=True,
    )


def _as_rows(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.reshape(len(x), -1))


def train(
    cfg: dict[str, Any], dataset: str, data_path: Path, out_dir: Path, if_changed: str = "error"
) -> dict[str, Any]:
    """Train (or resume) one model; write model.pt (the selected generator), train.json and train_log.csv."""
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg, data_path, out_dir, dataset)
    run = trainer.run(show_progress=sys.stderr.isatty(), if_changed=if_changed)
    use_best = cfg["select"] == "best_valid" and trainer.best is not None
    G = trainer.gan.G
    if use_best:
        G.load_state_dict(trainer.best["G"])
    selected = (
        {k: v for k, v in trainer.best.items() if k != "G"}
        if use_best
        else {"epoch": cfg["epochs"], "step": trainer.step}
    )
    meta = trainer.model_meta("best_valid" if use_best else "last", selected)
    save_model(out_dir / "model.pt", G, trainer.gan.D, meta)
    summary = {
        "dataset": dataset,
        "seed": cfg["seed"],
        "device": str(trainer.device),
        **run,
        "epochs": cfg["epochs"],
        "steps_per_epoch": trainer.steps_per_epoch,
        "selection": meta["selection"],
        "selected": selected,
        "valid_history": trainer.valid_history,
    }
    write_json(out_dir / "train.json", summary)
    return summary


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a GAN (resumes from OUT/checkpoint.pt)")
    p.add_argument("dataset", help="dataset name: its train.<name> section in params")
    p.add_argument("--data", type=Path, help="prepared .npz (default: data/prepared/DATASET/dataset.npz)")
    p.add_argument(
        "--out",
        type=Path,
        help="output folder, resumed from its checkpoint.pt (default: results/runs/DATASET/train/sSEED, "
        "the workflow's)",
    )
    p.add_argument(
        "--params",
        type=Path,
        default=None,
        help="params file whose train.common + train.<dataset> are the defaults (default: params.yaml)",
    )
    p.add_argument("--config-json", help="training keys as JSON merged over those defaults (any subset)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the initialisation, noise, dropout and minibatch order (default: 0)",
    )
    p.add_argument("--epochs", type=int, help="override the epoch budget")
    p.add_argument(
        "--if-changed",
        choices=["error", "restart"],
        default="error",
        help="what to do with a checkpoint made with other parameters",
    )
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> None:
    data = args.data or Path("data/prepared") / args.dataset / "dataset.npz"
    out = args.out or Path("results/runs") / args.dataset / "train" / f"s{args.seed}"
    try:
        overrides = json.loads(args.config_json) if args.config_json else None
    except json.JSONDecodeError as err:
        raise UserError(f"--config-json is not valid JSON: {err}") from err
    check_train_overrides(overrides or {}, "--config-json")
    cfg = train_config(resolve(args.params), args.dataset, overrides)
    cfg["seed"] = args.seed
    if args.epochs:
        cfg["epochs"] = args.epochs
    summary = train(cfg, args.dataset, data, out, args.if_changed)
    print(
        f"[train] done: {summary['steps']} steps, selected {summary['selection']} "
        f"({summary['selected']}) -> {out / 'model.pt'}",
        file=sys.stderr,
    )
