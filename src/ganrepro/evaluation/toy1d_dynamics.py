"""Figure 1's experiment on a trained toy1d pair: D trained towards D* with G fixed, G updated
against that D, then joint training towards p_g = p_data, D = 1/2, each moment measured (|D - D*|,
total variation). Plain torch loops (Adam, non-saturating G loss, alternating updates): the panels
need updates of one network at a time, which the paper's training loop does not do."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch import nn
from torch.nn import functional as F

from ganrepro.data.prepared import load_split
from ganrepro.data.toy import TOY1D_MEAN, TOY1D_STD
from ganrepro.device import resolve_device
from ganrepro.errors import UserError
from ganrepro.gan_config import TrainConfig
from ganrepro.models.artifacts import load_model
from ganrepro.models.networks import sample_noise


@dataclass
class Snapshot:
    """One panel of Figure 1: p_g and D over the x grid, and x = G(z) for the drawn z's."""

    title: str
    p_g: np.ndarray
    d: np.ndarray
    x_of_z: np.ndarray | None
    d_star: np.ndarray | None = None


def density(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of 1-D samples on `grid` (normal-reference bandwidth 1.06 std n^(-1/5),
    floored at the grid step so that a collapsed generator still gives a finite curve)."""
    bw = max(1.06 * samples.std() * len(samples) ** -0.2, grid[1] - grid[0])
    return stats.norm.pdf((grid[:, None] - samples[None, :]) / bw).mean(1) / bw


def quantile_z(kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n evenly spaced probabilities u and the z of p_z (1-D) at those quantiles."""
    u = (np.arange(n) + 0.5) / n
    z = (2 * u - 1) * math.sqrt(3) if kind == "uniform" else stats.norm.ppf(u)
    return u, z


class Toy1D:
    """The loaded toy1d G and D, the data, and the plain torch loops Figure 1 needs (Adam, the
    non-saturating generator loss, alternating updates)."""

    def __init__(self, G: nn.Module, D: nn.Module, cfg: TrainConfig, real: np.ndarray, batch: int, seed: int) -> None:
        self.G, self.D, self.cfg, self.batch = G, D, cfg, batch
        self.device = next(G.parameters()).device
        self.real = torch.from_numpy(real.reshape(-1, 1)).to(self.device)
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self.opt_d = torch.optim.Adam(D.parameters(), betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam(G.parameters(), betas=(0.5, 0.999))
        self.ones = torch.ones(batch, device=self.device)

    def noise(self, n: int) -> torch.Tensor:
        return sample_noise(n, self.cfg.z_dim, self.cfg.noise, self.device, self.gen)

    def train(self, steps: int, d_lr: float = 0.0, g_lr: float = 0.0, decay: bool = False) -> None:
        """`steps` iterations of a D update (if d_lr) then a G update (if g_lr); with `decay` the
        learning rates fall linearly to 0 over the run, which lets D settle near its optimum."""
        for i in range(steps):
            scale = 1 - i / steps if decay else 1.0
            if d_lr:
                idx = torch.randint(len(self.real), (self.batch,), device=self.device, generator=self.gen)
                with torch.no_grad():
                    fake = self.G(self.noise(self.batch))
                logits = self.D(torch.cat([self.real[idx], fake]))
                self._update(self.opt_d, d_lr * scale, logits, torch.cat([self.ones, 0 * self.ones]))
            if g_lr:
                self._update(self.opt_g, g_lr * scale, self.D(self.G(self.noise(self.batch))), self.ones)

    @staticmethod
    def _update(opt: torch.optim.Optimizer, lr: float, logits: torch.Tensor, target: torch.Tensor) -> None:
        """One Adam step on the cross-entropy of D's logits against `target` (1 = data)."""
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        F.binary_cross_entropy_with_logits(logits, target).backward()
        opt.step()

    @torch.no_grad()
    def snapshot(self, title: str, grid: np.ndarray, n_samples: int, z_lines: np.ndarray | None) -> Snapshot:
        x = self.G(self.noise(n_samples)).cpu().numpy().ravel()
        d = torch.sigmoid(self.D(torch.from_numpy(grid[:, None]).float().to(self.device))).cpu().numpy()
        x_of_z = (
            self.G(torch.from_numpy(z_lines[:, None]).float().to(self.device)).cpu().numpy().ravel()
            if z_lines is not None
            else None
        )
        return Snapshot(title, density(x, grid), d, x_of_z)


@dataclass(frozen=True)
class Figure1Schedule:
    """The updates between the panels of Figure 1 (Adam; D's rate decays linearly in (b) and (d))."""

    d_steps: int = 1000  # (b): D towards D*, G fixed
    g_steps: int = 20  # (c): G against that D, D fixed
    joint_steps: int = 3000  # (d): alternating D and G updates
    d_lr: float = 0.05
    g_lr: float = 0.001
    joint_d_lr: float = 0.01
    batch_size: int = 256


@dataclass
class Dynamics:
    """The four panels over a common x grid, p_data on it, and where each drawn z sits on the axis
    (None when z has more than one dimension)."""

    snaps: list[Snapshot]
    grid: np.ndarray
    p_data: np.ndarray
    z_pos: np.ndarray | None


def run(model: Path, data: Path, schedule: Figure1Schedule, seed: int, device: str) -> Dynamics:
    """(a) the trained pair, (b) D trained towards D*, (c) G updated against it, (d) joint training
    continued towards the optimum p_g = p_data, D = 1/2; the measured gaps in the panels' titles."""
    G, D, meta = load_model(model, resolve_device(device))
    cfg, s = meta["config"], schedule
    if meta["data_dim"] != 1:
        raise UserError(f"{model}: Figure 1 needs a model of 1-D data (toy1d), this one has {meta['data_dim']} values")
    torch.manual_seed(seed)
    toy = Toy1D(G, D, cfg, load_split(data, "train"), s.batch_size, seed)
    mean, std, n = TOY1D_MEAN, TOY1D_STD, 20000
    with torch.no_grad():
        first = G(toy.noise(n)).cpu().numpy().ravel()
    lo, hi = min(mean - 4 * std, np.quantile(first, 0.005)), max(mean + 4 * std, np.quantile(first, 0.995))
    grid = np.linspace(lo, hi, 400)
    p_data = stats.norm.pdf(grid, mean, std)
    u, z_lines = quantile_z(cfg.noise, 24)
    z_lines = z_lines if cfg.z_dim == 1 else None
    support = p_data > 0.05 * p_data.max()

    snaps = [toy.snapshot("(a) the trained pair (as loaded)", grid, n, z_lines)]
    toy.train(s.d_steps, d_lr=s.d_lr, decay=True)
    b = toy.snapshot(f"(b) after {s.d_steps} D updates, G fixed", grid, n, z_lines)
    b.d_star = p_data / (p_data + b.p_g)
    b.title += f"\nmax |D - D*| on the data: {np.abs(b.d - b.d_star)[support].max():.3f}"
    snaps.append(b)
    toy.train(s.g_steps, g_lr=s.g_lr)
    snaps.append(toy.snapshot(f"(c) after {s.g_steps} G updates against that D", grid, n, z_lines))
    toy.train(s.joint_steps, d_lr=s.joint_d_lr, g_lr=s.g_lr, decay=True)
    d = toy.snapshot(f"(d) after {s.joint_steps} more joint updates", grid, n, z_lines)
    tv = 0.5 * np.abs(d.p_g - p_data).sum() * (grid[1] - grid[0])
    d.title += f"\nTV(p_g, p_data) {tv:.3f}; max |D - 1/2| on the data {np.abs(d.d - 0.5)[support].max():.3f}"
    snaps.append(d)

    return Dynamics(snaps, grid, p_data, lo + u * (hi - lo) if z_lines is not None else None)
