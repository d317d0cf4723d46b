"""`ganrepro sample`: N samples from a trained generator and the z (and labels) that produced them."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ganrepro.config import step_params
from ganrepro.device import add_device_argument, resolve_device
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
    p.add_argument("--n", type=int, help="number of samples (default: params.yaml's sample.n)")
    p.add_argument(
        "--seed", type=int, help="seed of the noise z (default: sample.seed); the same seed gives the same samples"
    )
    add_device_argument(p)
    p.add_argument("--out", type=Path, required=True, help="output .npz with arrays x, z, labels")
    p.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> None:
    params = step_params("sample", {"n": args.n, "seed": args.seed, "draws": 1})
    save_npz(args.out, **draw(args.model, params["n"], params["seed"], args.device))
