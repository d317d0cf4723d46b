"""Algorithm 1 and the training loop: gradients, schedules, theory (D*), resume, NaN guard."""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from ganrepro.cli import main
from ganrepro.errors import UserError
from ganrepro.io import save_npz
from ganrepro.models.artifacts import load_model
from ganrepro.models.networks import Linear, MaxoutDiscriminator
from ganrepro.training.loop import GAN, MomentumSGD, Trainer, _d_logit_grad, _g_logit_grad, _metrics, train

from helpers import write_images

MNIST_LIKE = {
    "arch": "mlp",
    "noise": "uniform",
    "z_dim": 8,
    "g_hidden": [32, 32],
    "g_output": "sigmoid",
    "d_units": [16, 16],
    "d_pieces": 3,
    "g_irange": 0.05,
    "d_irange": 0.05,
    "g_output_bias": "marginals",
    "max_col_norm": None,
    "optimizer": "sgd",
    "lr": 0.1,
    "lr_decay": 1.000004,
    "lr_min": 1e-6,
    "momentum_start": 0.5,
    "momentum_end": 0.7,
    "momentum_saturate": 250,
    "adam_betas": [0.5, 0.999],
    "k": 1,
    "update": "simultaneous",
    "g_loss": "nonsaturating",
    "d_input_keep": 0.8,
    "d_hidden_keep": 0.5,
    "batch_size": 20,
    "epochs": 2,
    "train_limit": 0,
    "checkpoint_every": 10,
    "log_every": 5,
    "valid_every": 1,
    "valid_samples": 50,
    "valid_points": 40,
    "valid_sigmas": [0.3],
    "select": "best_valid",
    "conditional": False,
    "device": "cpu",
    "seed": 3,
}


def without_weight_grad_sinks(gan: GAN) -> GAN:
    """A copy of `gan` whose layers form ordinary .grad weight gradients (plain autograd, no
    hand-written passes)."""
    plain = copy.deepcopy(gan)
    plain.by_hand = False
    for layer in [*plain.G.modules(), *plain.D.modules()]:
        if isinstance(layer, Linear):
            layer.weight_grad_sink = None
    return plain


def plain_autograd_grads(gan: GAN, x: torch.Tensor, g_loss: str) -> tuple[list, list]:
    """Gradients of the two losses by ordinary autograd on the same z and dropout masks."""
    z = gan.noise(len(x))
    logits = gan.D(torch.cat([x, gan.G(z)]))
    m = len(x)
    d_loss = 0.5 * (F.softplus(-logits[:m]).mean() + F.softplus(logits[m:]).mean())  # the authors' d_obj
    g = F.softplus(-logits[m:]).mean() if g_loss == "nonsaturating" else -F.softplus(logits[m:]).mean()
    return (torch.autograd.grad(d_loss, gan.d_params, retain_graph=True), torch.autograd.grad(g, gan.g_params))


@pytest.mark.parametrize("g_loss", ["nonsaturating", "minimax"])
def test_simultaneous_step_equals_plain_autograd(g_loss: str) -> None:
    """The one-pass update (D's input gradient rescaled per example) equals the textbook gradients."""
    torch.manual_seed(0)
    cfg = {**MNIST_LIKE, "g_loss": g_loss, "d_irange": 0.5, "lr_decay": 1.0}
    gan = GAN(cfg, 36, 0, torch.device("cpu"))
    reference = without_weight_grad_sinks(gan)
    x = torch.rand(20, 36)
    state = torch.get_rng_state()
    gan.iteration([(x, None)], epoch=0)
    torch.set_rng_state(state)
    grads_d, grads_g = plain_autograd_grads(reference, x, g_loss)
    for new, old, grad in zip(
        gan.g_params + gan.d_params, reference.g_params + reference.d_params, list(grads_g) + list(grads_d)
    ):
        expected = old - cfg["lr"] * grad  # first step: velocity starts at zero
        torch.testing.assert_close(new, expected, rtol=1e-5, atol=1e-7)
    assert any(g.abs().max() > 1e-4 for g in grads_g), "the check needs non-trivial generator gradients"


