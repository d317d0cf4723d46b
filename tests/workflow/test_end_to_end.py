"""End to end, as a user takes it: in one temporary clone on the fast preset with the local mirror,
the whole DAG through DVC's stages (each runs Snakemake on its targets), after which Snakemake itself
has nothing to do; then every command the README and docs mark `<!-- doctest -->` (fenced ```sh
blocks, run in order), then DVC's experiments, resumption, dependencies and remote. The DAG runs in
full once: a second full run (the README's own commands, on the same parameters) finds it done."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from ganrepro.models.artifacts import load_model

from helpers import BIN, CORES, REPO_ROOT, SHARED_MIRROR, markdown_text, project_copy, run, snakemake

MARKED_BLOCK = re.compile(r"<!-- doctest -->\s*\n```sh\n(.*?)```", re.S)
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
NOT_FETCHABLE = {"tfd": "TFD_48x48.mat not found", "cifar10": "cannot fetch"}


def documented_commands(text: str) -> list[str]:
    """Shell commands of the marked blocks: comments dropped, backslash continuations joined."""
    commands = []
    for block in MARKED_BLOCK.findall(text):
        joined = re.sub(r"\s*\\\n\s*", " ", block)
        commands += [
            re.sub(r"\s+#.*$", "", line).strip()
            for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    return commands


def test_marked_blocks_are_found_and_joined() -> None:
    text = (
        "x\n<!-- doctest -->\n```sh\n# a comment\nsnakemake -n \\\n  --config a=1\ndvc exp show   # why\n```\n"
        "```sh\nnot run\n```\n"
    )
    assert documented_commands(text) == ["snakemake -n --config a=1", "dvc exp show"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project in a fresh git repository, params.yaml on the fast preset."""
    if not SHARED_MIRROR.is_dir():
        pytest.skip("needs the MNIST mirror")
    project = project_copy(tmp_path_factory.mktemp("e2e") / "project")
    params = project / "params.yaml"
    params.write_text(re.sub(r"^preset: paper\b", "preset: fast", params.read_text(), count=1, flags=re.M))
    for command in (
        ["git", "init", "-q"],
        ["git", "config", "user.name", "test"],
        ["git", "config", "user.email", "test@example.com"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "project on the fast preset"],
    ):
        run(command, project)  # dvc exp commits through its own git backend, which needs the identity
    return project


