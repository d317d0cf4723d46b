"""The toy sets' scores: distances that vanish for a perfect generator and grow as it drifts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ganrepro.errors import UserError
from ganrepro.evaluation.toy_metrics import toy1d_metrics, toy_metrics
from ganrepro.io import save_npz


def test_toy1d_metrics_measure_a_shift_and_a_spread() -> None:
    real = np.random.default_rng(0).normal(4.0, 0.5, 5000)
    assert toy1d_metrics(real, real)["wasserstein"] == 0 and toy1d_metrics(real, real)["ks_statistic"] == 0
    shifted = toy1d_metrics(real + 0.3, real)
    assert shifted["wasserstein"] == pytest.approx(0.3) and shifted["mean"] == pytest.approx(real.mean() + 0.3)
    # A point mass at the data's mean: the KS statistic is the largest CDF gap, 1/2 at the median.
    spike = toy1d_metrics(np.full(100, np.median(real)), real)
    assert spike["ks_statistic"] == pytest.approx(0.5, abs=1e-3) and spike["std"] == pytest.approx(0, abs=1e-12)


def test_toy_metrics_cli_reads_the_dataset_kind(run_cli, tmp_path: Path) -> None:
    x = np.random.default_rng(1).normal(4.0, 0.5, (300, 1)).astype(np.float32)
    meta = {"dataset": "toy1d", "kind": "vector", "example_shape": [1], "unit_scale": 1}
    save_npz(tmp_path / "toy1d.npz", x_test=x, y_test=np.full(300, -1), meta=np.array(json.dumps(meta)))
    save_npz(tmp_path / "samples.npz", x=x)
    result = run_cli(
        "toy-metrics",
        "--samples",
        tmp_path / "samples.npz",
        "--data",
        tmp_path / "toy1d.npz",
        "--seed",
        2,
        "--out",
        tmp_path / "toy.json",
    )
    assert result.code == 0, result.err
    written = json.loads((tmp_path / "toy.json").read_text())
    assert written["seed"] == 2 and written["wasserstein"] == 0 and written["n_samples"] == 300
    meta["dataset"] = "mnist"
    save_npz(tmp_path / "other.npz", x_test=x, y_test=np.full(300, -1), meta=np.array(json.dumps(meta)))
    with pytest.raises(UserError, match="toy-metrics knows toy1d and ring, not 'mnist'"):
        toy_metrics(tmp_path / "samples.npz", tmp_path / "other.npz")


def test_toy_metrics_cli_on_the_ring_uses_the_geometry_the_data_records(run_cli, tmp_path: Path) -> None:
    """Samples on 3 of a 5-mode ring of radius 3 (as the prepared file records): 3 modes covered."""
    angles = 2 * np.pi * np.arange(5) / 5
    centres = 3 * np.stack([np.cos(angles), np.sin(angles)], 1)
    x = np.repeat(centres[:3], 40, axis=0).astype(np.float32)
    x[::2] += 0.01  # within the recorded std (0.05) of its mode
    meta = {"dataset": "ring", "kind": "vector", "example_shape": [2], "unit_scale": 1}
    meta["source"] = {"modes": 5, "radius": 3.0, "std": 0.05}
    save_npz(tmp_path / "ring.npz", x_test=x, y_test=np.full(len(x), -1), meta=np.array(json.dumps(meta)))
    save_npz(tmp_path / "samples.npz", x=x)
    out = tmp_path / "toy.json"
    args = ["toy-metrics", "--samples", tmp_path / "samples.npz", "--data", tmp_path / "ring.npz", "--out", out]
    assert run_cli(*args).code == 0
    written = json.loads(out.read_text())
    assert (written["modes"], written["modes_covered"], written["high_quality_fraction"]) == (5, 3, 1.0)
    assert written["per_mode_counts"] == [40, 40, 40, 0, 0]
    save_npz(tmp_path / "flat.npz", x=x[:, :1])
    with pytest.raises(UserError, match=r"flat.npz: expected 2-D samples of the ring dataset, got shape \(120, 1\)"):
        toy_metrics(tmp_path / "flat.npz", tmp_path / "ring.npz")