def test_alternating_update_with_k_2_equals_plain_autograd_of_the_authors_objectives() -> None:
    """k = 2 discriminator steps on 0.5 (cross-entropy on data + on samples), then a generator step
    on -log D(G(z)) through the updated D: each against plain autograd on the same noise and masks."""
    torch.manual_seed(0)
    cfg = {
        **MNIST_LIKE,
        "update": "alternating",
        "k": 2,
        "d_irange": 0.5,
        "lr_decay": 1.0,
        "momentum_start": 0.0,
        "momentum_end": 0.0,
    }  # plain SGD: p <- p - lr g
    gan = GAN(cfg, 36, 0, torch.device("cpu"))
    ref = without_weight_grad_sinks(gan)
    batches = [(torch.rand(20, 36), None), (torch.rand(20, 36), None)]
    state = torch.get_rng_state()
    gan.iteration(batches, epoch=0)
    torch.set_rng_state(state)
    lr = cfg["lr"]
    for x, _ in batches:
        with torch.no_grad():
            fake = ref.G(ref.noise(len(x)))
        logits = ref.D(torch.cat([x, fake]))
        d_obj = 0.5 * (F.softplus(-logits[:20]).mean() + F.softplus(logits[20:]).mean())
        with torch.no_grad():
            for p, g in zip(ref.d_params, torch.autograd.grad(d_obj, ref.d_params)):
                p -= lr * g
    g_obj = F.softplus(-ref.D(ref.G(ref.noise(20)))).mean()
    with torch.no_grad():
        for p, g in zip(ref.g_params, torch.autograd.grad(g_obj, ref.g_params)):
            p -= lr * g
    for new, expected in zip(gan.g_params + gan.d_params, ref.g_params + ref.d_params):
        torch.testing.assert_close(new, expected, rtol=1e-5, atol=1e-7)


def test_written_out_logit_gradients_and_logged_losses_match_the_textbook_formulas() -> None:
    """D's and G's gradients at the logits (formed without autograd in the step) and the logged
    losses, against autograd of the losses written with log and sigmoid."""
    torch.manual_seed(3)
    m = 7
    logits = (torch.randn(2 * m) * 4).requires_grad_()
    d = torch.sigmoid(logits)
    d_loss = -torch.log(d[:m]).mean() - torch.log(1 - d[m:]).mean()
    (expected_d,) = torch.autograd.grad(0.5 * d_loss, logits, retain_graph=True)  # the authors' half objective
    torch.testing.assert_close(_d_logit_grad(d.detach(), m), expected_d)
    fake = logits[m:]
    g_losses = {"nonsaturating": -torch.log(d[m:]).mean(), "minimax": torch.log(1 - d[m:]).mean()}
    for kind, g_loss in g_losses.items():
        (expected_g,) = torch.autograd.grad(g_loss, logits, retain_graph=True)
        torch.testing.assert_close(_g_logit_grad(fake.detach(), kind), expected_g[m:])
    other = torch.randn(m) * 3  # the generator's logits of a second D pass (alternating update)
    d_other = torch.sigmoid(other)
    for kind, g_loss in {"nonsaturating": -torch.log(d_other).mean(), "minimax": torch.log(1 - d_other).mean()}.items():
        logged = _metrics(logits.detach(), d.detach(), other, m, kind)
        torch.testing.assert_close(logged, torch.stack([d_loss, g_loss, d[:m].mean(), d[m:].mean()]).detach())


FOLDED_CASES = {
    "simultaneous": {"update": "simultaneous"},
    "alternating": {"update": "alternating"},
    "k=2": {"update": "simultaneous", "k": 2},
    "alternating, k=3, minimax": {"update": "alternating", "k": 3, "g_loss": "minimax"},
    "max_col_norm": {"update": "simultaneous", "max_col_norm": 0.5},
    "conditional": {"update": "alternating", "conditional": True},
    "conditional, simultaneous": {"update": "simultaneous", "conditional": True},
    "TFD-like G (relu, sigmoid; normal noise), minimax": {
        "g_activations": ["relu", "sigmoid"],
        "noise": "normal",
        "g_loss": "minimax",
    },
    "toy-like (linear output, random biases, no dropout)": {
        "g_output": "linear",
        "bias_irange": 0.3,
        "d_input_keep": 1.0,
        "d_hidden_keep": 1.0,
    },
    "simultaneous through autograd": {"update": "simultaneous", "by_hand": False},
}


