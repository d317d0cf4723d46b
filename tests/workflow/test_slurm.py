"""profiles/slurm on a real SLURM scheduler (tests/slurm/start.sh starts a one-node cluster): a
small real sub-DAG goes through sbatch, every job is accounted COMPLETED, and the outputs equal a
local run's. Skipped, with the reason, where no SLURM is up."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from helpers import BIN, REPO_ROOT, SHARED_MIRROR, assert_same_arrays, assert_same_model, project_copy, snakemake

PARTITION = os.environ.get("GANREPRO_SLURM_PARTITION", "debug")  # as tests/slurm/start.sh names it
# A real sub-DAG on the fast preset: MNIST from the mirror, and the 1-D toy set through training
# (train asks for a GPU locally, so it shows the profile turns GPU requests off).
CONFIG = ["--config", "preset=fast", 'train={"toy1d": {"epochs": 2}}']
MODEL = "results/runs/toy1d/train/s0/model.pt"
PREPARED = ["data/prepared/toy1d/dataset.npz", "data/prepared/mnist/dataset.npz"]
# For the one-node test cluster: its partition, one thread per job (the local run's, so the model is
# the same bit for bit), and status checks from 2 s after submission instead of 40 s.
TEST_OVERLAY = {
    "default-resources": {"slurm_partition": PARTITION},
    "max-threads": 1,
    "slurm-init-seconds-before-status-checks": 2,
}


def slurm_unavailable() -> str | None:
    """Why the test cannot run here, or None when a SLURM node is up (idle or busy) and sacct answers."""
    if shutil.which("sinfo") is None:
        return "no SLURM on this machine (as root: tests/slurm/start.sh)"
    states = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    if states.returncode != 0 or not {"idle", "mix", "alloc", "comp"} & set(states.stdout.split()):
        return f"no SLURM node up (sinfo: {(states.stdout + states.stderr).strip()!r}); start one: tests/slurm/start.sh"
    accounting = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, text=True)
    if accounting.returncode != 0:  # the executor's sacct status checks would hang Snakemake
        return f"SLURM has no accounting (sacct: {accounting.stderr.strip()}); tests/slurm/start.sh sets it up"
    return None


def test_the_profile_asks_for_no_gpu_and_its_gpu_overlay_for_one_per_gpu_rule() -> None:
    """The profile asks for no GPU (sbatch refuses one on a CPU-only cluster) and no partition (the
    cluster's default); the GPU overlay asks one for each rule that declares gpu=1."""
    base = yaml.safe_load((REPO_ROOT / "profiles/slurm/config.yaml").read_text())
    gpu = yaml.safe_load((REPO_ROOT / "profiles/slurm/gpu/config.yaml").read_text())
    rules = "".join(p.read_text() for p in (REPO_ROOT / "workflow/rules").glob("*.smk"))
    gpu_rules = {m[1] for m in re.finditer(r"^rule (\w+):(?:(?!^rule ).)*?gpu=1", rules, re.M | re.S)}
    assert gpu_rules == set(base["set-resources"]) == set(gpu["set-resources"]), gpu_rules
    assert all(res["gpu"] == 0 for res in base["set-resources"].values())
    assert all(res["gpu"] == 1 and res["slurm_partition"] for res in gpu["set-resources"].values())
    assert "slurm_partition" not in base["default-resources"] and "cpus_per_task" not in base["default-resources"]


def sacct_jobs(since: str) -> dict[str, tuple[str, str, str]]:
    """SLURM job id -> (job name, state, requested resources) of the jobs submitted since `since`."""
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "JobID,JobName,State,ReqTRES", "-S", since],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {job: (name, state, tres) for job, name, state, tres in (line.split("|") for line in out.splitlines())}


@pytest.mark.slow
def test_a_sub_dag_runs_through_the_scheduler_and_matches_a_local_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if reason := slurm_unavailable():
        pytest.skip(reason)
    if not SHARED_MIRROR.is_dir():
        pytest.skip("needs the MNIST mirror")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # both runs, and the jobs sbatch starts with this environment
    cluster, local = project_copy(tmp_path / "cluster"), project_copy(tmp_path / "local")
    profile = tmp_path / "profile"
    profile.mkdir()
    settings = yaml.safe_load((cluster / "profiles/slurm/config.yaml").read_text())
    settings["default-resources"] |= TEST_OVERLAY["default-resources"]
    settings |= {k: v for k, v in TEST_OVERLAY.items() if k != "default-resources"}
    (profile / "config.yaml").write_text(yaml.safe_dump(settings))

    since = datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "GANREPRO_MIRROR": str(SHARED_MIRROR)}
    command = [str(BIN / "snakemake"), MODEL, *PREPARED, "--workflow-profile", str(profile), *CONFIG]
    # The scheduler run waits on sbatch jobs most of the time: the local run goes meanwhile.
    scheduled = subprocess.Popen(command, cwd=cluster, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        snakemake(MODEL, *PREPARED, "--cores", "1", *CONFIG, cwd=local)
        output, _ = scheduled.communicate(timeout=300)
    finally:
        if scheduled.poll() is None:  # Snakemake cancels its jobs (scancel) on SIGINT
            scheduled.send_signal(signal.SIGINT)
            scheduled.communicate(timeout=60)
    log = output.decode()
    assert scheduled.returncode == 0, log[-6000:]

    ran = re.findall(r"^(\d+) of \1 steps \(100%\) done", log, re.M)
    (run_id,) = set(re.findall(r"^SLURM run ID: (\S+)", log, re.M))
    # "... submitted with SLURM jobid 7 (log: <project>/logs/slurm/rule_train/toy1d/7.log)"
    submitted = dict(re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/logs/slurm/rule_(\w+)/", log))
    accounted = sacct_jobs(since)
    assert ran == ["5"] and sorted(submitted.values()) == ["fetch", "fetch", "prepare", "prepare", "train"], log
    for job in submitted:
        name, state, tres = accounted[job]
        assert (name, state) == (run_id, "COMPLETED"), accounted[job]
        assert "cpu=1," in tres and "gpu" not in tres, tres
    train = next(job for job, rule in submitted.items() if rule == "train")
    assert "mem=16000M" in accounted[train][2]  # the profile's set-resources reached sbatch
    assert_same_model(cluster / MODEL, local / MODEL)
    for path in PREPARED:
        assert_same_arrays(cluster / path, local / path)
