"""Inpainting scores, baselines and the `inpaint-train`, `inpaint-eval`, `inpaint-figure` commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ganrepro.evaluation.classify import fit_dataset
from ganrepro.evaluation.inpainting import completion_scores, masked_mse, mean_fill, nearest_fill
from ganrepro.evaluation.summary import summarize
from ganrepro.io import save_npz
from ganrepro.models.inpainting import MASK_KINDS, kind_masks

from helpers import tiny_config, tiny_dataset

SHAPE = [1, 6, 6]


def test_nearest_neighbour_fill_of_a_training_image_is_exact() -> None:
    train = np.random.default_rng(0).random((50, 36), dtype=np.float32)
    for kind in MASK_KINDS:
        m = kind_masks(kind, 10, SHAPE, seed=1).numpy()
        assert np.array_equal(nearest_fill(train[:10], m, train, chunk=4), train[:10]), kind


def test_nearest_neighbour_fill_matches_on_the_observed_pixels_only() -> None:
    m = kind_masks("left", 1, SHAPE, 0).numpy()
    x = np.full((1, 36), 0.5, np.float32)
    same_seen = np.where(m > 0, 0.5, 1.0).astype(np.float32)  # equal where observed, far where missing
    same_missing = np.where(m > 0, 0.6, 0.5).astype(np.float32)  # close overall, off where observed
    filled = nearest_fill(x, m, np.concatenate([same_missing, same_seen]))
    assert np.array_equal(filled, np.where(m > 0, 0.5, 1.0))


def test_mean_fill_mse_equals_the_pixel_variance_over_the_missing_region() -> None:
    x = np.random.default_rng(1).random((200, 36)).astype(np.float64)
    for kind in ("left", "centre"):
        m = kind_masks(kind, 200, SHAPE, 0).numpy().astype(np.float64)
        mse = masked_mse(mean_fill(x, m, x.mean(0)), x, m).mean()
        assert np.isclose(mse, x.var(0)[m[0] == 0].mean()), kind


def test_scores_of_identical_completions_have_no_diversity_and_best_equals_mean() -> None:
    x = np.random.default_rng(2).random((20, 36)).astype(np.float32)
    m = kind_masks("random", 20, SHAPE, 0).numpy()
    comps = np.repeat(mean_fill(x, m, np.zeros(36, np.float32))[None], 4, axis=0)
    scores = completion_scores(comps, x, m, np.zeros(20, np.int64), lambda imgs: np.zeros(len(imgs), np.int64))
    assert scores["diversity"] == 0 and scores["accuracy"] == 1.0
    assert np.isclose(scores["mse_best"], scores["mse_mean"])
    assert np.isclose(scores["mse_mean"], masked_mse(np.zeros_like(x), x, m).mean())


def test_the_three_commands_train_score_and_draw_a_tiny_inpainting_gan(tmp_path: Path, run_cli) -> None:
    data = tiny_dataset(tmp_path / "tiny.npz", n=120)
    fit_dataset(data, tmp_path / "classifier", epochs=1)
    cfg = {
        **tiny_config().as_dict(),
        **{"lr": 0.05, "g_output_bias": "marginals", "epochs": 2, "batch_size": 20, "valid_points": 30},
        **{"valid_every": 1, "device": "cpu"},
    }
    classifier = tmp_path / "classifier" / "classifier.pt"
    run = tmp_path / "inpaint"
    common = ["--data", data, "--classifier", classifier]
    trained = run_cli("inpaint-train", "tiny", *common, "--out-dir", run, "--config-json", json.dumps(cfg))
    assert trained.code == 0, trained.err
    curve = (run / "valid_curve.csv").read_text().splitlines()
    assert curve[0].startswith("epoch,mse_best_left,accuracy_left") and len(curve) == 4
    record = json.loads((run / "train.json").read_text())
    assert record["selection"] == "best_valid" and record["selected"]["epoch"] in (1, 2)  # params.yaml's select
    assert f"selected best_valid: epoch {record['selected']['epoch']}" in trained.out
    changed = ["--out-dir", run, "--config-json", json.dumps({**cfg, "lr": 0.02})]
    refused = run_cli("inpaint-train", "tiny", *common, *changed)
    assert refused.code == 2 and "other parameters or data (lr: 0.05 -> 0.02)" in refused.err
    restarted = run_cli("inpaint-train", "tiny", *common, *changed, "--if-changed", "restart")
    assert restarted.code == 0, restarted.err
    assert "training from scratch" in restarted.err and "resuming" not in restarted.err
    out = tmp_path / "inpaint.json"
    scored = run_cli(
        "inpaint-eval", "--model", run / "model.pt", *common, "--points", 40, "--completions", 3, "--out", out
    )
    assert scored.code == 0, scored.err
    result = json.loads(out.read_text())
    assert set(result["kinds"]) == set(MASK_KINDS) and result["points"] == 40
    for scores in result["kinds"].values():
        assert 0 < scores["mse_best"] < 1 and 0 < scores["mse_mean"] < 1 and scores["diversity"] > 0
        assert 0 <= scores["accuracy"] <= 1 and 0 <= scores["accuracy_nn_fill"] <= 1
    for name in ("mse_best", "mse_mean_fill", "accuracy"):
        assert np.isclose(result["mean"][name], np.mean([s[name] for s in result["kinds"].values()]))
    with np.load(data) as f:  # the mean-fill baseline by hand: the left half (3 of 6 columns) missing
        scale = json.loads(f["meta"].item())["unit_scale"]
        x_train, x_test = f["x_train"].reshape(120, -1) / scale, f["x_test"][:40].reshape(40, -1) / scale
    missing = np.arange(36) % 6 < 3
    by_hand = ((x_train.mean(0)[missing] - x_test[:, missing]) ** 2).mean()
    assert np.isclose(result["kinds"]["left"]["mse_mean_fill"], by_hand, rtol=1e-5)
    flat = summarize("tiny", {"inpaint": [out]})
    assert flat["inpaint_mean_mse_best"] == result["mean"]["mse_best"]
    drawn = run_cli(
        "inpaint-figure", "--model", run / "model.pt", "--data", data, "--examples", 2, "--out", tmp_path / "fig"
    )
    assert drawn.code == 0, drawn.err
    assert (tmp_path / "fig.png").stat().st_size > 1000 and (tmp_path / "fig.pdf").exists()


def test_a_dataset_without_images_or_labels_is_skipped_with_a_message(tmp_path: Path, run_cli) -> None:
    x = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    toy = tmp_path / "ring.npz"
    meta = {"dataset": "ring", "kind": "toy", "example_shape": [2], "unit_scale": 1, "n_train": 50}
    save_npz(toy, x_train=x, y_train=np.zeros(50, np.int64), meta=np.array(json.dumps(meta)))
    result = run_cli("inpaint-train", "ring", "--data", toy, "--classifier", tmp_path / "c.pt", "--out-dir", tmp_path)
    assert result.code == 2
    assert f"{toy}: dataset 'ring' has no images (C, H, W); inpainting skips it" in result.err
    with np.load(tiny_dataset(tmp_path / "tiny.npz")) as prepared:
        arrays = dict(prepared)
    arrays["meta"] = np.array(json.dumps({**json.loads(arrays["meta"].item()), "num_classes": None}))
    unlabelled = tmp_path / "unlabelled.npz"
    save_npz(unlabelled, **arrays)
    result = run_cli(
        "inpaint-eval",
        "--model",
        tmp_path / "m.pt",
        "--data",
        unlabelled,
        "--classifier",
        tmp_path / "c.pt",
        "--out",
        tmp_path / "o.json",
    )
    assert result.code == 2 and "has no labels" in result.err