@pytest.mark.parametrize("case", FOLDED_CASES)
def test_momentum_folded_into_weight_products_equals_plain_gradients(case: str) -> None:
    """Weight and bias gradients taken by MomentumSGD (v <- mu v - lr dy^T x in one product), from
    autograd's backward pass or the hand-written ones (passes.py, the simultaneous update), give the
    same parameters over several steps as the plain .grad path, and in the alternating update the
    generator's backward pass through D leaves D's next update untouched."""
    torch.manual_seed(1)
    case_cfg = dict(FOLDED_CASES[case])
    by_hand = case_cfg.pop("by_hand", True)
    cfg = {**MNIST_LIKE, **case_cfg, "d_irange": 0.5}
    n_classes = 3 if cfg["conditional"] else 0
    gan = GAN(cfg, 36, n_classes, torch.device("cpu"))
    assert gan.by_hand
    gan.by_hand = by_hand
    plain = without_weight_grad_sinks(gan)
    batches = [(torch.rand(20, 36), torch.randint(0, 3, (20,)) if n_classes else None) for _ in range(cfg["k"])]
    for model in (gan, plain):
        torch.manual_seed(2)
        for epoch in range(4):
            model.iteration(batches, epoch=epoch * 100)
    for new, ref in zip(gan.g_params + gan.d_params, plain.g_params + plain.d_params):
        torch.testing.assert_close(new, ref, rtol=1e-5, atol=1e-6)
    assert all(p.grad is None for p in gan.g_params + gan.d_params)  # weights and biases taken, never formed


def test_hand_written_passes_serve_sgd_only_and_follow_the_discriminators_mode() -> None:
    """Adam needs .grad gradients: its GAN goes through autograd. With D in eval mode (no dropout)
    the hand-written step still equals the autograd one."""
    torch.manual_seed(0)
    adam = GAN({**MNIST_LIKE, "optimizer": "adam"}, 36, 0, torch.device("cpu"))
    before = [p.detach().clone() for p in adam.g_params + adam.d_params]
    adam.iteration([(torch.rand(20, 36), None)], epoch=0)
    assert not adam.by_hand
    assert all(not torch.equal(a, p) for a, p in zip(before, adam.g_params + adam.d_params))
    gan = GAN({**MNIST_LIKE, "d_irange": 0.5}, 36, 0, torch.device("cpu"))
    gan.D.eval()
    plain = without_weight_grad_sinks(gan)
    x = torch.rand(20, 36)
    for model in (gan, plain):
        torch.manual_seed(1)
        model.iteration([(x, None)], epoch=0)
    for new, ref in zip(gan.g_params + gan.d_params, plain.g_params + plain.d_params):
        torch.testing.assert_close(new, ref, rtol=1e-5, atol=1e-6)


def test_taken_weights_update_during_the_backward_pass_and_a_second_use_is_refused() -> None:
    """A taken weight is updated as soon as its layer's backward pass is done: a layer used twice in
    one forward pass would then form its other input gradient with the new weight; autograd refuses."""
    layer = Linear(3, 2)
    opt = MomentumSGD(list(layer.parameters()), {**MNIST_LIKE, "lr_decay": 1.0})
    opt.take_weight_grads(layer)
    x = torch.rand(4, 3)
    before, bias_before = layer.weight.detach().clone(), layer.bias.detach().clone()
    with opt.update(epoch=0):
        layer(x).sum().backward()
        assert not torch.equal(layer.weight, before)  # already updated, inside the block
    torch.testing.assert_close(layer.weight, before - MNIST_LIKE["lr"] * torch.ones(2, 4) @ x)
    torch.testing.assert_close(layer.bias, bias_before - MNIST_LIKE["lr"] * 4)  # dy = 1 in 4 rows
    with pytest.raises(RuntimeError, match="modified by an inplace operation"), opt.update(epoch=0):
        layer(layer(x) @ torch.ones(2, 3)).sum().backward()


