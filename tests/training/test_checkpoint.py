"""checkpoint.pt: resumption bit for bit, refused or discarded checkpoints, files that cannot run
code, and a full disk while training writes."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ganrepro.errors import UserError
from ganrepro.io import save_npz
from ganrepro.models.artifacts import load_model
from ganrepro.training.loop import Trainer, train

from helpers import MNIST_LIKE, write_code_running_file, write_images


def test_checkpoint_from_other_parameters_is_refused_or_restarted(tmp_path: Path) -> None:
    data = write_images(tmp_path / "tiny.npz")
    cfg = MNIST_LIKE.replace(epochs=1, valid_every=0)
    Trainer(cfg, data, tmp_path / "run").run(show_progress=False)
    with pytest.raises(UserError, match=r"other parameters or data \(lr: 0.1 -> 0.05\).*--if-changed restart"):
        Trainer(cfg.replace(lr=0.05), data, tmp_path / "run").run(show_progress=False)
    restarted = Trainer(cfg.replace(lr=0.05), data, tmp_path / "run")
    assert restarted.run(show_progress=False, if_changed="restart")["resumed"] is False


def test_a_checkpoint_made_on_other_data_is_refused_or_restarted(tmp_path: Path) -> None:
    """Same parameters, another dataset file (an edited custom dataset, a toy set of another size): a
    finished run is not taken for this data's, and with --if-changed restart it trains again."""
    first, other = write_images(tmp_path / "a.npz", seed=0), write_images(tmp_path / "b.npz", seed=1)
    cfg = MNIST_LIKE.replace(epochs=1, valid_every=0)
    run = tmp_path / "run"
    train(cfg, "tiny", first, run)
    with pytest.raises(UserError, match=r"other parameters or data \(training data: sha256 [0-9a-f]{12}\.\.\. -> "):
        Trainer(cfg, other, run).run(show_progress=False)
    again = train(cfg, "tiny", other, run, if_changed="restart")
    assert again["resumed"] is False and again["steps_this_run"] == again["steps"] == 10
    assert train(cfg, "tiny", other, run)["resumed"] is True  # the same data again: resumed


def test_the_same_training_data_in_a_file_prepared_again_is_resumed(tmp_path: Path) -> None:
    """The digest covers the arrays training uses, not the file: the same data with other metadata
    (fetched from elsewhere) and other validation images resumes."""
    data = write_images(tmp_path / "tiny.npz")
    cfg = MNIST_LIKE.replace(epochs=1, valid_every=0)
    train(cfg, "tiny", data, tmp_path / "run")
    with np.load(data) as f:
        arrays = dict(f)
    meta = {**json.loads(str(arrays.pop("meta"))), "source": "a mirror"}
    save_npz(data, **{**arrays, "x_valid": arrays["x_valid"][::-1]}, meta=np.array(json.dumps(meta)))
    assert train(cfg.replace(epochs=2), "tiny", data, tmp_path / "run")["steps_this_run"] == 10


def test_a_checkpoint_without_a_data_digest_is_resumed(tmp_path: Path) -> None:
    """Checkpoints written before they recorded their data's digest resume (the long runs' do)."""
    data = write_images(tmp_path / "tiny.npz")
    cfg = MNIST_LIKE.replace(epochs=1, valid_every=0)
    train(cfg, "tiny", data, tmp_path / "run")
    ckpt = tmp_path / "run" / "checkpoint.pt"
    state = torch.load(ckpt, weights_only=True)
    del state["data"]
    torch.save(state, ckpt)
    assert train(cfg.replace(epochs=2), "tiny", data, tmp_path / "run")["steps_this_run"] == 10


