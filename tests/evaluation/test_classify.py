"""The dataset classifier and its sample scores: Frechet distance, class coverage, label accuracy, CLI."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ganrepro.errors import UserError
from ganrepro.evaluation.classify import (
    Classifier,
    add_parser,
    class_coverage,
    class_metrics,
    feature_statistics,
    features_and_predictions,
    frechet_distance,
    label_accuracy,
    load_classifier,
)
from ganrepro.io import save_npz
from ganrepro.models.artifacts import save_model
from ganrepro.models.networks import build_models
from ganrepro.reporting.figures import add_parser as add_figure_parsers
from ganrepro.reporting.figures import conditional_samples_figure

from helpers import tiny_config

CLASSES = 4
SIDE = 28


def _random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _frechet_by_eigh(mu1, s1, mu2, s2) -> float:
    """Independent formula: tr (S1 S2)^(1/2) = sum of sqrt eigenvalues of S1^(1/2) S2 S1^(1/2)."""
    r = _psd_sqrt(s1)
    eig = np.clip(np.linalg.eigvalsh(r @ s2 @ r), 0, None)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(eig).sum())


# --- Frechet distance ---------------------------------------------------------------------------


def test_frechet_diagonal_closed_form() -> None:
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    v1, v2 = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-9)


def test_frechet_identical_is_zero() -> None:
    rng = np.random.default_rng(1)
    mu, s = rng.normal(size=20), _random_spd(rng, 20)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-8


def test_frechet_non_diagonal_matches_eigen_formula() -> None:
    rng = np.random.default_rng(2)
    mu1, mu2 = rng.normal(size=15), rng.normal(size=15)
    s1, s2 = _random_spd(rng, 15), _random_spd(rng, 15)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_frechet_by_eigh(mu1, s1, mu2, s2), rel=1e-7)


def test_frechet_singular_covariances() -> None:
    rng = np.random.default_rng(3)
    d = 12
    low = rng.normal(size=(d, 3))
    s1, s2 = low @ low.T, np.zeros((d, d))  # rank 3 and a collapsed distribution
    mu = rng.normal(size=d)
    assert frechet_distance(mu, s1, mu, s2) == pytest.approx(np.trace(s1), rel=1e-4)
    other = rng.normal(size=(d, 2))
    s3 = other @ other.T
    assert frechet_distance(mu, s1, mu, s3) == pytest.approx(_frechet_by_eigh(mu, s1, mu, s3), rel=1e-4, abs=1e-4)


def test_frechet_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# --- class coverage and label accuracy ----------------------------------------------------------


def test_class_coverage_constructed() -> None:
    one = class_coverage(np.full(50, 2), 5)
    assert one["classes_covered"] == 1
    assert one["class_histogram"] == [0, 0, 50, 0, 0]
    assert one["class_kl_uniform"] == pytest.approx(np.log(5))
    assert (one["class_share_max"], one["class_share_min"]) == (1.0, 0.0)
    uniform = class_coverage(np.arange(100) % 5, 5)
    assert uniform["classes_covered"] == 5 and uniform["class_kl_uniform"] == pytest.approx(0.0)
    rare = class_coverage(np.array([0] * 99 + [1]), 2, min_share=0.05)
    assert rare["classes_covered"] == 1 and rare["class_share_min"] == pytest.approx(0.01)


def test_label_accuracy_constructed() -> None:
    assert label_accuracy(np.array([0, 1, 2, 0, 3]), np.array([0, 1, 0, -1, 2])) == pytest.approx(0.5)
    assert label_accuracy(np.array([0, 1]), np.array([-1, -1])) is None


# --- the classifier on a synthetic labelled image set -------------------------------------------


def _images(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """uint8 (N, 1, 28, 28): noise plus a bar whose side (top, bottom, left, right) is the class."""
    x = rng.uniform(0, 0.3, size=(len(labels), SIDE, SIDE))
    for i, c in enumerate(labels):
        at = rng.integers(2, 8) if c % 2 == 0 else rng.integers(SIDE - 12, SIDE - 6)
        if c < 2:
            x[i, at : at + 4, 4:-4] = 1.0
        else:
            x[i, 4:-4, at : at + 4] = 1.0
    return np.rint(x * 255).astype(np.uint8)[:, None]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared .npz in the `ganrepro prepare` layout: 800 / 200 / 400 examples of 4 classes."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 800), ("valid", 200), ("test", 400)):
        y = np.arange(n) % CLASSES
        arrays[f"x_{split}"], arrays[f"y_{split}"] = _images(rng, y), y.astype(np.int64)
    meta = {
        "dataset": "bars",
        "kind": "image",
        "example_shape": [1, SIDE, SIDE],
        "value_range": [0, 255],
        "unit_scale": 255,
        "n_train": 800,
        "n_valid": 200,
        "n_test": 400,
        "num_classes": CLASSES,
        "class_names": None,
        "splits": "synthetic",
        "source": {},
    }
    path = tmp_path_factory.mktemp("bars") / "dataset.npz"
    save_npz(path, meta=np.array(json.dumps(meta)), **arrays)
    return path


def _run(*args: object) -> None:
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_parser(subparsers)
    add_figure_parsers(subparsers)
    ns = parser.parse_args([str(a) for a in args])
    ns.func(ns)


@pytest.fixture(scope="module")
def trained(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clf")
    _run("classifier", "--data", dataset, "--out-dir", out, "--epochs", 3, "--batch-size", 32, "--device", "cpu")
    return out


def test_classifier_learns_synthetic_patterns(trained: Path) -> None:
    summary = json.loads((trained / "classifier.json").read_text())
    assert summary["test_accuracy"] > 0.95 and summary["valid_accuracy"] > 0.95
    assert {"epochs", "seconds", "n_train"} <= set(summary)
    model = load_classifier(trained / "classifier.pt", "cpu")
    assert (model.example_shape, model.num_classes, model.dataset) == ((1, SIDE, SIDE), CLASSES, "bars")


def test_a_run_with_the_same_settings_and_data_rewrites_the_outputs_instead_of_training(
    trained: Path, dataset: Path, tmp_path: Path, capsys
) -> None:
    """DVC's train stage runs the classifier's command every time: with the record's settings and
    data it writes the same bytes (no training); other settings train again."""
    out = tmp_path / "clf"
    shutil.copytree(trained, out)
    outputs = ("classifier.pt", "classifier.json")
    before = {name: (out / name).read_bytes() for name in outputs}
    for name in outputs:
        (out / name).unlink()  # as Snakemake does before a job
    capsys.readouterr()
    _run("classifier", "--data", dataset, "--out-dir", out, "--epochs", 3, "--batch-size", 32, "--device", "cpu")
    err = capsys.readouterr().err
    assert "written again" in err and "[classifier] epoch" not in err
    assert {name: (out / name).read_bytes() for name in outputs} == before
    _run("classifier", "--data", dataset, "--out-dir", out, "--epochs", 1, "--batch-size", 32, "--device", "cpu")
    assert "[classifier] epoch 1/1" in capsys.readouterr().err
    assert json.loads((out / "classifier.json").read_text())["epochs"] == 1


def test_classifier_fid_real_far_below_noise(trained: Path, dataset: Path) -> None:
    model = load_classifier(trained / "classifier.pt")
    train_x = np.load(dataset)["x_train"][:400].reshape(400, -1) / np.float32(255)
    noise = np.random.default_rng(1).uniform(size=(400, SIDE * SIDE)).astype(np.float32)
    real = class_metrics(model, train_x, None, dataset)
    fake = class_metrics(model, noise, None, dataset)
    assert real["classifier_fid"] * 20 < fake["classifier_fid"]
    assert real["classes_covered"] == CLASSES and real["class_kl_uniform"] < 0.05


def test_samples_of_one_class_cover_one_class(trained: Path) -> None:
    model = load_classifier(trained / "classifier.pt")
    x = _images(np.random.default_rng(2), np.full(100, 3)).reshape(100, -1) / np.float32(255)
    _, predicted = features_and_predictions(model, x)
    coverage = class_coverage(predicted, CLASSES)
    assert coverage["classes_covered"] == 1 and coverage["class_histogram"][3] >= 95
    assert label_accuracy(predicted, np.full(100, 3)) >= 0.95
    assert label_accuracy(predicted, np.full(100, 0)) <= 0.05


def test_class_metrics_cli_writes_all_keys(trained: Path, dataset: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    labels = np.arange(200) % CLASSES  # as `ganrepro sample` labels a conditional model's samples
    samples = tmp_path / "samples.npz"
    save_npz(samples, x=_images(rng, labels).reshape(200, -1) / np.float32(255), z=np.zeros((200, 1)), labels=labels)
    out = tmp_path / "metrics.json"
    _run(
        "class-metrics",
        "--classifier",
        trained / "classifier.pt",
        "--samples",
        samples,
        "--data",
        dataset,
        "--out",
        out,
        "--reference",
        "--device",
        "cpu",
    )
    m = json.loads(out.read_text())
    assert {
        "dataset",
        "n_samples",
        "n_test",
        "num_classes",
        "conditional",
        "label_accuracy",
        "classifier_fid",
        "classifier_fid_reference",
        "class_histogram",
        "class_kl_uniform",
        "classes_covered",
        "class_coverage_min_share",
        "class_share_max",
        "class_share_min",
    } == set(m)
    assert m["conditional"] and m["label_accuracy"] > 0.95 and m["n_samples"] == 200
    assert sum(m["class_histogram"]) == 200 and m["classes_covered"] == CLASSES
    assert 0 <= m["classifier_fid_reference"] and 0 <= m["classifier_fid"]


def test_class_metrics_rejects_other_dataset(trained: Path, tmp_path: Path) -> None:
    meta = {"dataset": "other", "example_shape": [3, 32, 32], "unit_scale": 255, "num_classes": 10, "n_test": 1}
    data = tmp_path / "other.npz"
    save_npz(data, meta=np.array(json.dumps(meta)), x_test=np.zeros((1, 3, 32, 32), np.uint8))
    with pytest.raises(UserError, match="classifier was trained on"):
        class_metrics(load_classifier(trained / "classifier.pt"), np.zeros((2, 3072), np.float32), None, data)


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 48, 48), (2,)])
def test_classifier_is_generic_on_example_shape(shape: tuple[int, ...]) -> None:
    model = Classifier(shape, 7)
    x = np.random.default_rng(0).uniform(size=(5, int(np.prod(shape)))).astype(np.float32)
    features, predicted = features_and_predictions(model, x)
    assert features.shape == (5, 128) and predicted.shape == (5,) and predicted.max() < 7
    assert feature_statistics(features)[1].shape == (128, 128)


# --- conditional figure -------------------------------------------------------------------------


def _model_file(path: Path, conditional: bool) -> Path:
    cfg = tiny_config(
        g_hidden=[8], g_irange=0.05, d_irange=0.005, d_input_keep=0.8, d_hidden_keep=0.5, conditional=conditional
    )
    G, D = build_models(cfg, SIDE * SIDE, CLASSES)
    # as `ganrepro train` writes it: the dataset's class count, conditional model or not
    save_model(
        path,
        G,
        D,
        {
            "config": cfg.as_dict(),
            "dataset": "bars",
            "seed": 0,
            "data_dim": SIDE * SIDE,
            "example_shape": [1, SIDE, SIDE],
            "n_classes": CLASSES,
            "kind": "image",
        },
    )
    return path


def test_conditional_figure(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _model_file(tmp_path / "model.pt", conditional=True)
    _run(
        "conditional-figure", "--model", model, "--out", tmp_path / "fig" / "cond", "--per-class", 3, "--device", "cpu"
    )
    assert (tmp_path / "fig" / "cond.png").stat().st_size > 0 and (tmp_path / "fig" / "cond.pdf").stat().st_size > 0


def test_conditional_figure_says_what_it_shows(tmp_path: Path) -> None:
    """A title naming the model, the layout and the seed; one labelled row per class, in class order."""
    torch.manual_seed(0)
    fig = conditional_samples_figure(
        _model_file(tmp_path / "model.pt", conditional=True), per_class=3, seed=5, device="cpu"
    )
    (ax,) = fig.axes
    title = ax.get_title()
    assert title.startswith("bars: conditional GAN p(x | c), one row per class c")
    assert "samples 0..2 of each class, seed 5 (not selected)" in title
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(c) for c in range(CLASSES)]
    assert ax.get_images()[0].get_array().shape == (CLASSES * (SIDE + 1) - 1, 3 * (SIDE + 1) - 1)


def test_conditional_figure_refuses_unconditional_model(tmp_path: Path) -> None:
    model = _model_file(tmp_path / "model.pt", conditional=False)
    with pytest.raises(UserError, match=r"unconditional; list bars under class_metrics.conditional"):
        _run("conditional-figure", "--model", model, "--out", tmp_path / "cond", "--device", "cpu")