def test_momentum_and_learning_rate_schedules() -> None:
    opt = MomentumSGD([torch.nn.Parameter(torch.zeros(1))], MNIST_LIKE)
    # pylearn2's MomentumAdjustor(start=1, saturate=250) counts its call before training: 1 in epoch 0
    assert opt.momentum(0) == 0.5
    assert math.isclose(opt.momentum(1), 0.5 + 0.2 / 249)
    assert math.isclose(opt.momentum(124.5), 0.5 + 0.2 * 124.5 / 249)
    assert opt.momentum(249) == opt.momentum(400) == pytest.approx(0.7)
    opt.updates = 100_000
    assert math.isclose(opt.lr(), 0.1 / 1.000004**100_000)
    opt.updates = 10**9
    assert opt.lr() == 1e-6


def test_discriminator_approaches_optimal_d_for_fixed_generator() -> None:
    """Proposition 1: with G fixed, D -> p_data / (p_data + p_g). Here p_data = N(4, 0.5^2) and
    G(z) = 4.5 + 0.7 z with z ~ N(0, 1), so p_g = N(4.5, 0.7^2) is known in closed form."""
    torch.manual_seed(0)
    D = MaxoutDiscriminator(1, [32, 32], 4, irange=0.5, input_keep=1.0, hidden_keep=1.0)
    opt = torch.optim.Adam(D.parameters(), lr=3e-3)
    for _ in range(3000):
        x_real = 4.0 + 0.5 * torch.randn(512, 1)
        x_fake = 4.5 + 0.7 * torch.randn(512, 1)
        logits = D(torch.cat([x_real, x_fake]))
        loss = F.softplus(-logits[:512]).mean() + F.softplus(logits[512:]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    grid = torch.linspace(3.0, 5.5, 51)[:, None]
    p_data = torch.exp(torch.distributions.Normal(4.0, 0.5).log_prob(grid))
    p_g = torch.exp(torch.distributions.Normal(4.5, 0.7).log_prob(grid))
    d_star = (p_data / (p_data + p_g)).squeeze(1)
    with torch.no_grad():
        d = torch.sigmoid(D(grid))
    assert (d - d_star).abs().max() < 0.06, (d - d_star).abs().max()
    assert d_star.max() - d_star.min() > 0.5  # the comparison spans a wide range of D*


def test_training_writes_model_log_and_validation(tmp_path: Path) -> None:
    data = write_images(tmp_path / "tiny.npz")
    trainer = Trainer({**MNIST_LIKE, "valid_sigmas": [0.1, 0.3, 1.0]}, data, tmp_path / "run")
    trainer.run(show_progress=False)
    rows = (tmp_path / "run/train_log.csv").read_text().splitlines()
    assert rows[0].startswith("step,epoch,d_loss,g_loss,d_real,d_fake")
    assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(5, 21, 5))
    assert [h["epoch"] for h in trainer.valid_history] == [1, 2]
    assert all(np.isfinite(h["log_likelihood"]) for h in trainer.valid_history)
    assert [(h["samples"], h["points"]) for h in trainer.valid_history] == [(50, 40)] * 2  # of 100 valid images


