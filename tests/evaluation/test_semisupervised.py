"""Semi-supervised classification with the GAN's features: label subsets, the classifier, the step on a
tiny model and prepared file, its errors, and its metrics, table and figure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ganrepro.cli import main
from ganrepro.errors import UserError
from ganrepro.evaluation import semisupervised, summary
from ganrepro.evaluation.infer import save_encoder
from ganrepro.io import read_json, save_npz
from ganrepro.models.networks import InferenceNet
from ganrepro.reporting import figures, report, tables

from helpers import FAST_INFER, tiny_config, tiny_dataset, tiny_model

TINY = {
    "label_counts": [6, 30],
    "subsets": 3,
    "seed": 0,
    "l2_grid": [1.0e-2, 1.0],
    "lbfgs_iters": 20,
    "valid_limit": 0,
    "scratch_steps": 20,
    "scratch_eval_every": 10,
    "scratch_lr": 0.003,
}


def test_label_subsets_are_class_balanced_distinct_and_fixed_by_the_seed() -> None:
    y = np.repeat(np.arange(10), 50)
    np.random.default_rng(0).shuffle(y)
    for n in (100, 105):
        subsets = semisupervised.label_subsets(y, n, 4, seed=7, num_classes=10)
        for idx in subsets:
            counts = np.bincount(y[idx], minlength=10)
            assert len(np.unique(idx)) == n and counts.sum() == n
            assert set(counts) <= {n // 10, n // 10 + 1} and (counts == n // 10 + 1).sum() == n % 10
        assert len({semisupervised.subset_digest(i) for i in subsets}) == 4
        again = semisupervised.label_subsets(y, n, 4, seed=7, num_classes=10)
        assert all(np.array_equal(a, b) for a, b in zip(subsets, again))
        other = semisupervised.label_subsets(y, n, 4, seed=8, num_classes=10)
        assert not any(np.array_equal(a, b) for a, b in zip(subsets, other))
    # unlabelled examples (-1) are never drawn
    y[:100] = -1
    assert all((y[idx] >= 0).all() for idx in semisupervised.label_subsets(y, 50, 3, 0, 10))


def clusters(n: int, d: int, k: int, seed: int, separation: float) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).standard_normal((k, d)) * separation
    y = np.arange(n) % k
    return torch.from_numpy(centres[y] + rng.standard_normal((n, d))), torch.from_numpy(y)


def test_logistic_regression_separates_separable_classes_and_is_at_chance_on_random_labels() -> None:
    train, valid, test = (clusters(n, 20, 10, s, separation=10.0) for n, s in ((50, 0), (200, 1), (2000, 2)))
    (W, b), l2, valid_errors = semisupervised.fit_select(train, valid, 10, [1e-3, 1e-1], 50)
    assert valid_errors == 0 and semisupervised.count_errors(*test, W, b) == 0
    rng = np.random.default_rng(3)
    noise = [
        (torch.from_numpy(rng.standard_normal((n, 20))), torch.from_numpy(rng.integers(0, 10, n)))
        for n in (500, 500, 4000)
    ]
    (W, b), _, _ = semisupervised.fit_select(noise[0], noise[1], 10, [1e-3, 1e-1], 50)
    assert semisupervised.count_errors(*noise[0], W, b) < 400  # it fits its own random labels ...
    assert 0.85 < semisupervised.count_errors(*noise[2], W, b) / 4000 < 0.95  # ... and generalises at chance


def test_the_scratch_net_has_ds_layers_and_learns_separable_classes() -> None:
    cfg = tiny_config(z_dim=2, g_hidden=[4], g_irange=0.1, d_units=[16], d_input_keep=0.8, d_hidden_keep=0.5)
    net = semisupervised.scratch_net(cfg, 20, 3)
    assert [m.units for m in net.modules() if isinstance(m, semisupervised.Maxout)] == [16]
    train, valid, test = (clusters(n, 20, 3, s, separation=3.0) for n, s in ((30, 0), (300, 1), (300, 2)))
    as_float = [(x.float(), y) for x, y in (train, valid, test)]
    run_cfg = {**TINY, "scratch_steps": 60, "scratch_eval_every": 20}
    net, chosen = semisupervised.train_scratch(cfg, as_float[0], as_float[1], 3, run_cfg, seed=0)
    assert chosen["step"] in (20, 40, 60) and chosen["valid_errors"] < 15
    assert semisupervised.predict_errors(net, *as_float[2]) < 15
    again, chosen_again = semisupervised.train_scratch(cfg, as_float[0], as_float[1], 3, run_cfg, seed=0)
    assert chosen_again == chosen and all(torch.equal(a, b) for a, b in zip(net.parameters(), again.parameters()))


@pytest.fixture(scope="module")
def step_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A tiny model, a prepared file of its own images (3 classes) and the inference net's file."""
    tmp = tmp_path_factory.mktemp("semisup")
    model = tiny_model(tmp / "model.pt")
    data = tiny_dataset(tmp / "data.npz", model)
    args = ["infer", "--model", str(model), "--data", str(data), "--out-dir", str(tmp / "infer"), "--device", "cpu"]
    assert main([*args, *FAST_INFER]) == 0
    return model, data, tmp / "infer" / "encoder.pt"


def run_step(inputs: tuple[Path, Path, Path], out: Path, **overrides: object) -> int:
    model, data, encoder = inputs
    args = ["--model", str(model), "--encoder", str(encoder), "--data", str(data), "--out", str(out)]
    return main(["semi-supervised", *args, "--device", "cpu", "--config-json", json.dumps({**TINY, **overrides})])


