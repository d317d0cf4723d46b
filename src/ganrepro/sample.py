"""`ganrepro sample`: N samples from a trained generator and the z (and labels) that produced them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganrepro.artifacts import load_generator
from ganrepro.device import resolve_device
from ganrepro.io import save_npz
from ganrepro.models import condition_classes, sample_noise


@torch.no_grad()
def generate(G: nn.Module, cfg: dict[str, Any], n: int, seed: int, batch: int = 1000) -> dict[str, np.ndarray]:
    """x (n, d) float32 (in [0, 1] for images), z (n, z_dim), and labels: class i % k for a generator
    conditioned on k classes, else -1. Uses a private RNG seeded by `seed`, so a training run's RNG
    stream is left untouched."""
    n_classes = condition_classes(G)
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    labels = torch.arange(n, device=device) % n_classes if n_classes else torch.full((n,), -1, device=device)
    xs, zs = [], []
    for start in range(0, n, batch):
        z = sample_noise(min(batch, n - start), cfg["z_dim"], cfg["noise"], device, gen)
        xs.append(G(z, labels[start:start + len(z)] if n_classes else None).cpu())
        zs.append(z.cpu())
    G.train(was_training)
    return {"x": torch.cat(xs).numpy(), "z": torch.cat(zs).numpy(), "labels": labels.cpu().numpy()}


def draw(model_path: Path, n: int, seed: int, device_name: str = "auto") -> dict[str, np.ndarray]:
    """`generate` from a generator file."""
    G, meta = load_generator(model_path, resolve_device(device_name))
    return generate(G, meta["config"], n, seed)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sample", help="draw samples (and their z) from a trained generator")
    p.add_argument("--model", type=Path, required=True, help="model.pt written by `ganrepro train`")
    p.add_argument("--n", type=int, default=10000, help="number of samples (default: 10000)")
    p.add_argument("--seed", type=int, default=1234,
                   help="seed of the noise z (default: 1234); the same seed gives the same samples")
    p.add_argument("--device", default="auto",
                   help="auto (CUDA, else MPS, else CPU), cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--out", type=Path, required=True, help="output .npz with arrays x, z, labels")
    p.set_defaults(func=lambda a: save_npz(a.out, **draw(a.model, a.n, a.seed, a.device)))
