"""The report's inpainting section."""

from __future__ import annotations

from pathlib import Path

from ganrepro import paths
from ganrepro.io import write_json
from ganrepro.models.inpainting import MASK_KINDS
from ganrepro.reporting.report import inpainting_html


def test_the_section_tables_each_kind_and_the_mean_or_says_what_is_missing(tmp_path: Path) -> None:
    results = tmp_path / paths.RESULTS
    assert "No inpainting results (results/runs/&lt;dataset&gt;/eval/inpaint.json)" in inpainting_html(results)
    kinds = {
        kind: {"mse_mean": 0.01 * (i + 1), "accuracy": 0.5, "accuracy_mean_fill": 0.25}
        for i, kind in enumerate(MASK_KINDS)
    }
    record = {"dataset": "mnist", "points": 40, "completions": 10, "kinds": kinds, "mean": {"mse_mean": 0.035}}
    write_json(tmp_path / paths.inpaint_metrics("mnist"), {**record, "accuracy_truth": 0.99})
    page = inpainting_html(results)
    assert "<h3>MNIST</h3>" in page and "40 test images, k = 10" in page and "0.9900" in page
    assert all(f"<th>{kind}</th>" in page for kind in [*MASK_KINDS, "mean"])
    assert "<td>0.0600</td>" in page and "accuracy, mean fill" in page and "MSE, best of k" not in page