def test_the_step_runs_every_method_on_the_same_subsets_deterministically(
    step_inputs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    assert run_step(step_inputs, tmp_path / "a.json") == 0
    result = read_json(tmp_path / "a.json")
    y = np.arange(120) % 3
    expected = {str(n): [semisupervised.subset_digest(i) for i in semisupervised.label_subsets(y, n, 3, 0, 3)]
                for n in (6, 30)}  # fmt: skip
    assert result["subset_digests"] == expected
    assert set(result["results"]) == set(semisupervised.METHODS) and result["n_test"] == 120
    for method, by_n in result["results"].items():
        assert set(by_n) == {"6", "30"}
        for r in by_n.values():
            errors = [run["test_errors"] for run in r["runs"]]
            assert len(errors) == 3 and all(0 <= e <= 120 for e in errors)
            assert r["mean"] == pytest.approx(np.mean(errors)) and r["sd"] == pytest.approx(np.std(errors, ddof=1))
            if method != "scratch":
                assert all(run["l2"] in TINY["l2_grid"] for run in r["runs"])
    assert result["summary"]["pixels_30"] == result["results"]["pixels"]["30"]["mean"]
    assert result["quoted"] is None  # the published figure is MNIST's
    assert run_step(step_inputs, tmp_path / "b.json") == 0
    assert read_json(tmp_path / "b.json")["results"] == result["results"]

    metrics = summary.summarize("tiny", {"semisupervised": [tmp_path / "a.json"]})
    assert metrics["semisupervised_d_gan_6"] == result["results"]["d_gan"]["6"]["mean"]
    assert metrics["semisupervised_scratch_30_sd"] == result["results"]["scratch"]["30"]["sd"]

    result["dataset"], result["quoted"] = (
        "mnist",
        semisupervised.dataclasses.asdict(semisupervised.paper.SEMI_SUPERVISED),
    )
    (tmp_path / "mnist.json").write_text(json.dumps(result))
    (tmp_path / "table1_extended.md").write_text("# Extended results\n")
    for _ in range(2):  # a rerun replaces the section it appended, instead of appending a second one
        for name, text in tables.semisupervised_texts([tmp_path / "mnist.json"], tmp_path).items():
            (tmp_path / name).write_text(text)
    extended = (tmp_path / "table1_extended.md").read_text()
    assert extended.startswith("# Extended results\n") and extended.count("## Semi-supervised") == 1
    frame = tables.semisupervised_frame([read_json(tmp_path / "mnist.json")])
    assert list(frame.columns) == ["Dataset", "Method", "6 labels", "30 labels", "100 labels"]
    assert len(frame) == len(semisupervised.METHODS) + 1 and frame.iloc[-1]["100 labels"] == "93 ± 6.5"
    assert "quoted, not measured" in frame.iloc[-1]["Method"]
    assert "out of 120 labelled test images" in (tmp_path / "semisupervised.md").read_text()
    pngs = figures.figure_semisupervised(tmp_path / "mnist.json", tmp_path / "figure")
    assert all(p.stat().st_size > 1000 for p in pngs)

    results = tmp_path / "results"
    (results / "runs/mnist/eval/s0").mkdir(parents=True)
    (tmp_path / "mnist.json").rename(results / "runs/mnist/eval/s0/semisupervised.json")
    html = report.semisupervised_html(results, {"toy1d": "a toy set: no images to classify"})
    assert "93 ± 6.5" in html and "raw pixels" in html and "toy1d: not run: a toy set" in html


def test_label_counts_the_data_cannot_give_are_refused_naming_the_parameter(
    step_inputs: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    for counts, message in (
        ([121], "has only 120 labelled training images"),
        ([2], "2 labels cannot cover the 3 classes"),
    ):
        assert run_step(step_inputs, tmp_path / "out.json", label_counts=counts) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("ganrepro semi-supervised: error: semisupervised.label_counts: ") and message in err
    y = np.array([0] * 50 + [1] * 5 + [2] * 50)
    with pytest.raises(
        UserError,
        match=r"semisupervised.label_counts: 30 labels need up to 10 images of each class, but class 1 .* has 5",
    ):
        semisupervised.check_label_counts([30], y, 3, "tiny")
    assert run_step(step_inputs, tmp_path / "out.json", l2_grid=[]) == 2
    assert "semisupervised.l2_grid" in capsys.readouterr().err
    conditional = tiny_model(tmp_path / "conditional.pt", n_classes=3)  # its D reads the class: no features
    assert run_step((conditional, *step_inputs[1:]), tmp_path / "out.json") == 2
    assert f"{conditional}: a conditional GAN (its D reads the class); give the unconditional model" in (
        capsys.readouterr().err
    )
    other = tmp_path / "other_encoder.pt"  # the inference net of a generator of 50-value examples
    save_encoder(other, InferenceNet(50, [8], 4), {"in_dim": 50, "hidden": [8], "z_dim": 4, "model": "other.pt"})
    assert run_step((step_inputs[0], step_inputs[1], other), tmp_path / "out.json") == 2
    assert f"{other}: an inference net of 50-value examples (for other.pt), but {step_inputs[0]} makes 36" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "out.json").exists()


def test_a_dataset_without_labels_records_why_and_runs_nothing(
    step_inputs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    model, data, encoder = step_inputs
    with np.load(data) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["y_train"] = np.full_like(arrays["y_train"], -1)
    save_npz(tmp_path / "unlabelled.npz", **arrays)
    assert run_step((model, tmp_path / "unlabelled.npz", encoder), tmp_path / "out.json") == 0
    assert read_json(tmp_path / "out.json") == {"dataset": "tiny", "not_run": "no labelled training images"}
    assert summary.summarize("tiny", {"semisupervised": [tmp_path / "out.json"]})["semisupervised_not_run"]
