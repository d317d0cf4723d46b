"""End to end: the real Snakemake DAG and the real DVC stages, in temporary copies of the project."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, SHARED_MIRROR

BIN = Path(sys.executable).parent
FAST = "workflow/presets/fast.yaml"
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
                "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com"}  # CI has no git identity
CORES = os.environ.get("GANREPRO_TEST_CORES", "2")  # 1 on a machine busy with other work


def project_copy(dest: Path) -> Path:
    """The project's tracked and untracked-but-not-ignored files, without data or results."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                           cwd=REPO_ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = REPO_ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "GANREPRO_MIRROR": str(SHARED_MIRROR),
           **GIT_IDENTITY}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def snakemake(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run([str(BIN / "snakemake"), *args], cwd, check)


def dry_run_jobs(output: str) -> dict[str, int]:
    """Rule -> job count from the job-stats table of a dry run."""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", output, re.M)}


def test_dry_run_of_the_paper_lists_the_whole_dag_and_leaves_tfd_out_with_one_message() -> None:
    result = snakemake("-n", "--forceall", "--quiet", "rules", cwd=REPO_ROOT)  # whatever exists locally
    jobs = dry_run_jobs(result.stdout)
    for rule in ("fetch", "prepare", "train", "sample", "parzen", "parzen_reference", "infer", "classifier",
                 "class_metrics", "figure1_toy1d", "figure2_samples", "figure3_interpolation", "table1", "report"):
        assert rule in jobs, f"rule {rule} missing from the DAG: {jobs}"
    assert jobs["train"] >= 5  # mnist, cifar10, toy1d, ring, and mnist's conditional variant (+ cifar10's)
    tfd_present = (REPO_ROOT / yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["data"]["tfd_file"]).exists()
    assert result.stderr.count("tfd: left out: TFD_48x48.mat not found") == (0 if tfd_present else 1)


def test_an_invalid_parameter_fails_before_any_job_in_one_line_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  mnist:\n    lrr: 0.1\n")
    for args in (["--configfile", str(bad)], ["--config", "train={'mnist': {'lr': -1}}"], ["--config", "datasets=[mnsit]"]):
        result = snakemake("-n", *args, cwd=REPO_ROOT, check=False)
        errors = [line for line in (result.stdout + result.stderr).splitlines() if "error" in line.lower()]
        assert result.returncode != 0 and "Job stats" not in result.stdout, result.stdout
        assert len(errors) == 1 and len(errors[0]) < 250, errors
    assert errors[0] == ("ganrepro: error in the parameters: datasets: unknown dataset 'mnsit' (set in --config); "
                         "did you mean 'mnist'?")


@pytest.mark.parametrize("override", ["seeds=[0,1,2]", 'train={"mnist": {"lr": 0.05}}', "preset=fast"])
def test_the_readmes_ways_to_change_a_parameter_pass_validation(override: str) -> None:
    result = snakemake("-n", "--forceall", "--config", override, cwd=REPO_ROOT)
    assert "Job stats" in result.stdout
    if override.startswith("seeds"):  # one conditional model (first seed) beside three of each dataset
        jobs = dry_run_jobs(result.stdout)
        image_sets = 2 - ("cifar10: left out" in result.stderr)
        assert jobs["train"] == 3 * (2 + image_sets) + image_sets, jobs


def test_dvc_yaml_and_snakefile_agree() -> None:
    """Every DVC stage runs a Snakemake target of the DAG, depends on its own rules file, and every
    file the DAG produces for a dataset lies under that dataset's DVC outputs."""
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    targets, versioned = [], []
    for name, stage in stages.items():
        items = params["datasets"] if "foreach" in stage else [None]
        body = stage.get("do", stage)
        for item in items:
            expand = (lambda s, item=item: s.replace("${item}", item)) if item else (lambda s: s)
            cmd = expand(body["cmd"])
            assert cmd.startswith("snakemake --cores all "), cmd
            targets += cmd.split()[3:]
            assert any(d.startswith("workflow/rules/") for d in body["deps"]), f"stage {name} lacks its rules file"
            for group in ("outs", "metrics", "plots"):
                for entry in body.get(group, []):
                    versioned.append(expand(next(iter(entry)) if isinstance(entry, dict) else entry))
    for plot in yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["plots"]:
        (definition,) = plot.values()
        assert set(definition["y"]) <= set(versioned), f"top-level plot {plot} draws a file no stage declares"
    result = snakemake("-n", *targets, cwd=REPO_ROOT)
    assert "Nothing to be done" in result.stdout or "Job stats" in result.stdout
    summary = snakemake("--summary", "--cores", "1", cwd=REPO_ROOT).stdout.splitlines()[1:]
    produced = [line.split("\t")[0] for line in summary if line.strip()]
    assert len(produced) > 30
    for path in produced:
        if path.startswith(("data/prepared/", "results/")):
            assert any(path == v or path.startswith(v.rstrip("/") + "/") for v in versioned), \
                f"{path} is produced by Snakemake but versioned by no DVC stage"


def test_a_failed_jobs_error_reaches_the_terminal(tmp_path: Path) -> None:
    project = project_copy(tmp_path / "project")
    result = snakemake("--cores", "1", "results/runs/toy1d/train/s0/model.pt", "--config", "preset=fast",
                       'train={"toy1d": {"batch_size": 100000}}', cwd=project, check=False)
    assert result.returncode != 0
    assert "ganrepro train: error: train.*.batch_size x k (100000 x 1) exceeds the" in result.stdout + result.stderr


@pytest.mark.slow
def test_fast_preset_runs_the_whole_dag_then_has_nothing_to_do(tmp_path: Path) -> None:
    if not SHARED_MIRROR.is_dir():
        pytest.skip("needs the MNIST mirror")
    project = project_copy(tmp_path / "project")
    run_ = snakemake("--cores", CORES, "--config", "preset=fast", cwd=project)
    assert "[plan] models to train" in run_.stderr and "mnist conditional seed 0" in run_.stderr
    results = project / "results"
    for name in ("figure1_toy1d", "figure2_mnist", "figure3_mnist", "inference_mnist", "curves_mnist",
                 "ring_modes", "conditional_mnist"):
        for ext in ("png", "pdf"):
            assert (results / "figures" / f"{name}.{ext}").stat().st_size > 1000
    table = (results / "table1/table1.md").read_text()
    assert re.search(r"\| Adversarial nets \(this reproduction\) \| -?\d+ ± [\d.]+ \|", table), table
    report = (results / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 9
    infer = json.loads((results / "runs/mnist/eval/s0/infer/infer.json").read_text())["reconstruction"]
    assert infer["encoder"]["mse_per_pixel"] < 0.8 * infer["random_z"]["mse_per_pixel"]
    metrics = json.loads((results / "runs/mnist/metrics.json").read_text())
    parzen = json.loads((results / "runs/mnist/eval/s0/parzen.json").read_text())
    draws = parzen["draws"]  # sample.draws: 3 (seeds 1234, 1235, 1236)
    assert draws["n"] == 3 and draws["log_likelihoods"][0] == parzen["log_likelihood"]
    assert [Path(s.split(":")[0]).name for s in draws["samples"]] == ["samples.npz", "samples_draw1.npz", "samples_draw2.npz"]
    assert len(set(draws["log_likelihoods"])) == 3
    assert "| Parzen log-likelihood, SD across sample draws |" in (results / "table1/table1_extended.md").read_text()
    for key in ("parzen_log_likelihood", "parzen_draws_mean", "reference_log_likelihood", "class_metrics_classifier_fid",
                "class_metrics_classifier_fid_reference", "conditional_label_accuracy", "infer_z_recovery_mse"):
        assert key in metrics, key
    for ds, reason in (("tfd", "TFD_48x48.mat not found"), ("cifar10", "cannot fetch")):
        if f"{ds}: left out" in run_.stderr:
            assert json.loads((results / f"runs/{ds}/metrics.json").read_text())["not_run"].startswith(reason)
            assert reason in report and reason in table
    second = snakemake("--cores", CORES, "--config", "preset=fast", "-n", cwd=project)
    assert "Nothing to be done" in second.stdout + second.stderr


@pytest.mark.slow
def test_dvc_repro_experiments_and_remote_on_the_default_datasets(tmp_path: Path) -> None:
    """`-S preset=fast` over the default dataset list: the datasets available offline run, the others
    (TFD without its file, CIFAR-10 without network or mirror copy) are recorded as not run."""
    if not SHARED_MIRROR.is_dir():
        pytest.skip("needs the MNIST mirror")
    project = project_copy(tmp_path / "project")
    fast = yaml.safe_load((project / FAST).read_text())
    for command in (["git", "init", "-q"], ["git", "config", "user.name", "test"],
                    ["git", "config", "user.email", "test@example.com"], ["git", "add", "-A"],
                    ["git", "commit", "-qm", "project"]):
        run(command, project)  # dvc exp commits through its own git backend, which needs the identity
    dvc = str(BIN / "dvc")
    run([dvc, "exp", "run", "-S", "preset=fast"], project)
    for ds in yaml.safe_load((project / "params.yaml").read_text())["datasets"]:
        metrics = json.loads((project / f"results/runs/{ds}/metrics.json").read_text())
        assert ("not_run" in metrics) == (ds in ("tfd", "cifar10") and not _fetchable(project, ds)), (ds, metrics)
    plots = json.loads(run([dvc, "plots", "show", "--json"], project).stdout)["data"]
    drawn = {row["field"] for row in plots["mnist losses"][0]["content"]["data"]["values"]}
    assert drawn == {"d_loss", "g_loss"} and "results/runs/mnist/train_curves.csv" in plots, plots.keys()
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline"], project)
    run([dvc, "exp", "run", "-S", "train.mnist.lr=0.05"], project)
    shown = json.loads(run([dvc, "exp", "show", "--json"], project).stdout)
    lls = set()
    for entry in _exp_revisions(shown):
        metrics = entry["data"]["metrics"]["results/runs/mnist/metrics.json"]["data"]
        lr = entry["data"]["params"]["params.yaml"]["data"]["train"]["mnist"]["lr"]
        lls.add((lr, round(metrics["parzen_log_likelihood"], 6)))
    assert {lr for lr, _ in lls} == {0.1, 0.05} and len({ll for _, ll in lls}) == 2, lls
    readable = run([dvc, "exp", "show", "--only-changed", "--no-pager"], project).stdout
    header = next(line for line in readable.splitlines() if "Experiment" in line)
    assert "train.mnist.lr" in readable and header.count("┃") < 40, readable
    # A larger budget resumes the workspace's run (persistent outs) instead of training from scratch.
    run([dvc, "exp", "run", "-S", f"train.mnist.epochs={fast['train']['mnist']['epochs'] + 1}"], project)
    summary = json.loads((project / "results/runs/mnist/train/s0/train.json").read_text())
    assert summary["resumed"] and summary["steps_this_run"] == summary["steps_per_epoch"], summary

    # Any module of the package is a dependency: editing the training step marks training changed.
    with open(project / "src/ganrepro/passes.py", "a") as f:
        f.write("\n# edited\n")
    status = run([dvc, "status", "--json"], project).stdout
    changed = json.loads(status)
    assert {"train@mnist", "evaluate@mnist", "report"} <= set(changed), status

    remote = tmp_path / "remote"
    run([dvc, "remote", "add", "-d", "local", str(remote)], project)
    run([dvc, "push"], project)
    model = project / "results/runs/mnist/train/s0/model.pt"
    original = model.read_bytes()
    model.unlink()
    shutil.rmtree(project / ".dvc/cache")
    run([dvc, "pull"], project)
    assert model.read_bytes() == original


def _fetchable(project: Path, dataset: str) -> bool:
    """Whether this machine can fetch the dataset (network or mirror), as the workflow judges it."""
    result = snakemake("-n", "--config", "preset=fast", cwd=project)
    return f"{dataset}: left out" not in result.stderr


def _exp_revisions(shown: list[dict]) -> list[dict]:
    """The workspace/baseline entries and every experiment under them, from `dvc exp show --json`."""
    out = []
    for entry in shown:
        if entry.get("data"):
            out.append(entry)
        for exp in entry.get("experiments") or []:
            out += [rev for rev in exp.get("revs", []) if rev.get("data")]
    return out
