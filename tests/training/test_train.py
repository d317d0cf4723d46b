"""The training loop: logs, validation and model selection, snapshots, update schemes, data checks,
the NaN guard and the `ganrepro train` command's messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ganrepro.cli import main
from ganrepro.errors import UserError
from ganrepro.io import save_npz
from ganrepro.models.artifacts import load_model
from ganrepro.training.loop import Trainer, train

from helpers import MNIST_LIKE, write_images


def test_training_writes_model_log_and_validation(tmp_path: Path) -> None:
    data = write_images(tmp_path / "tiny.npz")
    trainer = Trainer(MNIST_LIKE.replace(valid_sigmas=[0.1, 0.3, 1.0]), data, tmp_path / "run")
    trainer.run(show_progress=False)
    rows = (tmp_path / "run/train_log.csv").read_text().splitlines()
    assert rows[0].startswith("step,epoch,d_loss,g_loss,d_real,d_fake")
    assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(5, 21, 5))
    assert [h["epoch"] for h in trainer.valid_history] == [1, 2]
    assert all(np.isfinite(h["log_likelihood"]) for h in trainer.valid_history)
    assert [(h["samples"], h["points"]) for h in trainer.valid_history] == [(50, 40)] * 2  # of 100 valid images


def test_snapshots_are_model_files_of_the_networks_at_their_epoch(tmp_path: Path) -> None:
    data = write_images(tmp_path / "tiny.npz")
    cfg = MNIST_LIKE.replace(epochs=3, snapshot_every=2, select="last", valid_every=0)
    train(cfg, "tiny", data, tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run/snapshots").iterdir()) == ["epoch_0002.pt"]
    G, _, meta = load_model(tmp_path / "run/snapshots/epoch_0002.pt", torch.device("cpu"))
    G_last, _, _ = load_model(tmp_path / "run/model.pt", torch.device("cpu"))
    assert meta["selected"] == {"epoch": 2, "step": 20} and meta["dataset"] == "tiny"
    assert not torch.equal(G.out.weight, G_last.out.weight)  # epoch 2's networks, not the final ones
    # resuming the finished run for one more epoch adds the next snapshot, equal to its model.pt
    train(cfg.replace(epochs=4), "tiny", data, tmp_path / "run")
    G4, _, _ = load_model(tmp_path / "run/snapshots/epoch_0004.pt", torch.device("cpu"))
    G_last, _, _ = load_model(tmp_path / "run/model.pt", torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(G4.state_dict().values(), G_last.state_dict().values()))
    # a run that starts over (other parameters) drops the snapshots, model and summary of the run it discards
    assert Trainer(cfg.replace(lr=0.05), data, tmp_path / "run").try_resume(if_changed="restart") is False
    assert not list((tmp_path / "run/snapshots").iterdir())
    assert not (tmp_path / "run/model.pt").exists() and not (tmp_path / "run/train.json").exists()


def test_best_valid_keeps_the_generator_of_the_best_validation_epoch(tmp_path: Path) -> None:
    data = write_images(tmp_path / "tiny.npz")
    # lr 1.0: the validation score falls after epoch 1, so the best epoch is not the last one
    cfg = MNIST_LIKE.replace(epochs=5, snapshot_every=1, valid_every=1, lr=1.0)
    summary = train(cfg, "tiny", data, tmp_path / "run")
    history = summary["valid_history"]
    best = history[int(np.argmax([h["log_likelihood"] for h in history]))]
    assert summary["selection"] == "best_valid" and summary["selected"]["epoch"] == best["epoch"] < cfg.epochs
    G, _, meta = load_model(tmp_path / "run/model.pt", torch.device("cpu"))
    snapshot, _, _ = load_model(tmp_path / f"run/snapshots/epoch_{best['epoch']:04d}.pt", torch.device("cpu"))
    assert meta["selected"]["epoch"] == best["epoch"]
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), snapshot.state_dict().values()))


def test_resuming_drops_snapshots_written_after_the_checkpoint(tmp_path: Path) -> None:
    """A run killed after a snapshot but before its next checkpoint wrote a snapshot the resumed run
    will write again from its own state: it is removed on resumption (as the log rows are)."""
    data = write_images(tmp_path / "tiny.npz")
    cfg = MNIST_LIKE.replace(epochs=2, snapshot_every=1, checkpoint_every=10, valid_every=0)
    Trainer(cfg, data, tmp_path / "run").run(show_progress=False)
    stale = tmp_path / "run/snapshots/epoch_0003.pt"
    stale.write_bytes(b"from a killed run")
    Trainer(cfg.replace(epochs=3), data, tmp_path / "run").try_resume()
    assert sorted(p.name for p in stale.parent.iterdir()) == ["epoch_0001.pt", "epoch_0002.pt"]


def test_resuming_with_another_validation_estimate_restarts_model_selection(tmp_path: Path, caplog) -> None:
    data = write_images(tmp_path / "tiny.npz")
    Trainer(MNIST_LIKE, data, tmp_path / "run").run(show_progress=False)
    # sigma 5 scores far below sigma 0.3 on these images: without the restart epoch 1 or 2 would stay best
    resumed = Trainer(MNIST_LIKE.replace(epochs=3, valid_sigmas=[5.0]), data, tmp_path / "run")
    resumed.run(show_progress=False)
    assert "the validation estimate changed (valid_sigmas)" in caplog.text
    assert [(h["epoch"], h["sigma"]) for h in resumed.valid_history] == [(1, 0.3), (2, 0.3), (3, 5.0)]
    assert resumed.valid_history[2]["log_likelihood"] < min(h["log_likelihood"] for h in resumed.valid_history[:2])
    assert resumed.best["epoch"] == 3  # the only epoch scored by the new estimate


def test_alternating_update_and_k_discriminator_steps(tmp_path: Path) -> None:
    data = write_images(tmp_path / "tiny.npz")
    cfg = MNIST_LIKE.replace(update="alternating", k=2, valid_every=0)
    trainer = Trainer(cfg, data, tmp_path / "run")
    g_before = [p.detach().clone() for p in trainer.gan.g_params]
    trainer.run(show_progress=False)
    assert trainer.steps_per_epoch == 200 // (20 * 2)
    assert trainer.gan.opt_d.updates == 2 * trainer.gan.opt_g.updates == 2 * trainer.step
    assert any(not torch.equal(a, b) for a, b in zip(g_before, trainer.gan.g_params))


def test_conditional_training_feeds_labels_and_requires_them(tmp_path: Path) -> None:
    data = write_images(tmp_path / "tiny.npz")
    trainer = Trainer(MNIST_LIKE.replace(conditional=True, valid_every=0), data, tmp_path / "run")
    trainer.run(show_progress=False)
    assert trainer.gan.G.n_classes == 10 and trainer.gan.D.n_classes == 10
    unlabelled = write_vectors(tmp_path / "vec.npz")
    with pytest.raises(UserError, match=r"conditional: .*vec.npz has no labels"):
        Trainer(MNIST_LIKE.replace(conditional=True, g_output_bias="none"), unlabelled, tmp_path / "run2")


def test_convolutional_cifar_models_train_one_step(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 3, 32, 32), dtype=np.uint8)
    y = np.zeros(8, np.int64)
    meta = {"dataset": "c", "kind": "image", "example_shape": [3, 32, 32], "unit_scale": 255, "num_classes": 10}
    data = tmp_path / "c.npz"
    save_npz(data, x_train=x, y_train=y, x_valid=x, y_valid=y, x_test=x, y_test=y, meta=np.array(json.dumps(meta)))
    cfg = MNIST_LIKE.replace(arch="conv", batch_size=4, epochs=1, valid_every=0)
    with pytest.raises(UserError, match="marginals' needs a fully connected generator"):
        Trainer(cfg, data, tmp_path / "run")
    trainer = Trainer(cfg.replace(g_output_bias="none"), data, tmp_path / "run")
    before = trainer.gan.D.out.weight.detach().clone()
    trainer.run(show_progress=False)
    assert trainer.step == 2 and not torch.equal(before, trainer.gan.D.out.weight)


@pytest.mark.parametrize("vectors", [False, True])
def test_conv_architecture_refuses_data_that_is_not_3x32x32(tmp_path: Path, vectors: bool) -> None:
    data = write_vectors(tmp_path / "v.npz") if vectors else write_images(tmp_path / "tiny.npz")
    shape = "2" if vectors else "1x6x6"
    with pytest.raises(
        UserError,
        match=rf"arch: conv needs 3x32x32 images \(CIFAR-10\); dataset \w+ "
        rf"\({data}\) has examples of shape {shape}: use arch: mlp",
    ):
        Trainer(MNIST_LIKE.replace(arch="conv", g_output_bias="none"), data, tmp_path / "run")


def write_vectors(path: Path, n: int = 200) -> Path:
    """A prepared 2-D vector dataset."""
    x = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
    meta = {"dataset": "vec", "kind": "vector", "example_shape": [2], "unit_scale": 1, "num_classes": None}
    y = np.full(n, -1, np.int64)
    save_npz(path, x_train=x, y_train=y, x_valid=x, y_valid=y, x_test=x, y_test=y, meta=np.array(json.dumps(meta)))
    return path


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    cfg = MNIST_LIKE.replace(epochs=1, valid_every=0, g_output="linear", g_output_bias="none")
    data = write_vectors(tmp_path / "vec.npz")
    Trainer(cfg, data, tmp_path / "run").run(show_progress=False)
    ckpt = tmp_path / "run/checkpoint.pt"
    saved = ckpt.read_bytes()
    trainer = Trainer(cfg.replace(epochs=2), data, tmp_path / "run")
    trainer.x_train[:, 0] = float("nan")  # every example's loss non-finite from here on, as in a diverging run
    with pytest.raises(UserError, match=r"non-finite loss before step 15 .*last good checkpoint .*checkpoint.pt"):
        trainer.run(show_progress=False)
    assert trainer.step == 15
    assert ckpt.read_bytes() == saved


def log_steps(path: Path) -> list[int]:
    """The step column of a train_log.csv (its header checked)."""
    header, *rows = path.read_text().splitlines()
    assert header == "step,epoch,d_loss,g_loss,d_real,d_fake,lr,momentum,examples_per_s"
    return [int(row.split(",")[0]) for row in rows]


def test_train_log_says_whether_it_resumes_or_starts_over_and_why(tmp_path: Path, monkeypatch, capsys) -> None:
    """`ganrepro train` (default --out: the workflow's layout) names the checkpoint it resumes from and its
    step, or why it starts from scratch (which parameters changed, old -> new)."""
    monkeypatch.chdir(tmp_path)
    data = write_images(tmp_path / "tiny.npz")
    cfg = MNIST_LIKE.replace(epochs=1, valid_every=0)
    command = ["train", "tiny", "--data", str(data), "--seed", "3", "--config-json", json.dumps(cfg.as_dict())]
    run = Path("results/runs/tiny/train/s3")
    capsys.readouterr()
    assert main(command) == 0
    assert f"training from scratch: no checkpoint at {run}/checkpoint.pt" in capsys.readouterr().err
    assert main([*command, "--epochs", "2"]) == 0
    err = capsys.readouterr().err
    assert f"resuming from {run}/checkpoint.pt at step 10 of 20 (epoch 1)\n" in err
    assert log_steps(run / "train_log.csv") == [5, 10, 15, 20]
    changed = cfg.replace(epochs=2, lr=0.05, g_hidden=[32, 16])
    assert (
        main(
            [
                "train",
                "tiny",
                "--data",
                str(data),
                "--seed",
                "3",
                "--config-json",
                json.dumps(changed.as_dict()),
                "--if-changed",
                "restart",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert (
        f"training from scratch: {run}/checkpoint.pt was made with other parameters or data "
        "(g_hidden: [32, 32] -> [32, 16], lr: 0.1 -> 0.05)"
    ) in err
    assert "resuming" not in err and log_steps(run / "train_log.csv") == [5, 10, 15, 20]


def test_one_train_log_ends_at_the_checkpoint_and_survives_its_deletion(tmp_path: Path, monkeypatch) -> None:
    """train_log.csv is the only log: rewritten at each checkpoint from rows kept in the checkpoint, so a
    killed run's file ends at its checkpoint, and a resumed run rebuilds a file the workflow deleted."""
    data = write_images(tmp_path / "tiny.npz")
    cfg = MNIST_LIKE.replace(epochs=3, checkpoint_every=10, log_every=5, valid_every=0)
    run = tmp_path / "run"

    def killed_at_epoch_2(trainer: Trainer, epoch: int) -> None:
        if epoch == 2:  # after step 20's row, before step 20's checkpoint
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "_maybe_validate", killed_at_epoch_2)
        with pytest.raises(KeyboardInterrupt):
            Trainer(cfg, data, run).run(show_progress=False)
    assert log_steps(run / "train_log.csv") == [5, 10]
    (run / "train_log.csv").unlink()  # Snakemake removes a job's outputs before running it again
    train(cfg, "tiny", data, run)
    assert log_steps(run / "train_log.csv") == [5, 10, 15, 20, 25, 30]
    assert sorted(p.name for p in run.glob("train_log*")) == ["train_log.csv"]