def test_checkpoint_of_an_older_format_is_not_resumed(tmp_path: Path) -> None:
    """A format-1 checkpoint holds maxout rows (and their momentum) unit-major: resuming would mix them."""
    data = write_images(tmp_path / "tiny.npz")
    cfg = MNIST_LIKE.replace(epochs=1, valid_every=0)
    trainer = Trainer(cfg, data, tmp_path / "run")
    trainer.run(show_progress=False)
    state = torch.load(trainer.ckpt_path, weights_only=True)
    del state["format"]
    torch.save(state, trainer.ckpt_path)
    with pytest.raises(UserError, match=r"checkpoint format 1, this version reads 2"):
        Trainer(cfg, data, tmp_path / "run").run(show_progress=False)


def test_a_checkpoint_without_log_rows_is_from_an_older_version_and_not_resumed(tmp_path: Path) -> None:
    """Checkpoints written before the log rows moved into them are refused (restart discards them)."""
    data = write_images(tmp_path / "tiny.npz")
    cfg = MNIST_LIKE.replace(epochs=1, valid_every=0)
    trainer = Trainer(cfg, data, tmp_path / "run")
    trainer.run(show_progress=False)
    state = torch.load(trainer.ckpt_path, weights_only=True)
    del state["log"]
    torch.save(state, trainer.ckpt_path)
    with pytest.raises(UserError, match=r"written by an older version \(no log\).*--if-changed restart"):
        Trainer(cfg, data, tmp_path / "run").run(show_progress=False)
    assert Trainer(cfg, data, tmp_path / "run").run(show_progress=False, if_changed="restart")["resumed"] is False


def test_checkpoints_and_model_files_hold_only_tensors_and_plain_containers(tmp_path: Path) -> None:
    """What training writes loads with torch.load(weights_only=True): nothing in it needs code to rebuild."""
    data = write_images(tmp_path / "tiny.npz")
    for extra in ({}, {"optimizer": "adam", "update": "alternating"}):
        run = tmp_path / f"run{len(extra)}"
        train(MNIST_LIKE.replace(**extra, epochs=1, snapshot_every=1), "tiny", data, run)
        for name in ("checkpoint.pt", "model.pt", "snapshots/epoch_0001.pt"):
            assert torch.load(run / name, weights_only=True)


def test_a_crafted_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    """A checkpoint.pt whose unpickling would create a file: refused with an error naming it, and
    the file is not created (torch.load(weights_only=False) created it)."""
    data = write_images(tmp_path / "tiny.npz")
    cfg = MNIST_LIKE.replace(epochs=1, valid_every=0)
    run = tmp_path / "run"
    train(cfg, "tiny", data, run)
    path = run / "checkpoint.pt"
    target = tmp_path / "created_by_unpickling"
    write_code_running_file(path, torch.load(path, weights_only=True), target)
    for if_changed in ("error", "restart"):  # not discarded either: someone should look at it
        with pytest.raises(UserError, match=rf"{path}: refused: it holds objects other than tensors .*could run code"):
            Trainer(cfg, data, run).run(show_progress=False, if_changed=if_changed)
    assert not target.exists() and path.exists()


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_an_unreadable_checkpoint_names_itself_and_the_ways_on(tmp_path: Path, damage: str) -> None:
    """A truncated or corrupted checkpoint: an error naming it and what to do (delete it, or
    --if-changed restart), and with restart the run trains from step 0 (and ends as a fresh run)."""
    data = write_images(tmp_path / "tiny.npz")
    cfg = MNIST_LIKE.replace(epochs=1, valid_every=0)
    train(cfg, "tiny", data, tmp_path / "fresh")
    run = tmp_path / "run"
    train(cfg, "tiny", data, run)
    ckpt = run / "checkpoint.pt"
    whole = ckpt.read_bytes()
    ckpt.write_bytes(
        {"truncated": whole[: len(whole) // 2], "empty": b"", "garbage": random.Random(0).randbytes(2000)}[damage]
    )
    with pytest.raises(
        UserError,
        match=rf"{ckpt}: unreadable, truncated or corrupted .*; delete it to train from step 0, or pass "
        "--if-changed restart, which discards it",
    ):
        Trainer(cfg, data, run).run(show_progress=False)
    summary = train(cfg, "tiny", data, run, if_changed="restart")
    assert summary["resumed"] is False and summary["steps_this_run"] == 10
    fresh, restarted = (load_model(d / "model.pt", torch.device("cpu"))[0] for d in (tmp_path / "fresh", run))
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), restarted.state_dict().values()))


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1 MiB tmpfs at tmp_path/disk (needs root with CAP_SYS_ADMIN; skipped where mount is refused)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root with CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)  # lazy: a failed writer may still hold a file


