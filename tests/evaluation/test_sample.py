"""`ganrepro sample`: the samples are G of the z stored beside them (across the 1,000-row batches),
the same seed gives the same file and another seed other samples, a conditional generator cycles
through its classes, and the defaults come from params.yaml's sample section."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganrepro.models.artifacts import load_model

from helpers import tiny_model


def draw(run_cli, model: Path, out: Path, *options: object) -> dict[str, np.ndarray]:
    result = run_cli("sample", "--model", model, "--out", out, "--device", "cpu", *options)
    assert result.code == 0, result.err
    with np.load(out) as f:
        return dict(f)


def test_samples_are_g_of_their_z_and_a_seed_fixes_them(tmp_path: Path, run_cli) -> None:
    model = tiny_model(tmp_path / "model.pt")
    a = draw(run_cli, model, tmp_path / "a.npz", "--n", 2500, "--seed", 5)
    assert a["x"].shape == (2500, 36) and a["z"].shape == (2500, 4) and (a["labels"] == -1).all()
    G, _, _ = load_model(model, torch.device("cpu"))
    with torch.no_grad():  # one forward pass over all rows: an independent check of the batching
        expected = G(torch.from_numpy(a["z"]), None).numpy()
    np.testing.assert_allclose(a["x"], expected, rtol=0, atol=1e-6)
    assert ((a["x"] >= 0) & (a["x"] <= 1)).all()  # sigmoid output: pixel values
    same = draw(run_cli, model, tmp_path / "b.npz", "--n", 2500, "--seed", 5)
    assert all(np.array_equal(a[k], same[k]) for k in a)
    other = draw(run_cli, model, tmp_path / "c.npz", "--n", 2500, "--seed", 6)
    assert not np.allclose(a["z"], other["z"])


def test_a_conditional_generator_cycles_through_its_classes(tmp_path: Path, run_cli) -> None:
    model = tiny_model(tmp_path / "model.pt", n_classes=3)
    s = draw(run_cli, model, tmp_path / "s.npz", "--n", 7, "--seed", 0)
    assert s["labels"].tolist() == [0, 1, 2, 0, 1, 2, 0]
    G, _, _ = load_model(model, torch.device("cpu"))
    with torch.no_grad():
        expected = G(torch.from_numpy(s["z"]), torch.from_numpy(s["labels"])).numpy()
    np.testing.assert_allclose(s["x"], expected, rtol=0, atol=1e-6)


def test_n_and_seed_default_to_params_yaml(tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_model(tmp_path / "model.pt")
    given = draw(run_cli, model, tmp_path / "given.npz", "--n", 12, "--seed", 3)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("sample:\n  n: 12\n  seed: 3\n  draws: 1\n")
    default = draw(run_cli, model, tmp_path / "default.npz")
    assert all(np.array_equal(given[k], default[k]) for k in given)
