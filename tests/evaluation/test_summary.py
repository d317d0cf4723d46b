"""`ganrepro metrics` / `not-run` and the extended Table 1 built from their output."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from ganrepro.cli import main
from ganrepro.data.sources import TFD_FOLDS

from helpers import markdown_text, write_tfd


def write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_metrics_average_folds_within_a_seed_then_report_mean_and_spread_over_seeds(tmp_path: Path) -> None:
    parzen = [
        write(
            tmp_path / f"p{seed}_{fold}.json",
            {"seed": seed, "fold": fold, "log_likelihood": ll, "fine": {"log_likelihood": ll + 10}},
        )
        for seed, fold, ll in [(0, 0, 100.0), (0, 1, 110.0), (1, 0, 130.0), (1, 1, 150.0)]
    ]
    train = [write(tmp_path / f"t{seed}.json", {"seed": seed, "seconds_total": 60.0 * (seed + 1)}) for seed in (0, 1)]
    out = tmp_path / "metrics.json"
    assert (
        main(
            [
                "metrics",
                "--dataset",
                "tfd",
                "--parzen",
                *map(str, parzen),
                "--train",
                *map(str, train),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    metrics = json.loads(out.read_text())
    per_seed = [105.0, 140.0]  # folds averaged first, as the paper does for TFD
    assert metrics["parzen_log_likelihood"] == statistics.fmean(per_seed)
    assert metrics["parzen_log_likelihood_std"] == statistics.stdev(per_seed)
    assert metrics["parzen_fine_log_likelihood"] == statistics.fmean(per_seed) + 10
    assert metrics["train_seconds_total"] == 90.0 and metrics["seeds"] == 2


def test_training_logs_are_combined_with_a_seed_column(tmp_path: Path) -> None:
    logs, summaries = [], []
    for seed in (3, 4):
        logs.append(tmp_path / f"log{seed}.csv")
        logs[-1].write_text("step,epoch,d_loss\n10,0.5,1.2\n20,1.0,1.1\n")
        summaries.append(write(tmp_path / f"t{seed}.json", {"seed": seed}))
    curves = tmp_path / "curves.csv"
    assert (
        main(
            [
                "metrics",
                "--dataset",
                "x",
                "--train",
                *map(str, summaries),
                "--logs",
                *map(str, logs),
                "--curves-out",
                str(curves),
                "--out",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    lines = curves.read_text().splitlines()
    assert lines[0] == "step,epoch,d_loss,seed" and lines[1:] == [
        "10,0.5,1.2,3",
        "20,1.0,1.1,3",
        "10,0.5,1.2,4",
        "20,1.0,1.1,4",
    ]


def test_not_run_marks_every_output_and_the_extended_table_says_so(tmp_path: Path) -> None:
    outs = [tmp_path / "a/info.json", tmp_path / "b/curves.csv", tmp_path / "metrics_tfd.json", tmp_path / "c/index.md"]
    assert main(["not-run", "--dataset", "tfd", "--reason", "no licence file", "--out", *map(str, outs)]) == 0
    assert json.loads(outs[0].read_text()) == {"dataset": "tfd", "not_run": "no licence file"}
    assert outs[1].read_text() == "seed,step,epoch\n"
    assert outs[3].read_text() == "# tfd: not run\n\nno licence file\n"
    mnist = write(
        tmp_path / "metrics_mnist.json",
        {
            "dataset": "mnist",
            "parzen_log_likelihood": 201.234,
            "parzen_log_likelihood_std": 3.21,
            "class_metrics_classifier_fid": 4.5,
        },
    )
    assert main(["table", "--metrics", str(mnist), str(outs[2]), "--out-dir", str(tmp_path / "t")]) == 0
    table = markdown_text(tmp_path / "t/table1_extended.md")
    assert "| Parzen log-likelihood, paper protocol | 201.2 ± 3.2 | not run |" in table
    assert "| Classifier FID, samples vs test images | 4.5 | not run |" in table
    assert "Conditional GAN" not in table  # rows without any value are left out


def test_tfd_folds_draws_and_reference_rows_from_a_synthetic_tfd_file(tmp_path: Path, monkeypatch) -> None:
    """TFD_48x48.mat in the real format, prepared by the real step; every fold scored for the model
    (with a further sample draw) and for the reference row; the two errors of per-fold results
    named apart in metrics.json, and Table 1 averaging every fold of the reference row."""
    monkeypatch.chdir(tmp_path)
    write_tfd(tmp_path / "TFD_48x48.mat")
    for step in ("fetch", "prepare"):
        assert (
            main(
                [
                    step,
                    "tfd",
                    "--raw-dir",
                    "raw",
                    "--tfd-file",
                    "TFD_48x48.mat",
                    *(["--out", "tfd.npz"] if step == "prepare" else []),
                ]
            )
            == 0
        )
    rng = np.random.default_rng(0)
    for name in ("samples", "draw1"):
        np.savez(tmp_path / f"{name}.npz", x=rng.integers(0, 256, (30, 1, 48, 48), dtype=np.uint8))
    common = ["--valid-limit", "0", "--dataset", "tfd", "--device", "cpu", "--sweep-num", "5"]
    model, reference = [], []
    for k in range(TFD_FOLDS):
        split = ["--valid", f"tfd.npz:x_valid_fold{k}", "--test", f"tfd.npz:x_test_fold{k}", "--fold", str(k)]
        model.append(tmp_path / f"parzen_fold{k}.json")
        assert (
            main(
                [
                    "parzen",
                    "--samples",
                    "samples.npz:x",
                    "--more-samples",
                    "draw1.npz:x",
                    *split,
                    *common,
                    "--seed",
                    "0",
                    "--out",
                    str(model[-1]),
                ]
            )
            == 0
        )
        reference.append(tmp_path / f"reference_parzen_fold{k}.json")
        assert (
            main(
                [
                    "parzen",
                    "--samples",
                    "tfd.npz:x_train",
                    "--samples-limit",
                    "10",
                    *split,
                    *common,
                    "--model",
                    "reference",
                    "--out",
                    str(reference[-1]),
                ]
            )
            == 0
        )
    folds = [json.loads(p.read_text()) for p in model]
    refs = [json.loads(p.read_text()) for p in reference]
    assert all(f["draws"]["n"] == 2 for f in folds)
    assert (
        main(
            [
                "metrics",
                "--dataset",
                "tfd",
                "--parzen",
                *map(str, model),
                "--reference",
                *map(str, reference),
                "--out",
                "metrics.json",
            ]
        )
        == 0
    )
    m = json.loads((tmp_path / "metrics.json").read_text())
    lls = [f["log_likelihood"] for f in folds]
    assert m["parzen_log_likelihood"] == pytest.approx(statistics.fmean(lls))
    assert m["parzen_fold_sd"] == pytest.approx(statistics.stdev(lls))
    assert m["parzen_fold_standard_error"] == pytest.approx(statistics.stdev(lls) / math.sqrt(TFD_FOLDS))
    assert m["parzen_standard_error_mean"] == pytest.approx(statistics.fmean(f["standard_error"] for f in folds))
    assert "parzen_standard_error" not in m and "reference_standard_error" not in m
    assert m["parzen_draws_mean"] == pytest.approx(statistics.fmean(f["draws"]["mean"] for f in folds))
    ref_lls = [r["log_likelihood"] for r in refs]
    assert m["reference_log_likelihood"] == pytest.approx(statistics.fmean(ref_lls))
    assert m["reference_fold_standard_error"] == pytest.approx(statistics.stdev(ref_lls) / math.sqrt(TFD_FOLDS))

    assert (
        main(
            [
                "table",
                "--parzen",
                *map(str, model),
                "--reference",
                *map(str, reference),
                "--metrics",
                "metrics.json",
                "--out-dir",
                "table",
            ]
        )
        == 0
    )
    table = json.loads((tmp_path / "table/table1.json").read_text())
    cell = next(r for r in table["rows"] if r["model"] == "Training images (reference)")["cells"]["tfd"]
    assert cell["folds"] == list(range(TFD_FOLDS))
    assert cell["log_likelihood"] == pytest.approx(statistics.fmean(ref_lls))
    assert cell["error"] == pytest.approx(statistics.stdev(ref_lls) / math.sqrt(TFD_FOLDS))
    assert "standard error across the 5 folds (SD of the fold means / sqrt 5)" in cell["error_kind"]
    extended = markdown_text(tmp_path / "table/table1_extended.md")
    assert "| Parzen ± across folds (SD of the fold means / sqrt folds): Table 1's ± |" in extended
    assert "| Parzen standard error over the test points, mean over folds |" in extended
