"""Training of the inpainting GAN: the simultaneous update's gradients, the training run's files,
checkpoints and resumption, and model selection."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from ganrepro.errors import UserError
from ganrepro.gan_config import TrainConfig
from ganrepro.io import save_npz
from ganrepro.models.inpainting import draw_masks, load_inpainter
from ganrepro.training.inpainting import InpaintingGAN, train_inpainter

from helpers import tiny_config, tiny_dataset, write_code_running_file

SHAPE = [1, 6, 6]


def inpaint_config(**overrides: object) -> TrainConfig:
    """A tiny model with the paper's optimizer (momentum SGD, its schedules)."""
    sgd = {
        "optimizer": "sgd",
        "lr": 0.05,
        "lr_decay": 1.000004,
        "lr_min": 1e-6,
        "momentum_start": 0.5,
        "momentum_end": 0.7,
        "momentum_saturate": 250,
        "g_output_bias": "marginals",
        "batch_size": 20,
        "epochs": 2,
        "train_limit": 0,
        "valid_every": 1,
        "select": "best_valid",
        "device": "cpu",
        "seed": 0,
    }
    return tiny_config().replace(**{**sgd, **overrides})


def test_one_step_moves_d_and_g_as_plain_autograd_of_the_two_losses() -> None:
    """D: half the sum of the cross-entropies; G: -log D(x_hat) (non-saturating), through D before its update."""
    cfg = inpaint_config()
    x = torch.rand(16, 36)
    torch.manual_seed(3)
    gan = InpaintingGAN(cfg, SHAPE, x.mean(0), torch.device("cpu"))
    G, D = copy.deepcopy(gan.G), copy.deepcopy(gan.D)
    torch.manual_seed(7)
    gan.step(x, 0)
    torch.manual_seed(7)
    m = draw_masks(16, SHAPE, torch.Generator().manual_seed(cfg.seed))
    x_hat = G(torch.rand(16, 4) * 2 * 3**0.5 - 3**0.5, x, m)
    logits = D(torch.cat([x, x_hat]), torch.cat([m, m]))
    d_obj = 0.5 * (F.softplus(-logits[:16]).mean() + F.softplus(logits[16:]).mean())
    d_grads = torch.autograd.grad(d_obj, list(D.parameters()), retain_graph=True)
    g_grads = torch.autograd.grad(F.softplus(-logits[16:]).mean(), list(G.parameters()))
    for before, grad, after in zip(D.parameters(), d_grads, gan.D.parameters()):
        torch.testing.assert_close(after, before - cfg.lr * grad, atol=1e-6, rtol=1e-5)
    for before, grad, after in zip(G.parameters(), g_grads, gan.G.parameters()):
        torch.testing.assert_close(after, before - cfg.lr * grad, atol=1e-6, rtol=1e-5)
        assert not torch.equal(after, before)


def test_training_writes_the_model_the_losses_and_the_validation_curve(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "tiny.npz", n=120)
    checks = []

    def validate(G, epoch):
        checks.append(epoch)
        return {"mse_best": 0.1 / (epoch + 1), "accuracy": 0.5}

    record = train_inpainter(inpaint_config(epochs=3, valid_every=2), data, tmp_path / "run", "tiny", validate)
    assert checks == [0, 2, 3]  # before training, every valid_every epochs, and after the last
    assert record["steps"] == 3 * 6
    losses = [row["d_loss"] for row in record["losses"]]
    assert all(np.isfinite(losses)) and len(set(losses)) == 3
    assert json.loads((tmp_path / "run" / "train.json").read_text())["valid_history"][2]["epoch"] == 3
    curve = (tmp_path / "run" / "valid_curve.csv").read_text().splitlines()
    assert curve == ["epoch,mse_best,accuracy", "0,0.1,0.5", "2,0.0333333,0.5", "3,0.025,0.5"]
    G, meta = load_inpainter(tmp_path / "run" / "model.pt", torch.device("cpu"))
    assert meta["example_shape"] == SHAPE and G.z_dim == 4