def test_a_full_disk_while_checkpointing_keeps_the_last_checkpoint_and_the_rerun_completes(
    tmp_path: Path, small_disk: Path
) -> None:
    """The checkpoint of step 20 does not fit: the error says the disk is full and names the file,
    the checkpoint of step 10 is intact and loadable, nothing half-written is left under a final
    name, and once space is freed the same command resumes and ends as an uninterrupted run."""
    data = write_images(tmp_path / "tiny.npz")
    cfg = MNIST_LIKE.replace(epochs=1, valid_every=0)
    train(cfg.replace(epochs=2), "tiny", data, tmp_path / "whole")
    run = small_disk / "run"
    train(cfg, "tiny", data, run)
    ckpt = run / "checkpoint.pt"
    saved = ckpt.read_bytes()
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (free - len(saved) // 2))  # room for the log, not for another checkpoint
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(UserError, match=rf"{ckpt}: the disk is full .*the previous checkpoint.pt is unchanged"):
        train(cfg.replace(epochs=2), "tiny", data, run)
    assert ckpt.read_bytes() == saved and torch.load(ckpt, weights_only=True)["step"] == 10
    assert sorted(p.name for p in run.iterdir()) == before  # no temporary file left beside them
    filler.unlink()
    assert train(cfg.replace(epochs=2), "tiny", data, run)["resumed"] is True
    whole, rerun = (load_model(d / "model.pt", torch.device("cpu"))[0] for d in (tmp_path / "whole", run))
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), rerun.state_dict().values()))


def _run_cli(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "ganrepro", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_killed_and_resumed_run_ends_bit_for_bit_like_an_uninterrupted_one(tmp_path: Path) -> None:
    data = write_images(tmp_path / "tiny.npz", n=400)
    cfg = MNIST_LIKE.replace(epochs=60, checkpoint_every=20, log_every=10, valid_every=20)
    common = ["train", "tiny", "--data", str(data), "--seed", "3", "--config-json", json.dumps(cfg.as_dict())]
    whole = _run_cli([*common, "--out", "whole"], tmp_path)
    assert whole.wait(timeout=300) == 0, whole.stderr.read().decode()

    killed = _run_cli([*common, "--out", "killed"], tmp_path)
    ckpt = tmp_path / "killed/checkpoint.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "killed/model.pt").exists(), "the run finished before it could be killed"
    resumed = _run_cli([*common, "--out", "killed"], tmp_path)
    err = resumed.communicate(timeout=300)[1].decode()
    assert resumed.returncode == 0, err
    at = re.search(r"resuming from killed/checkpoint.pt at step (\d+) of (\d+)", err)
    assert at and 0 < int(at[1]) < int(at[2]), err

    G1, D1, meta1 = load_model(tmp_path / "whole/model.pt", torch.device("cpu"))
    G2, D2, meta2 = load_model(tmp_path / "killed/model.pt", torch.device("cpu"))
    for a, b in zip(
        [*G1.state_dict().values(), *D1.state_dict().values()], [*G2.state_dict().values(), *D2.state_dict().values()]
    ):
        assert torch.equal(a, b)
    assert meta1["selected"] == meta2["selected"]
    assert (tmp_path / "whole/train_log.csv").read_text().count("\n") == (
        tmp_path / "killed/train_log.csv"
    ).read_text().count("\n")
