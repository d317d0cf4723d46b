"""The HTML report: one file holding every figure, Table 1, metrics, reasons for what did not run."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import yaml
from matplotlib.figure import Figure

from ganrepro.cli import main
from ganrepro.io import write_json
from ganrepro.reporting import report
from ganrepro.reporting.figures import save_figure
from ganrepro.reporting.tables import MODEL_LABELS

from helpers import FAST_INFER, tiny_dataset, tiny_model

TFD_REASON = "TFD_48x48.mat not found at data/raw/tfd/TFD_48x48.mat (licensed)"


def parzen_json(path: Path, dataset: str, model: str, ll: float, se: float) -> str:
    write_json(
        path,
        {
            "dataset": dataset,
            "model": model,
            "seed": 0 if model == "gan" else None,
            "fold": None,
            "label": None,
            "log_likelihood": ll,
            "standard_error": se,
            "sigma": 0.2,
            "fine": None,
            "sigma_grid_spec": "logspace(-1.0, 0.0, 10)",
            "n_valid_used": 1000,
        },
    )
    return str(path)


def fake_results(tmp_path: Path) -> Path:
    """A results tree as the workflow leaves it: MNIST ran, TFD did not."""
    results = tmp_path / "results"
    for dataset, name in (("mnist", "figure2"), ("mnist", "curves"), ("ring", "modes")):
        fig = Figure(figsize=(2, 2))
        fig.subplots().plot(np.arange(3))
        save_figure(fig, results / "figures" / dataset / name)
    gan = parzen_json(results / "mnist" / "s0" / "parzen.json", "mnist", "gan", 212.34, 2.13)
    ref = parzen_json(results / "mnist" / "reference_parzen.json", "mnist", "reference", 239.6, 2.0)
    assert (
        main(
            [
                "table",
                "--parzen",
                gan,
                "--reference",
                ref,
                "--skipped",
                f"tfd={TFD_REASON}",
                "--out-dir",
                str(results / "table1"),
            ]
        )
        == 0
    )
    write_json(results / "runs/mnist/metrics.json", {"parzen_log_likelihood": 212.34, "parzen_standard_error": 2.13})
    write_json(results / "runs/tfd/metrics.json", {"not_run": TFD_REASON})
    write_json(results / "figures/ring/modes.json", {"modes": 8, "modes_covered": 7, "high_quality_fraction": 0.91})
    model = tiny_model(tmp_path / "model.pt")
    assert (
        main(
            [
                "infer",
                "--model",
                str(model),
                "--data",
                str(tiny_dataset(tmp_path / "d.npz", model)),
                "--out-dir",
                str(results / "runs/mnist/eval/s0/infer"),
                "--device",
                "cpu",
                *FAST_INFER,
                "--steps",
                "20",
            ]
        )
        == 0
    )
    return results


def test_report_is_self_contained_and_complete(tmp_path: Path) -> None:
    results = fake_results(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text("datasets: [mnist, tfd, cifar10]\nseeds: [0]\nsample:\n  n: 10000\n")
    out = tmp_path / "report.html"
    assert main(["report", "--results", str(results), "--params", str(params), "--out", str(out)]) == 0
    text = out.read_text()

    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 3
    assert {base64.b64decode(i) for i in images} == {p.read_bytes() for p in (results / "figures").glob("*/*.png")}
    assert report.caption("figure2", "mnist") in text.replace("&#x27;", "'")
    assert "212 ± 2.1" in text and "225 ± 2" in text and "240 ± 2" in text  # Table 1 and the paper's row
    assert "lower than the paper" in text  # 212 vs 225: 4.3 errors apart
    assert "not run: " + TFD_REASON in text and "cifar10" in text.lower() and "no results yet" in text
    assert "7 of 8 modes covered" in text
    assert "Approximate inference (tiny" in text
    assert "Helvetica" in text and "Evaluating p(x)" in text  # Table 2
    assert "datasets: [mnist, tfd, cifar10]" in text  # the parameters
    assert re.search(r"<td>torch</td>\s*<td>\d", text) and "<td>snakemake</td>" in text
    assert 'src="http' not in text and "<link" not in text  # nothing external


def test_report_shows_parzen_per_class_and_the_gap(tmp_path: Path) -> None:
    eval_dir = tmp_path / "results/runs/mnist/eval"
    per_class = {
        "reference_parzen.json": {"0": 200.0, "1": 580.0},
        "s0/parzen.json": {"0": 140.0, "1": 550.0},
        "s1/parzen.json": {"0": 150.0, "1": 560.0},
    }
    for name, means in per_class.items():
        write_json(
            eval_dir / name,
            {
                "seed": None if name.startswith("ref") else int(name[1]),
                "per_class": {c: {"n": 5, "log_likelihood": v} for c, v in means.items()},
            },
        )
    text = report.per_class_html(tmp_path / "results")
    rows = re.findall(r"<th>(\d)</th>\s*" + r"\s*".join([r"<td>([-\d.]+)</td>"] * 4), text)
    assert rows == [("0", "200.0", "140.0", "150.0", "55.0"), ("1", "580.0", "550.0", "560.0", "25.0")], text
    assert "GAN seed 1" in text and "MNIST" in text
    write_json(eval_dir / "s1/parzen.json", {"seed": 1, "per_class": None})  # an older parzen.json
    assert "No per-class Parzen scores" in report.per_class_html(tmp_path / "results")


def test_report_without_results_says_what_is_missing(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert (
        main(["report", "--results", str(tmp_path / "none"), "--params", str(tmp_path / "no.yaml"), "--out", str(out)])
        == 0
    )
    text = out.read_text()
    assert "Table 1 has not been built" in text and "No figures" in text and "No inference results" in text


def test_every_figure_and_table1_has_its_caption_from_the_rst_files() -> None:
    assert set(report.FIGURE_ORDER) | {"table1"} <= set(report.CAPTIONS)
    assert report.caption("figure2", "mnist").startswith("Figure 2 (MNIST): samples of the generator")
    assert all("snakemake" not in text and text for text in report.CAPTIONS.values())


def test_report_labels_a_reduced_budget_at_the_top_and_beside_the_comparison(tmp_path: Path, repo_root: Path) -> None:
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    config = {**params, "preset": "fast", "datasets": ["mnist", "ring"], "sample": {**params["sample"], "n": 2000}}
    results = tmp_path / "results"
    gan = parzen_json(results / "runs/mnist/eval/s0/parzen.json", "mnist", "gan", -45.3, 2.1)
    ref = parzen_json(results / "runs/mnist/eval/reference_parzen.json", "mnist", "reference", 120.0, 2.0)
    km = parzen_json(results / "runs/mnist/eval/kmeans_parzen.json", "mnist", "kmeans", 150.0, 2.0)
    assert (
        main(
            [
                "table",
                "--parzen",
                gan,
                "--reference",
                ref,
                "--kmeans",
                km,
                "--config-json",
                json.dumps(config),
                "--params",
                str(repo_root / "params.yaml"),
                "--out-dir",
                str(results / "table1"),
            ]
        )
        == 0
    )
    write_json(results / "runs/mnist/metrics.json", {"dataset": "mnist", "parzen_log_likelihood": -45.3})
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot(np.arange(3))
    sweep = save_figure(fig, results / "figures" / "mnist" / "sigma_sweep")[0]
    out = tmp_path / "report.html"
    assert (
        main(
            [
                "report",
                "--results",
                str(results),
                "--config-json",
                json.dumps(config),
                "--figures",
                str(sweep),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = out.read_text().replace("&#x27;", "'")
    banner = text.index("Reduced budgets (fast preset): these results are not comparable with the paper.")
    assert banner < text.index("<h2>") and "MNIST: fast preset, 2000 samples (the paper: 10,000)" in text
    assert (
        "MNIST: measured -45 ± 2.1 on a reduced budget (fast preset, 2000 samples (the paper: 10,000)): "
        "not comparable with the paper's 225 ± 2."
    ) in text
    assert "lower than the paper" not in text and "difference" not in text
    assert "k-means centres of the training set (as many as samples) score 150 ± 2, above the real images" in text
    assert "TFD" not in text.split("What matches the paper")[1].split("<h2>")[0]  # not in the datasets list
    assert "Reduced budget (not comparable with the paper)</th>" in text  # Table 1's column
    assert report.caption("sigma_sweep", "mnist") in text and "Sigma sweep (MNIST)" in text
    assert "Published MNIST scores under the same protocol (quoted, not measured)" in text
    assert "<td>GMMN + AE</td>" in text and "<td>282 ± 2</td>" in text


def test_a_reduced_budget_over_several_seeds_names_what_its_spread_is() -> None:
    cell = {
        "log_likelihood": 160.8,
        "error": 1.3,
        "error_kind": "standard deviation across 3 seeds",
        "seeds": [0, 1, 2],
    }
    table = {
        "rows": [{"model": MODEL_LABELS["gan"], "cells": {"mnist": cell}}],
        "budget": {"models": {"mnist": ["100 epochs (default 2000)"]}},
    }
    assert report.findings(table, {}, None, [], requested=["mnist"])[0] == (
        "MNIST: measured 161 ± 1.3 (mean ± standard deviation across 3 seeds) on a reduced budget "
        "(100 epochs (default 2000)): not comparable with the paper's 225 ± 2."
    )


def test_inpainting_left_out_by_its_parameter_is_not_reported_missing(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    left_out = report.build_report(
        results, tmp_path / "params.yaml", {"datasets": ["mnist"], "inpaint": {"datasets": []}}
    )
    assert "Not run: <code>inpaint.datasets</code> names none of the datasets of this run." in left_out
    assert "No inpainting results" not in left_out
    listed = report.build_report(
        results, tmp_path / "params.yaml", {"datasets": ["mnist"], "inpaint": {"datasets": ["mnist"]}}
    )
    assert "No inpainting results" in listed and "Not run: <code>inpaint.datasets</code>" not in listed


def test_datasets_left_out_of_the_list_are_not_reported_as_not_run() -> None:
    missing = {"tfd": "not run: TFD_48x48.mat not found"}
    lines = report.findings(None, missing, None, [], requested=["cifar10", "tfd"])
    assert not any(line.startswith("MNIST") for line in lines)
    assert "TFD: the paper reports 2057 ± 26; not run: TFD_48x48.mat not found." in lines
    assert any(line.startswith("MNIST: the paper reports 225 ± 2") for line in report.findings(None, {}, None, []))


def test_figure_captions_come_from_the_file_name_and_its_folder() -> None:
    assert report.figure_caption(Path("figures/fashion-mnist/sigma_sweep.png")).startswith(
        "Sigma sweep (Fashion-MNIST): "
    )
    assert report.figure_caption(Path("figures/toy1d/figure1.png")).startswith("Figure 1 (toy1d): ")
    assert report.figure_caption(Path("figures/mnist/extra.png")) == "extra"
    assert report.caption("conditional", "mnist").startswith("Conditional GAN p(x | c) on MNIST: one row per class")


def test_the_figure_index_lists_a_datasets_figures_in_the_papers_order_with_captions(tmp_path: Path) -> None:
    pngs = [tmp_path / "figures/mnist" / f"{name}.png" for name in ("curves", "sigma_sweep", "figure2")]
    for png in pngs:
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(b"png")
    out = tmp_path / "figures/mnist/index.md"
    assert main(["figure-index", "--dataset", "mnist", "--figures", *map(str, pngs), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Figures: MNIST\n")
    assert (
        text.index("## Figure 2 (MNIST)\n")
        < text.index("## Training (MNIST)\n")
        < text.index("## Sigma sweep (MNIST)\n")
    )
    assert "![figure2](figure2.png)" in text and "PDF: [figure2.pdf](figure2.pdf)" in text
    assert (
        "\nSamples of the generator, " + report.caption("figure2", "mnist").partition("samples of the generator, ")[2]
        in text
    )