def test_a_dataset_without_images_is_refused_naming_the_file(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    meta = {"dataset": "ring", "kind": "toy", "example_shape": [2], "unit_scale": 1, "n_train": 50}
    path = tmp_path / "ring.npz"
    save_npz(path, x_train=x, y_train=np.zeros(50, np.int64), meta=np.array(json.dumps(meta)))
    with pytest.raises(UserError, match=f"{path}: dataset 'ring' has no images"):
        train_inpainter(inpaint_config(), path, tmp_path / "run", "ring")


def g_scores(G, epoch) -> dict[str, float]:
    """A check that depends on G's weights (so that every epoch scores differently)."""
    w = torch.cat([p.detach().flatten() for p in G.parameters()])
    return {"mse_best": float(w.abs().mean()), "accuracy": float(w.mean())}


def g_state(path: Path) -> dict[str, torch.Tensor]:
    return load_inpainter(path, torch.device("cpu"))[0].state_dict()


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            assert_same_tensors(a[k], b[k])
        elif isinstance(a[k], list | tuple):
            assert_same_tensors(dict(enumerate(a[k])), dict(enumerate(b[k])))
        elif isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_resumed_run_ends_bit_for_bit_like_an_uninterrupted_one(tmp_path: Path, optimizer: str) -> None:
    """3 epochs straight against 1 epoch then a resumption to 3 (a larger budget, checks every 2 epochs
    instead of 1: budget keys): the same networks, optimizer states, mask stream, losses and checks."""
    data = tiny_dataset(tmp_path / "tiny.npz", n=120)
    cfg = inpaint_config(
        epochs=3, optimizer=optimizer, adam_betas=[0.5, 0.999], lr=0.01 if optimizer == "adam" else 0.05
    )
    whole = train_inpainter(cfg, data, tmp_path / "whole", "tiny", g_scores)
    first = train_inpainter(cfg.replace(epochs=1), data, tmp_path / "run", "tiny", g_scores)
    assert first["resumed"] is False and [h["epoch"] for h in first["valid_history"]] == [0, 1]
    resumed = train_inpainter(cfg.replace(valid_every=2), data, tmp_path / "run", "tiny", g_scores)
    assert resumed["resumed"] is True and whole["resumed"] is False
    assert [h["epoch"] for h in resumed["valid_history"]] == [0, 1, 2, 3]  # the checks of both runs
    for record in (whole, resumed):
        for row in record["losses"]:
            del row["seconds"]
    assert resumed["losses"] == whole["losses"] and len(whole["losses"]) == 3
    assert resumed["valid_history"] == whole["valid_history"]
    assert resumed["selected"] == whole["selected"]
    assert_same_tensors(g_state(tmp_path / "whole/model.pt"), g_state(tmp_path / "run/model.pt"))
    a, b = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=True) for d in ("whole", "run"))
    assert a["epoch"] == b["epoch"] == 3
    assert_same_tensors(a["gan"], b["gan"])  # G, D, both optimizers, the mask generator
    assert torch.equal(a["rng_cpu"], b["rng_cpu"])


def test_resuming_a_finished_run_trains_nothing_and_rewrites_its_outputs_byte_for_byte(tmp_path: Path) -> None:
    """As the DVC train stage forces it, its outputs deleted as Snakemake does before a job."""
    data = tiny_dataset(tmp_path / "tiny.npz", n=120)
    cfg = inpaint_config(epochs=2)
    run = tmp_path / "run"
    first = train_inpainter(cfg, data, run, "tiny", g_scores)
    outputs = ("model.pt", "train.json", "valid_curve.csv")
    before = {name: (run / name).read_bytes() for name in outputs}
    for name in outputs:
        (run / name).unlink()
    again = train_inpainter(cfg, data, run, "tiny", g_scores)
    assert again["resumed"] is True and again["epochs_this_run"] == 0 and first["epochs_this_run"] == 2
    assert {name: (run / name).read_bytes() for name in outputs} == before


