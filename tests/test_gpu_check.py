"""The GPU check (bench/gpu_check.sh and .py) runs on the CPU from the source tree on tiny budgets:
every part reports, the CPU against itself agrees, a failed part or check fails the run, and nothing
that the GPU machine lacks (snakemake, dvc, jsonschema) is imported."""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_bench import paper_mnist_step_flop

ROOT = Path(__file__).resolve().parents[1]
TRAIN_STEPS = 12


def test_gpu_check_on_the_cpu_reports_every_part(tmp_path, shared_mirror):
    out = tmp_path / "out"
    absent = tmp_path / "absent"  # as on the GPU machine: importing these raises ImportError
    absent.mkdir()
    (absent / "sitecustomize.py").write_text(
        "import sys\nfor name in ('snakemake', 'dvc', 'jsonschema'):\n    sys.modules[name] = None\n"
    )
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(absent)}
    # the wrapper runs the script from the source tree (PYTHONPATH=src before the folder above)
    proc = subprocess.run(
        [
            "bash",
            str(ROOT / "bench" / "gpu_check.sh"),
            *(str(shared_mirror / "mnist"), str(out), "--device", "cpu", "--threads", "1"),
            *("--train-limit", "1000", "--steps", "1", "--repeats", "1"),
            *("--train-steps", str(TRAIN_STEPS), "--agree-steps", "5", "--stat-samples", "200"),
            *("--parzen-samples", "300", "--parzen-valid", "100", "--parzen-test", "200", "--sync-steps", "2"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["imported_absent_on_device"] == []
    assert report["device"] == "cpu" and report["cpu_threads"] == 1

    step = report["step"]
    assert abs(step["matmul_gflop_per_step"] - paper_mnist_step_flop() / 1e9) < 0.0005
    for key in ("ratio_of_floor", "speedup_over_conventional", "ours_examples_per_s", "floor_gflops"):
        assert step[key] > 0, key

    training = report["training"]
    assert training["training_examples"] == 1000
    for side in ("losses_device", "losses_cpu"):
        losses = np.array(training[side])
        assert losses.shape == (TRAIN_STEPS, 2) and np.isfinite(losses).all()
        assert np.ptp(losses[:, 1]) > 0  # the generator's loss moves: it trained
    assert training["max_loss_deviation_all_steps"] <= 1e-6  # the CPU against itself, one process
    assert training["first_step_beyond_tolerance"] is None
    stats = training["sample_statistics"]
    assert max(stats["max_pixel_mean_deviation"], stats["max_pixel_sd_deviation"]) <= 1e-6
    assert 0 < stats["mean_of_pixel_means"]["cpu"] < 1 and stats["mean_of_pixel_sds"]["cpu"] > 0

    parzen = report["parzen"]
    assert (parzen["samples"], parzen["valid_points"], parzen["test_points"]) == (300, 100, 200)
    assert math.isfinite(parzen["cpu"]["log_likelihood"])
    assert parzen["device"]["sigma"] == parzen["cpu"]["sigma"]
    assert parzen["log_likelihood_deviation"] < 0.01 and parzen["fine_log_likelihood_deviation"] < 0.01
    assert parzen["cpu"]["parzen_seconds"] > 0 and parzen["cpu"]["sample_seconds"] > 0

    assert report["sync"] == {
        "applicable": False,
        "reason": "not applicable: the sync debug mode is CUDA's, device cpu",
    }
    assert report["checks"] == {
        "step_measured": True,
        "losses_agree": True,
        "samples_agree": True,
        "parzen_agrees": True,
        "no_sync": None,
    }
    assert set(report["seconds"]) == {"step", "sync", "training", "parzen", "total"}
    log = (out / "gpu_check.log").read_text()
    for part in ("(1) step", "(2) training", "(3) Parzen", "(4) host synchronisation inside the steps: not applicable"):
        assert part in log, part
    assert log == proc.stdout


@pytest.fixture
def gpu_check(monkeypatch):
    """The script as a module (bench/ on the path for the CPU bench it imports)."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    return importlib.import_module("gpu_check")


def test_mnist_from_idx_files_and_from_a_prepared_file_alike(gpu_check, shared_mirror, tmp_path):
    arrays = gpu_check.load_mnist(shared_mirror / "mnist")
    assert {k: v.shape for k, v in arrays.items()} == {
        "x_train": (50_000, 784),
        "y_train": (50_000,),
        "x_valid": (10_000, 784),
        "y_valid": (10_000,),
        "x_test": (10_000, 784),
        "y_test": (10_000,),
    }
    assert arrays["x_train"].dtype == np.uint8 and set(np.unique(arrays["y_test"])) == set(range(10))
    again = gpu_check.load_mnist(gpu_check.write_prepared(arrays, tmp_path / "mnist.npz"))
    for key, value in arrays.items():
        np.testing.assert_array_equal(again[key], value, err_msg=key)


def test_a_failed_check_and_a_failed_part_fail_the_run_and_the_other_parts_report(
    gpu_check, shared_mirror, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    argv = ["gpu_check.py", "--data", str(shared_mirror / "mnist"), "--out", str(out), "--device", "cpu"]
    argv += ["--threads", "1", "--train-limit", "200", "--steps", "1", "--repeats", "1", "--train-steps", "2"]
    argv += ["--stat-samples", "50", "--parzen-samples", "0", "--loss-tol", "-1"]  # no samples: part (3) fails
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.main()
    assert exit_info.value.code == 1
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["checks"] == {
        "step_measured": True,
        "losses_agree": False,
        "samples_agree": True,
        "parzen_agrees": False,
        "no_sync": None,
    }
    assert "Traceback" in report["parzen"]["error"] and report["sync"]["applicable"] is False
    assert report["training"]["first_step_beyond_tolerance"] == 0
    assert "parzen: FAILED" in (out / "gpu_check.log").read_text()
