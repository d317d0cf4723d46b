"""Layers whose fast paths must keep the paper's semantics: maxout and dropout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganrepro.errors import UserError
from ganrepro.models.artifacts import load_model, save_model
from ganrepro.models.networks import Maxout, _dropout, bias_from_marginals, build_models, generate

from helpers import tiny_config, tiny_model, write_code_running_file


def test_maxout_is_the_max_over_each_units_pieces_with_its_gradient() -> None:
    torch.manual_seed(0)
    layer = Maxout(7, units=4, pieces=3, irange=0.5)
    x = torch.randn(6, 7, requires_grad=True)
    pre = x @ layer.linear.weight.t() + layer.linear.bias  # rows k * units + u: piece k of unit u
    expected = torch.stack([pre[:, [k * 4 + u for k in range(3)]].max(1).values for u in range(4)], 1)
    out = layer(x)
    torch.testing.assert_close(out, expected)
    weights = torch.randn(6, 4)
    (grad,) = torch.autograd.grad((out * weights).sum(), x)
    (expected_grad,) = torch.autograd.grad((expected * weights).sum(), x)
    torch.testing.assert_close(grad, expected_grad)


def test_dropout_keeps_units_with_the_configured_probability_and_rescales() -> None:
    torch.manual_seed(2)
    x = torch.ones(400, 1000)
    for keep in (0.8, 0.5, 0.75, 0.3):  # 16-, 8-, 8- and 16-bit draws per unit
        out = _dropout(x, keep, training=True)
        kept = out != 0
        # 5e4 units per position within a 64-bit draw: standard error < 2.3e-3 in each; a biased
        # bit lane (e.g. from a 63-bit draw) would be off by 1/8 or more
        per_lane = kept.view(-1, 8).float().mean(0)
        assert (per_lane - keep).abs().max().item() < 0.01, (keep, per_lane)
        torch.testing.assert_close(out[kept], torch.full_like(out[kept], 1.0 / keep), rtol=1e-4, atol=0)
    big = torch.ones(2000, 2000)  # 4e6 units: standard error 2.5e-4; one step of an 8-bit threshold is 3.9e-3
    for keep in (0.5, 0.75):
        assert abs((_dropout(big, keep, training=True) != 0).float().mean().item() - keep) < 1.5e-3
    assert _dropout(x, 0.5, training=False) is x


def test_output_bias_from_marginals_reproduces_the_means_clipped_as_pylearn2() -> None:
    means = torch.tensor([0.0, 0.25, 0.5, 0.9, 1.0])
    bias = bias_from_marginals(means)
    torch.testing.assert_close(
        torch.sigmoid(bias.double()), means.double().clamp(1e-7, 1 - 1e-7), rtol=1e-5, atol=1e-12
    )
    assert bias[0].item() == pytest.approx(-16.118, abs=1e-3)


def test_a_saved_model_loads_the_same_discriminator(tmp_path) -> None:
    """D computes the same after a round trip through model.pt."""
    cfg = tiny_config(g_hidden=[8], d_units=[6, 5], d_pieces=3, d_irange=0.5)
    torch.manual_seed(3)
    G, D = build_models(cfg, 12)
    save_model(tmp_path / "model.pt", G, D, {"config": cfg.as_dict(), "data_dim": 12, "n_classes": 0})
    _, loaded, _ = load_model(tmp_path / "model.pt", torch.device("cpu"))
    x = torch.rand(7, 12)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), D.eval()(x))


def test_samples_of_an_unconditional_model_carry_no_class_labels() -> None:
    """A model of a labelled dataset is not conditional: its samples ask for no class (labels -1),
    so classifier label accuracy is not computed for them."""
    cfg = tiny_config(g_hidden=[8], d_units=[6], d_irange=0.5)
    G, _ = build_models(cfg, 12, 10)
    assert (generate(G, cfg, 30, seed=0)["labels"] == -1).all()
    G_cond, _ = build_models(cfg.replace(conditional=True), 12, 10)
    labels = generate(G_cond, cfg.replace(conditional=True), 30, seed=0)["labels"]
    assert labels.tolist() == [i % 10 for i in range(30)]


def test_a_crafted_model_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    """A model.pt whose unpickling would create a file: refused with an error naming it and what to
    do, and the file is not created (torch.load(weights_only=False) created it)."""
    path = tiny_model(tmp_path / "model.pt")
    target = tmp_path / "created_by_unpickling"
    write_code_running_file(path, torch.load(path, weights_only=True), target)
    with pytest.raises(UserError, match=rf"{path}: refused: .*could run code; train the model again"):
        load_model(path, torch.device("cpu"))
    assert not target.exists()


def test_a_truncated_model_file_is_named_with_what_to_do(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "model.pt")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(UserError, match=rf"{path}: unreadable, truncated or corrupted .*; train the model again"):
        load_model(path, torch.device("cpu"))