def test_a_changed_parameter_is_refused_naming_it_unless_restart(tmp_path: Path, caplog) -> None:
    data = tiny_dataset(tmp_path / "tiny.npz", n=120)
    cfg = inpaint_config(epochs=1)
    train_inpainter(cfg, data, tmp_path / "run", "tiny", g_scores)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    with pytest.raises(
        UserError, match=rf"{ckpt} was trained with other parameters or data \(lr: 0.05 -> 0.02\).*--if-changed"
    ):
        train_inpainter(cfg.replace(lr=0.02), data, tmp_path / "run", "tiny", g_scores)
    fresh = train_inpainter(cfg.replace(lr=0.02), data, tmp_path / "fresh", "tiny", g_scores)
    with caplog.at_level("INFO"):
        restarted = train_inpainter(cfg.replace(lr=0.02), data, tmp_path / "run", "tiny", g_scores, "restart")
    assert "training from scratch" in caplog.text and "lr: 0.05 -> 0.02" in caplog.text
    assert restarted["resumed"] is False
    assert [r["d_loss"] for r in restarted["losses"]] == [r["d_loss"] for r in fresh["losses"]]
    assert_same_tensors(g_state(tmp_path / "fresh/model.pt"), g_state(tmp_path / "run/model.pt"))
    with caplog.at_level("INFO"):
        assert train_inpainter(cfg.replace(lr=0.02, epochs=2), data, tmp_path / "run", "tiny", g_scores)["resumed"]
    assert f"resuming from {ckpt} at epoch 1 of 2" in caplog.text
    other = tiny_dataset(tmp_path / "other.npz", n=150)  # other data, the same parameters
    with pytest.raises(UserError, match=r"other parameters or data \(training data: sha256 [0-9a-f]{12}\.\.\. -> "):
        train_inpainter(cfg.replace(lr=0.02, epochs=2), other, tmp_path / "run", "tiny", g_scores)


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "tiny.npz", n=120)
    cfg = inpaint_config(epochs=1)
    train_inpainter(cfg, data, tmp_path / "run", "tiny")
    ckpt = tmp_path / "run" / "checkpoint.pt"
    target = tmp_path / "created_by_unpickling"
    write_code_running_file(ckpt, torch.load(ckpt, weights_only=True), target)
    for if_changed in ("error", "restart"):  # not discarded either: someone should look at it
        with pytest.raises(UserError, match=rf"{ckpt}: refused: it holds objects other than tensors"):
            train_inpainter(cfg, data, tmp_path / "run", "tiny", if_changed=if_changed)
    assert not target.exists() and ckpt.exists()


def test_an_unreadable_checkpoint_is_an_error_naming_it_or_with_restart_discarded(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "tiny.npz", n=120)
    cfg = inpaint_config(epochs=1)
    train_inpainter(cfg, data, tmp_path / "run", "tiny")
    ckpt = tmp_path / "run" / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(UserError, match=rf"{ckpt}: unreadable, truncated or corrupted .*--if-changed restart"):
        train_inpainter(cfg, data, tmp_path / "run", "tiny")
    assert train_inpainter(cfg, data, tmp_path / "run", "tiny", if_changed="restart")["resumed"] is False
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1


@pytest.mark.parametrize("select", ["best_valid", "last"])
def test_model_selection_keeps_the_best_checks_generator_or_the_last(tmp_path: Path, select: str) -> None:
    """Checks score epoch 2 best (epoch 0, before training, better still, is no candidate): best_valid
    keeps the generator of epoch 2, last that of epoch 3; train.json and model.pt say which."""
    data = tiny_dataset(tmp_path / "tiny.npz", n=120)
    scores = {0: 0.01, 1: 0.3, 2: 0.1, 3: 0.2}
    states = {}

    def validate(G, epoch):
        states[epoch] = copy.deepcopy(G.state_dict())
        return {"mse_best": scores[epoch], "accuracy": 0.5}

    record = train_inpainter(inpaint_config(epochs=3, select=select), data, tmp_path / "run", "tiny", validate)
    epoch = {"best_valid": 2, "last": 3}[select]
    assert record["selection"] == select and record["selected"] == {
        "epoch": epoch,
        "mse_best": scores[epoch],
        "accuracy": 0.5,
    }
    assert json.loads((tmp_path / "run/train.json").read_text())["selected"]["epoch"] == epoch
    assert "selection_note" not in record
    assert_same_tensors(g_state(tmp_path / "run/model.pt"), states[epoch])
    assert not all(torch.equal(states[2][k], states[3][k]) for k in states[2])
    meta = load_inpainter(tmp_path / "run/model.pt", torch.device("cpu"))[1]
    assert meta["selection"] == select and meta["selected"]["epoch"] == epoch


def test_without_checks_the_last_epoch_is_kept_and_the_record_says_so(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "tiny.npz", n=120)
    record = train_inpainter(inpaint_config(epochs=2, valid_every=0), data, tmp_path / "run", "tiny", g_scores)
    assert record["selection"] == "last" and record["selected"] == {"epoch": 2}
    assert "valid_every 0" in record["selection_note"] and record["valid_history"] == []
