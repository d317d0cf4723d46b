"""The inpainting rules in the real Snakemake DAG: for labelled image datasets only."""

from __future__ import annotations

import re

from helpers import REPO_ROOT, snakemake


def test_the_dry_run_trains_scores_and_draws_inpainting_for_mnist_and_not_for_the_toy_sets() -> None:
    overlay = 'inpaint={"datasets": ["mnist", "toy1d", "ring"]}'
    result = snakemake(
        "-n", "--forceall", "--config", "preset=fast", "datasets=[mnist,toy1d,ring]", overlay, cwd=REPO_ROOT
    )
    jobs = {
        rule: re.findall(rf"^rule {rule}:\n(?:.*\n)*?\s+wildcards: dataset=(\S+)", result.stdout, re.M)
        for rule in ("inpaint_train", "inpaint_eval", "inpaint_figure")
    }
    assert jobs == {rule: ["mnist"] for rule in jobs}, jobs
    assert "results/runs/mnist/train/inpaint/model.pt" in result.stdout
    assert "results/runs/mnist/eval/inpaint.json" in result.stdout
    assert "results/figures/mnist/inpainting.png" in result.stdout
    for toy in ("toy1d", "ring"):
        assert f"runs/{toy}/train/inpaint" not in result.stdout and f"runs/{toy}/eval/inpaint" not in result.stdout
        assert f"[ganrepro] {toy}: no inpainting: it needs labelled images" in result.stderr
