"""Learned approximate inference: E learns to invert a frozen tiny generator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ganrepro.cli import build_parser, main
from ganrepro.config import step_params
from ganrepro.errors import UserError
from ganrepro.evaluation import infer
from ganrepro.io import read_json
from ganrepro.models.artifacts import load_model
from ganrepro.models.networks import InferenceNet

from helpers import FAST_INFER, tiny_dataset, tiny_model, write_code_running_file, write_images


def state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_encoder_training_leaves_the_generator_unchanged(tmp_path: Path) -> None:
    G, _, meta = load_model(tiny_model(tmp_path / "model.pt"), torch.device("cpu"))
    before = state(G)
    cfg = {**step_params("infer", {}), "hidden": [16], "steps": 30, "batch_size": 16}
    E, history = infer.train_encoder(G, meta["config"], meta["data_dim"], cfg, torch.device("cpu"))
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    assert not any(p.requires_grad for p in G.parameters()) and not G.training
    assert any(p.grad is not None for p in E.parameters())
    assert history[-1]["step"] == 30


def test_infer_cli_beats_the_random_baseline(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "model.pt")
    data = tiny_dataset(tmp_path / "data.npz", model)
    out = tmp_path / "infer"
    assert (
        main(
            [
                "infer",
                "--model",
                str(model),
                "--data",
                str(data),
                "--out-dir",
                str(out),
                "--device",
                "cpu",
                "--config-json",
                json.dumps({**step_params("infer", {}), "n_eval": 999}),
                *FAST_INFER,
            ]
        )
        == 0
    )
    result = read_json(out / "infer.json")
    rec = result["reconstruction"]
    assert rec["n_test"] == 120
    assert rec["encoder"]["mse_per_pixel"] < 0.3 * rec["random_z"]["mse_per_pixel"]
    assert rec["encoder"]["l2_mean"] < rec["random_z"]["l2_mean"]
    assert result["z_recovery"]["r2_mean"] > 0.5 and len(result["z_recovery"]["r2_per_dim"]) == 4
    assert result["config"]["steps"] == 300 and result["config"]["n_eval"] == 200  # flags override the json
    assert result["elapsed_seconds"] > 0
    E, info = infer.load_encoder(out / "encoder.pt", torch.device("cpu"))
    assert info["in_dim"] == 36 and info["z_dim"] == 4


def test_infer_conditional_generator(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "model.pt", n_classes=3)
    data = tiny_dataset(tmp_path / "data.npz", model, n_classes=3)
    assert (
        main(
            [
                "infer",
                "--model",
                str(model),
                "--data",
                str(data),
                "--out-dir",
                str(tmp_path / "inf"),
                "--device",
                "cpu",
                *FAST_INFER,
            ]
        )
        == 0
    )
    result = read_json(tmp_path / "inf" / "infer.json")
    assert result["conditional_classes"] == 3
    rec = result["reconstruction"]
    assert rec["encoder"]["mse_per_pixel"] < 0.5 * rec["random_z"]["mse_per_pixel"]


def test_infer_config_from_params_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("infer:\n  hidden: [8]\n  steps: 7\n  batch_size: 4\n  lr: 0.01\n  seed: 3\n  n_eval: 5\n")
    args = build_parser().parse_args(
        ["infer", "--model", "m.pt", "--data", "d.npz", "--out-dir", "o", "--params", str(params), "--steps", "9"]
    )
    expected = {"hidden": [8], "steps": 9, "batch_size": 4, "lr": 0.01, "seed": 3, "n_eval": 5}
    assert infer.resolve_config(args) == expected
    code = main(
        ["infer", "--model", "m.pt", "--data", "d.npz", "--out-dir", str(tmp_path), "--config-json", '{"hiden": [8]}']
    )
    assert code == 2 and "unknown parameter" in capsys.readouterr().err


def test_data_of_another_shape_and_a_missing_encoder_are_named(tmp_path: Path, capsys) -> None:
    model = tiny_model(tmp_path / "model.pt")  # 6x6 images: 36 values
    other = write_images(tmp_path / "five.npz", side=5)
    args = ["infer", "--model", str(model), "--data", str(other), "--out-dir", str(tmp_path / "o"), "--device", "cpu"]
    assert main([*args, *FAST_INFER]) == 2
    assert f"{other}: test examples have 25 values, the generator makes 36" in capsys.readouterr().err
    assert not (tmp_path / "o" / "encoder.pt").exists()
    with pytest.raises(UserError, match="absent.pt: encoder not found \\(run `ganrepro infer` first\\)"):
        infer.load_encoder(tmp_path / "absent.pt", torch.device("cpu"))


def test_a_crafted_encoder_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    """An encoder.pt whose unpickling would create a file: refused with an error naming it, and the
    file is not created (torch.load(weights_only=False) created it); a sound one loads back."""
    path = tmp_path / "encoder.pt"
    E = InferenceNet(6, [5], 3)
    infer.save_encoder(path, E, {"in_dim": 6, "hidden": [5], "z_dim": 3})
    loaded, info = infer.load_encoder(path, torch.device("cpu"))
    assert info["hidden"] == [5] and all(torch.equal(a, b) for a, b in zip(E.parameters(), loaded.parameters()))
    target = tmp_path / "created_by_unpickling"
    write_code_running_file(path, torch.load(path, weights_only=True), target)
    with pytest.raises(UserError, match=rf"{path}: refused: .*could run code; run `ganrepro infer` again"):
        infer.load_encoder(path, torch.device("cpu"))
    assert not target.exists()