def test_a_finished_run_invoked_again_rewrites_its_outputs_byte_for_byte(tmp_path: Path) -> None:
    """The DVC train stage forces every training command: one whose run is finished, its outputs
    deleted as Snakemake does before a job, writes the same bytes again (no field of the invocation),
    so that DVC evaluates nothing again."""
    data = write_images(tmp_path / "tiny.npz")
    cfg = MNIST_LIKE.replace(epochs=2, valid_every=1)
    run = tmp_path / "run"
    first = train(cfg, "tiny", data, run)
    outputs = ("model.pt", "train.json", "train_log.csv")
    before = {name: (run / name).read_bytes() for name in outputs}
    for name in outputs:
        (run / name).unlink()
    again = train(cfg, "tiny", data, run)
    assert {name: (run / name).read_bytes() for name in outputs} == before
    assert first["steps_this_run"] == first["steps"] == 20 and first["resumed"] is False
    assert again["steps_this_run"] == 0 and again["resumed"] is True
    assert again["seconds_total"] == first["seconds_total"] > 0
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)  # trained elsewhere, say on a GPU
    torch.save({**ckpt, "device": "cuda:0"}, run / "checkpoint.pt")
    assert train(cfg, "tiny", data, run)["device"] == "cuda:0"  # where it trained, not this invocation's device
