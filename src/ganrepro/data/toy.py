"""The generated sets toy1d and ring (Figure 1 draws toy1d's analytic density from these constants)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ganrepro.data.prepared import Arrays, split_arrays
from ganrepro.errors import UserError

TOY1D_MEAN = 4.0
TOY1D_STD = 0.5
RING_MODES = 8
RING_RADIUS = 2.0
RING_STD = 0.02
TOY_TRAIN_SIZE = 50_000  # default training examples of each generated set (params data.toy_size)
TOY_EVAL_SIZE = 10_000  # valid and test examples of each generated set


def ring_centres(modes: int = RING_MODES, radius: float = RING_RADIUS) -> np.ndarray:
    """The (modes, 2) centres of the ring's Gaussians, evenly spaced on a circle."""
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def build_toy1d(size: int, seed: int) -> tuple[Arrays, dict[str, Any]]:
    """N(TOY1D_MEAN, TOY1D_STD²) draws: `size` for training, TOY_EVAL_SIZE for valid and test."""
    parts = [
        (rng.normal(TOY1D_MEAN, TOY1D_STD, (n, 1)).astype(np.float32), np.full(n, -1, np.int64))
        for rng, n in zip(_streams(seed), _sizes(size))
    ]
    return split_arrays(parts), {
        "splits": _splits_text(size),
        "source": {"generator": "normal", "mean": TOY1D_MEAN, "std": TOY1D_STD, "seed": seed},
    }


def build_ring(size: int, seed: int) -> tuple[Arrays, dict[str, Any]]:
    """Draws from RING_MODES Gaussians on a circle, labelled by mode."""
    parts = [_ring_sample(rng, n) for rng, n in zip(_streams(seed), _sizes(size))]
    return split_arrays(parts), {
        "num_classes": RING_MODES,
        "splits": _splits_text(size),
        "source": {"generator": "ring", "modes": RING_MODES, "radius": RING_RADIUS, "std": RING_STD, "seed": seed},
    }


def _streams(seed: int) -> list[np.random.Generator]:
    """Independent generators for train, valid and test: valid/test do not depend on the size."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]


def _sizes(size: int) -> list[int]:
    if size < 1:
        raise UserError(f"data.toy_size / --toy-size must be positive, got {size}")
    return [size, TOY_EVAL_SIZE, TOY_EVAL_SIZE]


def _splits_text(size: int) -> str:
    return f"independent draws: train {size}, valid {TOY_EVAL_SIZE}, test {TOY_EVAL_SIZE}"


def _ring_sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    modes = rng.integers(0, RING_MODES, n)
    centres = ring_centres()[modes]
    return (centres + RING_STD * rng.standard_normal((n, 2))).astype(np.float32), modes.astype(np.int64)