def test_snapshots_are_model_files_of_the_networks_at_their_epoch(tmp_path: Path) -> None:
    data = write_images(tmp_path / "tiny.npz")
    cfg = {**MNIST_LIKE, "epochs": 3, "snapshot_every": 2, "select": "last", "valid_every": 0}
    train(cfg, "tiny", data, tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run/snapshots").iterdir()) == ["epoch_0002.pt"]
    G, _, meta = load_model(tmp_path / "run/snapshots/epoch_0002.pt", torch.device("cpu"))
    G_last, _, _ = load_model(tmp_path / "run/model.pt", torch.device("cpu"))
    assert meta["selected"] == {"epoch": 2, "step": 20} and meta["dataset"] == "tiny"
    assert not torch.equal(G.out.weight, G_last.out.weight)  # epoch 2's networks, not the final ones
    # resuming the finished run for one more epoch adds the next snapshot, equal to its model.pt
    train({**cfg, "epochs": 4}, "tiny", data, tmp_path / "run")
    G4, _, _ = load_model(tmp_path / "run/snapshots/epoch_0004.pt", torch.device("cpu"))
    G_last, _, _ = load_model(tmp_path / "run/model.pt", torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(G4.state_dict().values(), G_last.state_dict().values()))
    # a run that starts over (other parameters) drops the snapshots of the run it discards
    train({**cfg, "lr": 0.05, "epochs": 1}, "tiny", data, tmp_path / "run", if_changed="restart")
    assert not list((tmp_path / "run/snapshots").iterdir())


def test_resuming_drops_snapshots_written_after_the_checkpoint(tmp_path: Path) -> None:
    """A run killed after a snapshot but before its next checkpoint wrote a snapshot the resumed run
    will write again from its own state: it is removed on resumption (as the log rows are)."""
    data = write_images(tmp_path / "tiny.npz")
    cfg = {**MNIST_LIKE, "epochs": 2, "snapshot_every": 1, "checkpoint_every": 10, "valid_every": 0}
    Trainer(cfg, data, tmp_path / "run").run(show_progress=False)
    stale = tmp_path / "run/snapshots/epoch_0003.pt"
    stale.write_bytes(b"from a killed run")
    Trainer({**cfg, "epochs": 3}, data, tmp_path / "run").try_resume()
    assert sorted(p.name for p in stale.parent.iterdir()) == ["epoch_0001.pt", "epoch_0002.pt"]


def test_an_exception_inside_an_update_closes_it() -> None:
    """After a failed update, a stray backward pass through the layer no longer moves its weight."""
    layer = Linear(3, 2)
    opt = MomentumSGD(list(layer.parameters()), MNIST_LIKE)
    opt.take_weight_grads(layer)
    with pytest.raises(ValueError), opt.update(epoch=0):
        raise ValueError("inside the update")
    before = layer.weight.detach().clone()
    layer(torch.rand(4, 3)).sum().backward()
    assert torch.equal(layer.weight, before)


def test_resuming_with_another_validation_estimate_restarts_model_selection(tmp_path: Path, capsys) -> None:
    data = write_images(tmp_path / "tiny.npz")
    Trainer(MNIST_LIKE, data, tmp_path / "run").run(show_progress=False)
    # sigma 5 scores far below sigma 0.3 on these images: without the restart epoch 1 or 2 would stay best
    resumed = Trainer({**MNIST_LIKE, "epochs": 3, "valid_sigmas": [5.0]}, data, tmp_path / "run")
    resumed.run(show_progress=False)
    assert "the validation estimate changed (valid_sigmas)" in capsys.readouterr().err
    assert [(h["epoch"], h["sigma"]) for h in resumed.valid_history] == [(1, 0.3), (2, 0.3), (3, 5.0)]
    assert resumed.valid_history[2]["log_likelihood"] < min(h["log_likelihood"] for h in resumed.valid_history[:2])
    assert resumed.best["epoch"] == 3  # the only epoch scored by the new estimate


def test_alternating_update_and_k_discriminator_steps(tmp_path: Path) -> None:
    data = write_images(tmp_path / "tiny.npz")
    cfg = {**MNIST_LIKE, "update": "alternating", "k": 2, "valid_every": 0}
    trainer = Trainer(cfg, data, tmp_path / "run")
    g_before = [p.detach().clone() for p in trainer.gan.g_params]
    trainer.run(show_progress=False)
    assert trainer.steps_per_epoch == 200 // (20 * 2)
    assert trainer.gan.opt_d.updates == 2 * trainer.gan.opt_g.updates == 2 * trainer.step
    assert any(not torch.equal(a, b) for a, b in zip(g_before, trainer.gan.g_params))


def test_conditional_training_feeds_labels_and_requires_them(tmp_path: Path) -> None:
    data = write_images(tmp_path / "tiny.npz")
    trainer = Trainer({**MNIST_LIKE, "conditional": True, "valid_every": 0}, data, tmp_path / "run")
    trainer.run(show_progress=False)
    assert trainer.gan.G.n_classes == 10 and trainer.gan.D.n_classes == 10
    unlabelled = write_vectors(tmp_path / "vec.npz")
    with pytest.raises(UserError, match=r"conditional: .*vec.npz has no labels"):
        Trainer({**MNIST_LIKE, "conditional": True, "g_output_bias": "none"}, unlabelled, tmp_path / "run2")


def test_convolutional_cifar_models_train_one_step(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 3, 32, 32), dtype=np.uint8)
    y = np.zeros(8, np.int64)
    meta = {"dataset": "c", "kind": "image", "example_shape": [3, 32, 32], "unit_scale": 255, "num_classes": 10}
    data = tmp_path / "c.npz"
    save_npz(data, x_train=x, y_train=y, x_valid=x, y_valid=y, x_test=x, y_test=y, meta=np.array(json.dumps(meta)))
    cfg = {**MNIST_LIKE, "arch": "conv", "batch_size": 4, "epochs": 1, "valid_every": 0}
    with pytest.raises(UserError, match="marginals' needs a fully connected generator"):
        Trainer(cfg, data, tmp_path / "run")
    trainer = Trainer({**cfg, "g_output_bias": "none"}, data, tmp_path / "run")
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
        Trainer({**MNIST_LIKE, "arch": "conv", "g_output_bias": "none"}, data, tmp_path / "run")


