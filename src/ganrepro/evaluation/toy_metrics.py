"""`ganrepro toy-metrics`: how well a generator matches a toy set (the toy sets have no Parzen row).

toy1d (Figure 1's Gaussian): the samples' mean and standard deviation beside the data's, the
Wasserstein-1 distance and the Kolmogorov-Smirnov statistic between samples and test data.
ring (8 Gaussians on a circle): modes covered and the share of samples near a mode.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from ganrepro.arrays import load_array
from ganrepro.data.prepared import load_split, read_meta
from ganrepro.data.toy import RING_MODES, RING_RADIUS, RING_STD, ring_centres
from ganrepro.errors import UserError
from ganrepro.io import write_json


def ring_metrics(
    x: np.ndarray, centres: np.ndarray, std: float, n_std: float = 3.0, min_fraction: float = 0.01
) -> dict[str, Any]:
    """Samples within n_std std of each mode; a mode is covered when it holds min_fraction of them."""
    dist = np.linalg.norm(x[:, None, :] - centres[None], axis=2)
    near = dist.min(1) <= n_std * std
    counts = np.bincount(dist.argmin(1)[near], minlength=len(centres))
    covered = counts >= min_fraction * len(x)
    return {
        "n_samples": len(x),
        "modes": len(centres),
        "modes_covered": int(covered.sum()),
        "high_quality_fraction": float(near.mean()),
        "per_mode_counts": counts.tolist(),
        "covered": covered.tolist(),
        "definition": {"within_std": n_std, "std": std, "min_fraction_to_cover": min_fraction},
    }


def ring_geometry(data: Path) -> tuple[np.ndarray, float]:
    """The ring's mode centres and standard deviation, as recorded in the prepared dataset."""
    source = read_meta(data).get("source", {})
    centres = ring_centres(source.get("modes", RING_MODES), source.get("radius", RING_RADIUS))
    return centres, source.get("std", RING_STD)


def toy1d_metrics(x: np.ndarray, real: np.ndarray) -> dict[str, Any]:
    """Moments of samples and data, Wasserstein-1 distance and KS statistic (both 0 for a perfect G)."""
    x, real = x.ravel().astype(np.float64), real.ravel().astype(np.float64)
    return {
        "n_samples": len(x),
        "n_data": len(real),
        "mean": float(x.mean()),
        "std": float(x.std()),
        "data_mean": float(real.mean()),
        "data_std": float(real.std()),
        "wasserstein": float(stats.wasserstein_distance(x, real)),
        "ks_statistic": float(stats.ks_2samp(x, real).statistic),
    }


def toy_metrics(samples: Path, data: Path) -> dict[str, Any]:
    x = load_array(f"{samples}:x")
    name = read_meta(data).get("dataset")
    if name == "ring":
        if x.ndim != 2 or x.shape[1] != 2:
            raise UserError(f"{samples}: expected 2-D samples of the ring dataset, got shape {x.shape}")
        centres, std = ring_geometry(data)
        return {"dataset": name, "samples": str(samples), **ring_metrics(x, centres, std)}
    if name == "toy1d":
        return {"dataset": name, "samples": str(samples), **toy1d_metrics(x, load_split(data, "test"))}
    raise UserError(f"{data}: toy-metrics knows toy1d and ring, not {name!r}")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("toy-metrics", help="score a generator's samples on a toy set (toy1d, ring)")
    p.add_argument("--samples", type=Path, required=True, help="samples .npz written by `ganrepro sample`")
    p.add_argument("--data", type=Path, required=True, help="the prepared toy dataset .npz")
    p.add_argument("--seed", type=int, default=None, help="the training seed, recorded in the output")
    p.add_argument("--out", type=Path, required=True, help="output json")
    p.set_defaults(func=lambda a: write_json(a.out, {**toy_metrics(a.samples, a.data), "seed": a.seed}))
