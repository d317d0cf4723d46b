"""End to end: the real Snakemake DAG and the real DVC stages, in temporary copies of the project."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import REPO_ROOT, project_copy, snakemake


def dry_run_jobs(output: str) -> dict[str, int]:
    """Rule -> job count from the job-stats table of a dry run."""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", output, re.M)}


def test_dry_run_of_the_paper_lists_the_whole_dag_and_leaves_tfd_out_with_one_message() -> None:
    result = snakemake("-n", "--forceall", "--quiet", "rules", cwd=REPO_ROOT)  # whatever exists locally
    jobs = dry_run_jobs(result.stdout)
    for rule in (
        "fetch",
        "prepare",
        "train",
        "sample",
        "parzen",
        "parzen_reference",
        "infer",
        "classifier",
        "class_metrics",
        "semisupervised",
        "figure_semisupervised",
        "figure1_toy1d",
        "figure2_samples",
        "figure3_interpolation",
        "table1",
        "report",
    ):
        assert rule in jobs, f"rule {rule} missing from the DAG: {jobs}"
    cifar10 = (
        "cifar10: left out: cannot fetch cifar-10-python.tar.gz" not in result.stderr
    )  # no network, no mirror copy
    assert jobs["train"] == 4 + 2 * cifar10  # mnist, toy1d, ring, mnist's conditional variant (+ cifar10's two)
    tfd_present = (REPO_ROOT / yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["data"]["tfd_file"]).exists()
    assert result.stderr.count("tfd: left out: TFD_48x48.mat not found") == (0 if tfd_present else 1)


def test_the_semi_supervised_step_runs_for_mnist_and_not_for_the_toy_sets() -> None:
    result = snakemake("-n", "--forceall", "-p", "--config", "datasets=[mnist,toy1d,ring]", cwd=REPO_ROOT)
    jobs = dry_run_jobs(result.stdout)
    assert jobs["semisupervised"] == 1 and jobs["figure_semisupervised"] == 1, jobs
    commands = [line for line in result.stdout.splitlines() if "ganrepro semi-supervised " in line]
    assert len(commands) == 1 and "results/runs/mnist/eval/s0/infer/encoder.pt" in commands[0]
    assert "results/runs/mnist/eval/s0/semisupervised.json" in commands[0]
    report = next(line for line in result.stdout.splitlines() if "ganrepro report " in line)
    assert "toy1d=" in report and "ring=" in report and "mnist=" not in report


def test_an_invalid_parameter_fails_before_any_job_in_one_line_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  mnist:\n    lrr: 0.1\n")
    for args in (
        ["--configfile", str(bad)],
        ["--config", "train={'mnist': {'lr': -1}}"],
        ["--config", "train={'mnist': {'log_every': 7}}"],  # keys that disagree with each other
        ["--config", "datasets=[mnsit]"],
    ):
        result = snakemake("-n", *args, cwd=REPO_ROOT, check=False)
        errors = [line for line in (result.stdout + result.stderr).splitlines() if "error" in line.lower()]
        assert result.returncode != 0 and "Job stats" not in result.stdout, result.stdout
        assert len(errors) == 1 and len(errors[0]) < 250, errors
    assert errors[0] == (
        "ganrepro: error in the parameters: datasets: unknown dataset 'mnsit' (set in --config); did you mean 'mnist'?"
    )


@pytest.mark.parametrize("override", ["seeds=[0,1,2]", 'train={"mnist": {"lr": 0.05}}', "preset=fast"])
def test_the_readmes_ways_to_change_a_parameter_pass_validation(override: str) -> None:
    result = snakemake("-n", "--forceall", "--config", override, cwd=REPO_ROOT)
    assert "Job stats" in result.stdout
    if override.startswith("seeds"):  # one conditional model (first seed) beside three of each dataset
        jobs = dry_run_jobs(result.stdout)
        image_sets = 2 - ("cifar10: left out" in result.stderr)
        assert jobs["train"] == 3 * (2 + image_sets) + image_sets, jobs


def test_dvc_yaml_and_snakefile_agree() -> None:
    """Every DVC stage runs a Snakemake target of the DAG and depends on its own rules file; every file
    a stage's target needs lies under that stage's outputs, a dependency it declares or the outputs of
    an earlier stage (so the train stage holds every network, and no stage needs a later one's files)."""
    dvc_yaml = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
    datasets = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["datasets"]
    versioned: list[str] = []
    produced_by_all: set[str] = set()
    for name, stage in dvc_yaml["stages"].items():
        body = stage.get("do", stage)
        targets, owned, needed = [], [], []
        for item in datasets if "foreach" in stage else [""]:
            cmd = body["cmd"].replace("${item}", item)
            assert cmd.startswith("snakemake --cores all "), cmd
            targets += cmd.split()[3:]
            assert any(d.startswith("workflow/rules/") for d in body["deps"]), f"stage {name} lacks its rules file"
            for group in ("outs", "metrics", "plots"):
                owned += [
                    (next(iter(e)) if isinstance(e, dict) else e).replace("${item}", item) for e in body.get(group, [])
                ]
            needed += [d.replace("${item}", item) for d in body["deps"]]
        versioned += owned  # this stage's and the earlier stages' outputs
        summary = snakemake("--summary", "--cores", "1", *targets, cwd=REPO_ROOT).stdout.splitlines()[1:]
        produced = [line.split("\t")[0] for line in summary if line.startswith(("data/prepared/", "results/"))]
        assert produced, f"stage {name}: its targets produce nothing"
        produced_by_all.update(produced)
        for path in produced:
            assert any(path == v or path.startswith(v.rstrip("/") + "/") for v in versioned + needed), (
                f"stage {name} needs {path}: not its output, a dependency it declares or an earlier stage's output"
            )
    for plot in dvc_yaml["plots"]:
        (definition,) = plot.values()
        assert set(definition["y"]) <= set(versioned), f"top-level plot {plot} draws a file no stage declares"
    assert len(produced_by_all) > 30
    for path in produced_by_all:
        assert any(path == v or path.startswith(v.rstrip("/") + "/") for v in versioned), (
            f"{path} is produced by Snakemake but versioned by no DVC stage"
        )


def test_a_failed_jobs_error_reaches_the_terminal(tmp_path: Path) -> None:
    project = project_copy(tmp_path / "project")
    result = snakemake(
        "--cores",
        "1",
        "results/runs/toy1d/train/s0/model.pt",
        "--config",
        "preset=fast",
        'train={"toy1d": {"batch_size": 100000}}',
        cwd=project,
        check=False,
    )
    assert result.returncode != 0
    assert "ganrepro train: error: train.*.batch_size x k (100000 x 1) exceeds the" in result.stdout + result.stderr


def test_a_custom_dataset_from_the_command_line_is_fetched_prepared_and_refetched_when_a_file_is_added(
    tmp_path: Path,
) -> None:
    from PIL import Image

    project = project_copy(tmp_path / "project")
    folder = project / "my_images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(30):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    config = [
        "--config",
        "datasets=[mine]",
        'data={"custom": {"mine": {"path": "my_images"}}}',
        'train={"mine": {"epochs": 1}}',
    ]
    target = "data/prepared/mine/info.json"
    first = snakemake("--cores", "1", target, *config, cwd=project)
    assert "mine: custom dataset from my_images, trained with train.mine over train.mnist" in first.stderr
    assert json.loads((project / target).read_text())["n_train"] > 0
    assert "Nothing to be done" in snakemake("-n", target, *config, cwd=project).stdout
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "new.png")
    again = dry_run_jobs(snakemake("-n", target, *config, cwd=project).stdout)
    assert again.get("fetch") == 1 and again.get("prepare") == 1, again
