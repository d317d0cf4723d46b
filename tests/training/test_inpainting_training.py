"""Training of the inpainting GAN: the simultaneous update's gradients and the training run's files."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from ganrepro.errors import UserError
from ganrepro.io import save_npz
from ganrepro.models.inpainting import draw_masks, load_inpainter
from ganrepro.training.inpainting import InpaintingGAN, train_inpainter

from helpers import tiny_config, tiny_dataset

SHAPE = [1, 6, 6]


def inpaint_config(**overrides: object) -> dict:
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
        "device": "cpu",
        "seed": 0,
    }
    return {**tiny_config().as_dict(), **sgd, **overrides}


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
    m = draw_masks(16, SHAPE, torch.Generator().manual_seed(cfg["seed"]))
    x_hat = G(torch.rand(16, 4) * 2 * 3**0.5 - 3**0.5, x, m)
    logits = D(torch.cat([x, x_hat]), torch.cat([m, m]))
    d_obj = 0.5 * (F.softplus(-logits[:16]).mean() + F.softplus(logits[16:]).mean())
    d_grads = torch.autograd.grad(d_obj, list(D.parameters()), retain_graph=True)
    g_grads = torch.autograd.grad(F.softplus(-logits[16:]).mean(), list(G.parameters()))
    for before, grad, after in zip(D.parameters(), d_grads, gan.D.parameters()):
        torch.testing.assert_close(after, before - cfg["lr"] * grad, atol=1e-6, rtol=1e-5)
    for before, grad, after in zip(G.parameters(), g_grads, gan.G.parameters()):
        torch.testing.assert_close(after, before - cfg["lr"] * grad, atol=1e-6, rtol=1e-5)
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