def write_vectors(path: Path, n: int = 200, corrupt: bool = False) -> Path:
    """A prepared 2-D vector dataset; `corrupt` puts a NaN in every training example."""
    x = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
    if corrupt:
        x[:, 0] = np.nan
    meta = {"dataset": "vec", "kind": "vector", "example_shape": [2], "unit_scale": 1, "num_classes": None}
    y = np.full(n, -1, np.int64)
    save_npz(path, x_train=x, y_train=y, x_valid=x, y_valid=y, x_test=x, y_test=y, meta=np.array(json.dumps(meta)))
    return path


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    cfg = {**MNIST_LIKE, "epochs": 1, "valid_every": 0, "g_output": "linear", "g_output_bias": "none"}
    Trainer(cfg, write_vectors(tmp_path / "good.npz"), tmp_path / "run").run(show_progress=False)
    ckpt = tmp_path / "run/checkpoint.pt"
    saved = ckpt.read_bytes()
    trainer = Trainer({**cfg, "epochs": 2}, write_vectors(tmp_path / "bad.npz", corrupt=True), tmp_path / "run")
    with pytest.raises(UserError, match=r"non-finite loss before step 15 .*last good checkpoint .*checkpoint.pt"):
        trainer.run(show_progress=False)
    assert trainer.step == 15
    assert ckpt.read_bytes() == saved


def test_checkpoint_from_other_parameters_is_refused_or_restarted(tmp_path: Path) -> None:
    data = write_images(tmp_path / "tiny.npz")
    cfg = {**MNIST_LIKE, "epochs": 1, "valid_every": 0}
    Trainer(cfg, data, tmp_path / "run").run(show_progress=False)
    with pytest.raises(UserError, match=r"other parameters \(lr: 0.1 -> 0.05\).*--if-changed restart"):
        Trainer({**cfg, "lr": 0.05}, data, tmp_path / "run").run(show_progress=False)
    restarted = Trainer({**cfg, "lr": 0.05}, data, tmp_path / "run")
    assert restarted.run(show_progress=False, if_changed="restart")["resumed"] is False


