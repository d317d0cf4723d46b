"""The workflow under faults, with real Snakemake in copies of the project: a run SIGKILLed during
training and rerun as docs/cluster.md says resumes from its checkpoint and ends with an uninterrupted
run's model; a second Snakemake started in the folder of a running one is refused and changes nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import BIN, SHARED_MIRROR, assert_same_model, project_copy, snakemake

RUN = Path("results/runs/toy1d/train/s0")
MODEL, CHECKPOINT, TRAIN_LOG = RUN / "model.pt", RUN / "checkpoint.pt", Path("logs/train/toy1d_s0.log")
# The 1-D toy set for 30 epochs: 1,500 steps, about 20 s of training on one core, checkpoints at 500 and 1000.
OVERLAY = "train:\n  toy1d:\n    epochs: 30\n    checkpoint_every: 500\n"
LOCKED = "Directory cannot be locked"


def command(project: Path) -> list[str]:
    """The run both tests start: one training job (and the data it needs), on the fast preset."""
    overlay = project / "faults.yaml"
    overlay.write_text(OVERLAY)
    return ["snakemake", str(MODEL), "--cores", "1", "--config", "preset=fast", "--configfile", str(overlay)]


def start(project: Path) -> subprocess.Popen:
    """Snakemake in the background, in a process group of its own (the jobs it starts join it)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "GANREPRO_MIRROR": str(SHARED_MIRROR)}
    return subprocess.Popen(
        [str(BIN / "snakemake"), *command(project)[1:]],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(path: Path, run: subprocess.Popen, timeout: float = 240) -> None:
    """Until `path` exists, while `run` goes on."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert run.poll() is None, f"Snakemake ended before {path} appeared:\n{run.communicate()[0].decode()[-4000:]}"
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.2)


def finished(run: subprocess.Popen, timeout: float = 300) -> str:
    output, _ = run.communicate(timeout=timeout)
    assert run.returncode == 0, output.decode()[-6000:]
    return output.decode()


def files(project: Path) -> dict[str, tuple[int, bytes]]:
    """Every file a run wrote so far, with its mtime and contents."""
    return {
        str(p.relative_to(project)): (p.stat().st_mtime_ns, p.read_bytes())
        for folder in ("data", "results")
        for p in (project / folder).rglob("*")
        if p.is_file()
    }


@dataclass
class Uninterrupted:
    project: Path
    second: subprocess.CompletedProcess  # a second Snakemake started in the folder while the first trained
    first_running_after_second: bool
    before: dict[str, tuple[int, bytes]]  # the first run's files when the second started, and when it ended
    after: dict[str, tuple[int, bytes]]


def run_with_a_second_beside_it(project: Path) -> Uninterrupted:
    """A run that goes to the end undisturbed, except that a second Snakemake is started in its folder
    while it trains."""
    first = start(project)
    try:
        wait_for(project / TRAIN_LOG, first)  # the training job has started
        before = files(project)
        second = snakemake(*command(project)[1:], cwd=project, check=False)
        running = first.poll() is None
        after = files(project)
        finished(first)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    return Uninterrupted(project, second, running, before, after)


@dataclass
class Killed:
    project: Path
    model_after_kill: bool
    same_command: subprocess.CompletedProcess  # right after the kill


def kill_and_rerun(project: Path) -> Killed:
    """SIGKILL Snakemake and its training job after the first checkpoint, then rerun as docs/cluster.md says."""
    run = start(project)
    wait_for(project / CHECKPOINT, run)
    os.killpg(run.pid, signal.SIGKILL)  # nothing can clean up
    run.wait()
    model_after_kill = (project / MODEL).exists()
    same_command = snakemake(*command(project)[1:], cwd=project, check=False)
    snakemake("--unlock", cwd=project)  # no other Snakemake runs there
    snakemake(*command(project)[1:], cwd=project)
    return Killed(project, model_after_kill, same_command)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Uninterrupted, Killed]:
    """Both scenarios at once, in two copies of the project: most of their time is Snakemake and
    Python starting, on one core each."""
    if not SHARED_MIRROR.is_dir():
        pytest.skip("needs the local dataset mirror")
    with pytest.MonkeyPatch.context() as env, ThreadPoolExecutor(1) as pool:
        env.setenv("OMP_NUM_THREADS", "1")  # the same threads in every run: equal models bit for bit
        killed = pool.submit(kill_and_rerun, project_copy(tmp_path_factory.mktemp("killed") / "project"))
        uninterrupted = run_with_a_second_beside_it(project_copy(tmp_path_factory.mktemp("first") / "project"))
        return uninterrupted, killed.result()


@pytest.mark.slow
def test_a_second_snakemake_in_a_running_folder_is_refused_and_changes_nothing(
    runs: tuple[Uninterrupted, Killed],
) -> None:
    first = runs[0]
    assert first.first_running_after_second, "the first run ended before the second was refused"
    second = first.second
    assert second.returncode != 0 and "LockException" in second.stderr and LOCKED in second.stderr, second.stderr
    assert "rule train" not in second.stdout + second.stderr  # it started no job
    # What the first run had written is untouched, but for the files its training rewrites as it goes on.
    done = {k: v for k, v in first.before.items() if not k.startswith(f"{RUN}/")}
    assert done and {k: first.after.get(k) for k in done} == done
    assert (first.project / MODEL).exists()  # and the first run completed


@pytest.mark.slow
def test_a_run_killed_during_training_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_one(
    runs: tuple[Uninterrupted, Killed],
) -> None:
    uninterrupted, killed = runs
    assert not killed.model_after_kill
    # The killed run's lock is left behind: the same command alone is refused, hence the --unlock first.
    refused = killed.same_command
    assert refused.returncode != 0 and LOCKED in refused.stderr and "--unlock" in refused.stderr, refused.stderr
    log = (killed.project / TRAIN_LOG).read_text()
    resumed = re.search(rf"resuming from {CHECKPOINT} at step (\d+) of 1500", log)
    assert resumed and int(resumed[1]) > 0, log
    assert_same_model(killed.project / MODEL, uninterrupted.project / MODEL)