@pytest.mark.slow
def test_fast_preset_runs_the_whole_dag_under_dvc_then_snakemake_has_nothing_to_do(clone: Path) -> None:
    first = run([str(BIN / "dvc"), "exp", "run"], clone)
    printed = first.stdout + first.stderr
    assert "[plan] models to train" in printed and "mnist conditional seed 0" in printed
    results = clone / "results"
    for dataset, names in {
        "toy1d": ["figure1", "curves"],
        "ring": ["modes", "curves"],
        "mnist": ["figure2", "figure3", "inference", "curves", "conditional", "semisupervised", "inpainting"],
    }.items():
        index = (results / "figures" / dataset / "index.md").read_text()
        for name in names:
            for ext in ("png", "pdf"):
                assert (results / "figures" / dataset / f"{name}.{ext}").stat().st_size > 1000
            assert f"![{name}]({name}.png)" in index
    table = markdown_text(results / "table1/table1.md")
    assert re.search(r"\| Adversarial nets \(this reproduction\) \| -?\d+ ± [\d.]+", table), table
    report = (results / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 9
    infer = json.loads((results / "runs/mnist/eval/s0/infer/infer.json").read_text())["reconstruction"]
    assert infer["encoder"]["mse_per_pixel"] < 0.8 * infer["random_z"]["mse_per_pixel"]
    metrics = json.loads((results / "runs/mnist/metrics.json").read_text())
    parzen = json.loads((results / "runs/mnist/eval/s0/parzen.json").read_text())
    draws = parzen["draws"]  # sample.draws: 3 (seeds 1234, 1235, 1236)
    assert draws["n"] == 3 and draws["log_likelihoods"][0] == parzen["log_likelihood"]
    assert [Path(s.split(":")[0]).name for s in draws["samples"]] == [
        "samples.npz",
        "samples_draw1.npz",
        "samples_draw2.npz",
    ]
    assert len(set(draws["log_likelihoods"])) == 3
    assert "| Parzen log-likelihood, SD across sample draws |" in markdown_text(results / "table1/table1_extended.md")
    for key in (
        "parzen_log_likelihood",
        "parzen_draws_mean",
        "reference_log_likelihood",
        "class_metrics_classifier_fid",
        "class_metrics_classifier_fid_reference",
        "conditional_label_accuracy",
        "infer_z_recovery_mse",
        "semisupervised_d_gan_100",
        "semisupervised_scratch_600_sd",
        "inpaint_mean_accuracy",
        "inpaint_accuracy_truth",
    ):
        assert key in metrics, key
    for ds, reason in NOT_FETCHABLE.items():  # left out offline, each with its reason in the outputs
        if f"{ds}: left out" in printed:
            assert json.loads((results / f"runs/{ds}/metrics.json").read_text())["not_run"].startswith(reason)
            assert reason in report and reason in table
    # MNIST's train stage run again as DVC runs it (every training command forced): its finished runs
    # rewrite the same bytes (model files above the default 1 MB checksum limit), and Snakemake, judging
    # inputs by checksum rather than by their new timestamps, then has nothing to do.
    train_stage = yaml.safe_load((clone / "dvc.yaml").read_text())["stages"]["train"]["do"]["cmd"]
    snakemake(*train_stage.replace("${item}", "mnist").split()[1:], cwd=clone)
    second = snakemake("--cores", CORES, "-n", cwd=clone)
    assert "Nothing to be done" in second.stdout + second.stderr, second.stdout[-3000:]


@pytest.mark.slow
def test_documented_commands_then_dvc_experiments_resume_and_remote(clone: Path, tmp_path: Path) -> None:
    pages = {page: documented_commands(page.read_text()) for page in PAGES}
    assert any("dvc exp run" in c for c in pages[REPO_ROOT / "README.md"]), "the README marks no DVC command"
    printed = {}
    for page, commands in pages.items():
        for command in commands:
            result = run(["bash", "-c", command], clone, check=False)
            assert result.returncode == 0, (
                f"{page.relative_to(REPO_ROOT)}: `{command}` failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
            )
            printed[command] = result.stdout + result.stderr
    dvc = str(BIN / "dvc")  # the README's experiments ran above: preset=fast, then train.mnist.lr=0.05

    # The lr experiment forces every training command; the toy sets' runs, finished, rewrite their files
    # byte for byte, so DVC does not evaluate them again.
    for ds in ("toy1d", "ring"):
        assert f"Stage 'evaluate@{ds}' didn't change, skipping" in printed["dvc exp run -S train.mnist.lr=0.05"]

    # The default dataset list under DVC: what can run here ran, the rest says why it did not.
    for ds in yaml.safe_load((clone / "params.yaml").read_text())["datasets"]:
        metrics = json.loads((clone / f"results/runs/{ds}/metrics.json").read_text())
        if "not_run" in metrics:
            assert ds in NOT_FETCHABLE and metrics["not_run"].startswith(NOT_FETCHABLE[ds]), metrics
    shown = json.loads(run([dvc, "exp", "show", "--json"], clone).stdout)
    by_lr: dict[float, set[float]] = {}
    for entry in _exp_revisions(shown):
        if "data" not in entry["data"]["metrics"].get("results/runs/mnist/metrics.json", {}):
            continue  # the baseline commit, made before any run
        metrics = entry["data"]["metrics"]["results/runs/mnist/metrics.json"]["data"]
        lr = entry["data"]["params"]["params.yaml"]["data"]["train"]["mnist"]["lr"]
        by_lr.setdefault(lr, set()).add(round(metrics["parzen_log_likelihood"], 6))
    assert set(by_lr) == {0.1, 0.05} and not by_lr[0.1] & by_lr[0.05], by_lr  # each experiment its own score
    (view,) = [c for commands in pages.values() for c in commands if c.startswith("dvc exp show --md")]
    header = run(["bash", "-c", view], clone).stdout.splitlines()[0]  # the README's readable view
    assert "train.mnist.lr" in header and "parzen_log_likelihood" in header and header.count("|") <= 10, header
    plots = json.loads(run([dvc, "plots", "show", "--json"], clone).stdout)["data"]
    drawn = {row["field"] for row in plots["mnist losses"][0]["content"]["data"]["values"]}
    assert drawn == {"d_loss", "g_loss"} and "results/runs/mnist/train_curves.csv" in plots, plots.keys()

    # Back to an experiment of lr 0.1 (its files restored), then lr 0.05 again: trained again from step 0,
    # although Snakemake's own record says its last train jobs ran with lr 0.05 (they are forced, and the
    # restored checkpoint, made with lr 0.1, is started over).
    earlier = next(
        r
        for r in _exp_revisions(shown)
        if r.get("name")
        and r["data"]["params"]["params.yaml"]["data"]["train"]["mnist"]["lr"] == 0.1
        and "data" in r["data"]["metrics"].get("results/runs/mnist/metrics.json", {})
    )
    run([dvc, "exp", "apply", earlier["name"]], clone)
    run([dvc, "exp", "run", "-S", "train.mnist.lr=0.05", "train@mnist"], clone)
    for run_dir in ("s0", "cond_s0"):
        model = clone / f"results/runs/mnist/train/{run_dir}/model.pt"
        assert load_model(model, torch.device("cpu"))[2]["config"].lr == 0.05, run_dir  # not the restored model
        log = (clone / f"logs/train/mnist_{run_dir}.log").read_text()
        assert "checkpoint.pt was made with other parameters or data (lr: 0.1 -> 0.05)" in log, log[-2000:]
        steps = json.loads((model.parent / "train.json").read_text())["steps"]
        assert f"loop: {steps} steps this run" in log, log[-2000:]

    # A larger budget resumes the workspace's run (persistent outs) instead of training from scratch
    # (the train stage alone: what follows it is the lr experiment's path again).
    epochs = yaml.safe_load((clone / "workflow/presets/fast.yaml").read_text())["train"]["mnist"]["epochs"]
    run([dvc, "exp", "run", "-S", f"workflow/presets/fast.yaml:train.mnist.epochs={epochs + 1}", "train@mnist"], clone)
    steps_per_epoch = json.loads((clone / "results/runs/mnist/train/s0/train.json").read_text())["steps_per_epoch"]
    log = (clone / "logs/train/mnist_s0.log").read_text()
    assert "resuming from results/runs/mnist/train/s0/checkpoint.pt" in log, log[-2000:]
    assert f"loop: {steps_per_epoch} steps this run" in log, log[-2000:]

    # Any module of the package is a dependency: editing the training step marks its stages changed.
    with open(clone / "src/ganrepro/training/passes.py", "a") as f:
        f.write("\n# edited\n")
    changed = json.loads(run([dvc, "status", "--json"], clone).stdout)
    assert {"train@mnist", "evaluate@mnist", "report"} <= set(changed), changed

    remote = tmp_path / "remote"
    run([dvc, "remote", "add", "-d", "local", str(remote)], clone)
    run([dvc, "push"], clone)
    model = clone / "results/runs/mnist/train/s0/model.pt"
    original = model.read_bytes()
    model.unlink()
    shutil.rmtree(clone / ".dvc/cache")
    run([dvc, "pull", "train@mnist"], clone)  # the seeds run above left other stages' outs unsaved: not touched
    assert model.read_bytes() == original


def _exp_revisions(shown: list[dict]) -> list[dict]:
    """The workspace/baseline entries and every experiment under them, from `dvc exp show --json`."""
    out = []
    for entry in shown:
        if entry.get("data"):
            out.append(entry)
        for exp in entry.get("experiments") or []:
            out += [rev for rev in exp.get("revs", []) if rev.get("data")]
    return out
