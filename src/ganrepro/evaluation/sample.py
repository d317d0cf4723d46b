"""`ganrepro sample`: N samples from a trained generator and the z (and labels) that produced them."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ganrepro.device import resolve_device
from ganrepro.io import save_npz
from ganrepro.models.artifacts import load_generator
from ganrepro.models.networks import generate


def draw(model_path: Path, n: int, seed: int, device_name: str = "auto") -> dict[str, np.ndarray]:
    """`generate` from a generator file."""
    G, meta = load_generator(model_path, resolve_device(device_name))
    return generate(G, meta["config"], n, seed)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sample", help="draw samples (and their z) from a trained generator")
    p.add_argument("--model", type=Path, required=True, help="model.pt written by `ganrepro train`")
    p.add_argument("--n", type=int, default=10000, help="number of samples (default: 10000)")
    p.add_argument(
        "--seed",
        type=int,
        default=1234,
        help="seed of the noise z (default: 1234); the same seed gives the same samples",
    )
    p.add_argument(
        "--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda or cuda:N (default: auto)"
    )
    p.add_argument("--out", type=Path, required=True, help="output .npz with arrays x, z, labels")
    p.set_defaults(func=lambda a: save_npz(a.out, **draw(a.model, a.n, a.seed, a.device)))
