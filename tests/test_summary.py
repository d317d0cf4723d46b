"""`ganrepro metrics` / `not-run` and the extended Table 1 built from their output."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from ganrepro.cli import main


def write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_metrics_average_folds_within_a_seed_then_report_mean_and_spread_over_seeds(tmp_path: Path) -> None:
    parzen = [write(tmp_path / f"p{seed}_{fold}.json", {"seed": seed, "fold": fold, "log_likelihood": ll,
                                                         "fine": {"log_likelihood": ll + 10}})
              for seed, fold, ll in [(0, 0, 100.0), (0, 1, 110.0), (1, 0, 130.0), (1, 1, 150.0)]]
    train = [write(tmp_path / f"t{seed}.json", {"seed": seed, "seconds_total": 60.0 * (seed + 1)}) for seed in (0, 1)]
    out = tmp_path / "metrics.json"
    assert main(["metrics", "--dataset", "tfd", "--parzen", *map(str, parzen), "--train", *map(str, train),
                 "--out", str(out)]) == 0
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
    assert main(["metrics", "--dataset", "x", "--train", *map(str, summaries), "--logs", *map(str, logs),
                 "--curves-out", str(curves), "--out", str(tmp_path / "m.json")]) == 0
    lines = curves.read_text().splitlines()
    assert lines[0] == "step,epoch,d_loss,seed" and lines[1:] == ["10,0.5,1.2,3", "20,1.0,1.1,3", "10,0.5,1.2,4",
                                                                    "20,1.0,1.1,4"]


def test_not_run_marks_every_output_and_the_extended_table_says_so(tmp_path: Path) -> None:
    outs = [tmp_path / "a/info.json", tmp_path / "b/curves.csv", tmp_path / "metrics_tfd.json"]
    assert main(["not-run", "--dataset", "tfd", "--reason", "no licence file", "--out", *map(str, outs)]) == 0
    assert json.loads(outs[0].read_text()) == {"dataset": "tfd", "not_run": "no licence file"}
    assert outs[1].read_text() == "seed,step,epoch\n"
    mnist = write(tmp_path / "metrics_mnist.json", {"dataset": "mnist", "parzen_log_likelihood": 201.234,
                                                    "parzen_log_likelihood_std": 3.21, "class_metrics_classifier_fid": 4.5})
    assert main(["table", "--metrics", str(mnist), str(outs[2]), "--out-dir", str(tmp_path / "t")]) == 0
    table = (tmp_path / "t/table1_extended.md").read_text()
    assert "| Parzen log-likelihood, paper protocol | 201.2 ± 3.2 | not run |" in table
    assert "| Classifier FID, samples vs test images | 4.5 | not run |" in table
    assert "Conditional GAN" not in table  # rows without any value are left out