def test_checkpoint_of_an_older_format_is_not_resumed(tmp_path: Path) -> None:
    """A format-1 checkpoint holds maxout rows (and their momentum) unit-major: resuming would mix them."""
    data = write_images(tmp_path / "tiny.npz")
    cfg = {**MNIST_LIKE, "epochs": 1, "valid_every": 0}
    trainer = Trainer(cfg, data, tmp_path / "run")
    trainer.run(show_progress=False)
    state = torch.load(trainer.ckpt_path, weights_only=False)
    del state["format"]
    torch.save(state, trainer.ckpt_path)
    with pytest.raises(UserError, match=r"checkpoint format 1, this version reads 2"):
        Trainer(cfg, data, tmp_path / "run").run(show_progress=False)


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
    cfg = {**MNIST_LIKE, "epochs": 1, "valid_every": 0}
    command = ["train", "tiny", "--data", str(data), "--seed", "3", "--config-json", json.dumps(cfg)]
    run = Path("results/runs/tiny/train/s3")
    capsys.readouterr()
    assert main(command) == 0
    assert f"[train] training from scratch: no checkpoint at {run}/checkpoint.pt" in capsys.readouterr().err
    assert main([*command, "--epochs", "2"]) == 0
    err = capsys.readouterr().err
    assert f"[train] resuming from {run}/checkpoint.pt at step 10 of 20 (epoch 1)\n" in err
    assert log_steps(run / "train_log.csv") == [5, 10, 15, 20]
    changed = {**cfg, "epochs": 2, "lr": 0.05, "g_hidden": [32, 16]}
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
                json.dumps(changed),
                "--if-changed",
                "restart",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert (
        f"[train] training from scratch: {run}/checkpoint.pt was made with other parameters "
        "(g_hidden: [32, 32] -> [32, 16], lr: 0.1 -> 0.05)"
    ) in err
    assert "resuming" not in err and log_steps(run / "train_log.csv") == [5, 10, 15, 20]


def test_one_train_log_ends_at_the_checkpoint_and_survives_its_deletion(tmp_path: Path, monkeypatch) -> None:
    """train_log.csv is the only log: rewritten at each checkpoint from rows kept in the checkpoint, so a
    killed run's file ends at its checkpoint, and a resumed run rebuilds a file the workflow deleted."""
    data = write_images(tmp_path / "tiny.npz")
    cfg = {**MNIST_LIKE, "epochs": 3, "checkpoint_every": 10, "log_every": 5, "valid_every": 0}
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


def test_a_checkpoint_without_log_rows_takes_them_from_the_old_running_log(tmp_path: Path) -> None:
    """Runs checkpointed before the rows moved into the checkpoint keep their log: the old
    train_log.running.csv up to the checkpoint is taken over, then removed."""
    data = write_images(tmp_path / "tiny.npz")
    cfg = {**MNIST_LIKE, "epochs": 2, "valid_every": 0}
    run = tmp_path / "run"
    Trainer(cfg, data, run).run(show_progress=False)
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    lines = state.pop("log")
    torch.save(state, run / "checkpoint.pt")
    header = (run / "train_log.csv").read_text().splitlines()[0]
    (run / "train_log.csv").unlink()
    killed_row = "25" + lines[-1][2:]  # written after the checkpoint by a killed run
    (run / "train_log.running.csv").write_text("\r\n".join([header, *lines, killed_row]) + "\r\n")
    Trainer({**cfg, "epochs": 3}, data, run).run(show_progress=False)
    assert log_steps(run / "train_log.csv") == [5, 10, 15, 20, 25, 30]
    assert (run / "train_log.csv").read_text().splitlines()[1:5] == lines
    assert not (run / "train_log.running.csv").exists()


def _run_cli(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "ganrepro", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_killed_and_resumed_run_ends_bit_for_bit_like_an_uninterrupted_one(tmp_path: Path) -> None:
    data = write_images(tmp_path / "tiny.npz", n=400)
    cfg = {**MNIST_LIKE, "epochs": 60, "checkpoint_every": 20, "log_every": 10, "valid_every": 20}
    common = ["train", "tiny", "--data", str(data), "--seed", "3", "--config-json", json.dumps(cfg)]
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
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    assert json.loads((tmp_path / "killed/train.json").read_text())["resumed"] is True

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
