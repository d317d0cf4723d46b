"""Figures: each command writes a non-empty PNG and PDF; Figure 2's neighbour column; ring metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ganrepro.cli import main
from ganrepro.data.toy import RING_MODES, RING_RADIUS, RING_STD, ring_centres
from ganrepro.evaluation.infer import save_encoder
from ganrepro.evaluation.parzen import evaluate
from ganrepro.evaluation.toy_metrics import ring_metrics
from ganrepro.io import read_json, save_npz, write_json
from ganrepro.models.artifacts import load_model
from ganrepro.models.networks import InferenceNet
from ganrepro.reporting import figures

from helpers import tiny_dataset, tiny_model, tiny_toy1d


def assert_written(prefix: Path) -> None:
    png, pdf = Path(f"{prefix}.png"), Path(f"{prefix}.pdf")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    assert not list(prefix.parent.glob(".*.tmp*")), "temporary files left behind"


def test_neighbour_of_an_exact_copy_is_that_training_image() -> None:
    rng = np.random.default_rng(1)
    train = rng.random((500, 36), dtype=np.float32)
    rows, cols = 3, 4
    samples = rng.random((rows * (cols - 1) + 5, 36), dtype=np.float32)
    copied = {0: 17, 2: 499}  # row -> training index copied into its last sample
    for row, k in copied.items():
        samples[row * (cols - 1) + cols - 2] = train[k]
    shown, idx = figures.neighbour_column(samples, train, rows, cols)
    assert len(shown) == rows * (cols - 1) and np.array_equal(shown, samples[: len(shown)])
    for row, k in copied.items():
        assert idx[row] == k
    brute = ((shown.reshape(rows, cols - 1, -1)[:, -1, None] - train[None]) ** 2).sum(-1).argmin(1)
    assert np.array_equal(idx, brute)


def test_image_grid_grayscale_and_colour() -> None:
    gray = figures.image_grid(np.zeros((5, 1, 4, 3)), cols=2)
    colour = figures.image_grid(np.zeros((5, 3, 4, 3)), cols=2)
    assert gray.shape == (3 * 5 - 1, 2 * 4 - 1)
    assert colour.shape == (3 * 5 - 1, 2 * 4 - 1, 3)


@pytest.mark.parametrize("shape", [(1, 6, 6), (3, 4, 4)], ids=["gray", "colour"])
def test_samples_interp_and_reconstruct_figures(tmp_path: Path, shape: tuple[int, ...]) -> None:
    model = tiny_model(tmp_path / "model.pt", shape)
    data = tiny_dataset(tmp_path / "data.npz", shape=shape)
    d = int(np.prod(shape))
    save_encoder(
        tmp_path / "encoder.pt", InferenceNet(d, [8], 4), {"in_dim": d, "hidden": [8], "z_dim": 4, "n_classes": 0}
    )
    out = tmp_path / "figs"
    commands = {
        "figure2": ["samples", "--model", model, "--data", data, "--rows", 3, "--cols", 4],
        "figure3": ["interp", "--model", model, "--rows", 2, "--steps", 5],
        "inference": [
            "reconstruct",
            "--model",
            model,
            "--encoder",
            tmp_path / "encoder.pt",
            "--data",
            data,
            "--rows",
            2,
            "--cols",
            3,
        ],
    }
    for name, args in commands.items():
        assert main(["figure", *map(str, args), "--out", str(out / name), "--device", "cpu"]) == 0
        assert_written(out / name)


def test_figure_on_vector_model_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tiny_model(tmp_path / "model.pt", (2,), kind="vector", g_output="linear")
    assert main(["figure", "interp", "--model", str(model), "--out", str(tmp_path / "f")]) == 2
    assert "needs an image model" in capsys.readouterr().err


def test_interpolation_of_a_conditional_model(tmp_path: Path) -> None:
    G, _, meta = load_model(tiny_model(tmp_path / "model.pt", n_classes=3), torch.device("cpu"))
    x = figures.interpolate(G, meta["config"], rows=2, steps=4, seed=0).reshape(2, 4, -1)
    assert not np.allclose(x[:, 0], x[:, -1])  # each row moves from G(z0) to G(z1)
    assert np.array_equal(x, figures.interpolate(G, meta["config"], rows=2, steps=4, seed=0).reshape(2, 4, -1))


def test_ring_metrics_and_figure(tmp_path: Path) -> None:
    centres = ring_centres(RING_MODES, RING_RADIUS)
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [centres[k] + 0.5 * RING_STD * rng.standard_normal((50, 2)) for k in range(6)]
        + [np.zeros((100, 2)), centres[6:7] + 0.01 * RING_STD]
    )  # 1 sample: below 1%
    metrics = ring_metrics(x, centres, RING_STD)
    assert metrics["modes_covered"] == 6 and metrics["per_mode_counts"] == [50] * 6 + [1, 0]
    assert metrics["high_quality_fraction"] == pytest.approx(301 / 401)

    data = tmp_path / "ring.npz"
    test = np.concatenate([centres] * 10).astype(np.float32)
    meta = {
        "dataset": "ring",
        "kind": "vector",
        "example_shape": [2],
        "unit_scale": 1,
        "source": {"generator": "ring", "modes": 8, "radius": RING_RADIUS, "std": RING_STD},
    }
    save_npz(data, meta=np.array(json.dumps(meta)), x_test=test, y_test=np.arange(80) % 8)
    save_npz(tmp_path / "samples.npz", x=x.astype(np.float32), z=np.zeros((len(x), 2)), labels=-np.ones(len(x)))
    assert (
        main(
            [
                "figure",
                "ring",
                "--samples",
                str(tmp_path / "samples.npz"),
                "--data",
                str(data),
                "--out",
                str(tmp_path / "ring_modes"),
                "--metrics-out",
                str(tmp_path / "modes.json"),
            ]
        )
        == 0
    )
    assert_written(tmp_path / "ring_modes")
    assert read_json(tmp_path / "modes.json")["modes_covered"] == 6


def test_toy1d_figure_on_a_tiny_model(tmp_path: Path) -> None:
    model, data = tiny_toy1d(tmp_path)
    out = tmp_path / "figure1_toy1d"
    assert (
        main(
            [
                "figure",
                "toy1d",
                "--model",
                str(model),
                "--data",
                str(data),
                "--out",
                str(out),
                "--d-steps",
                "20",
                "--g-steps",
                "5",
                "--joint-steps",
                "20",
                "--batch-size",
                "32",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert_written(out)


def test_curves_with_and_without_parzen(tmp_path: Path) -> None:
    logs, summaries = [], []
    for seed in (0, 1):
        run = tmp_path / "results" / "mnist" / f"s{seed}"
        run.mkdir(parents=True)
        steps = np.arange(1, 6) * 100
        rows = ["step,epoch,d_loss,g_loss,d_real,d_fake,lr,momentum,examples_per_s"]
        rows += [f"{s},{s / 100},{1.3 - s / 1e4},{0.7 + s / 1e4},0.6,0.4,0.1,0.5,1000" for s in steps]
        (run / "train_log.csv").write_text("\n".join(rows) + "\n")
        write_json(
            run / "train.json",
            {
                "seed": seed,
                "valid_history": [
                    {"epoch": e, "step": e * 100, "log_likelihood": 100.0 + e + seed, "sigma": 0.2} for e in (1, 3, 5)
                ],
            },
        )
        write_json(
            run / "parzen.json",
            {
                "dataset": "mnist",
                "seed": seed,
                "fold": None,
                "sigma": 0.2,
                "valid_scores": [{"sigma": s, "log_likelihood": 200 - 1000 * (s - 0.2) ** 2} for s in (0.1, 0.2, 0.4)],
            },
        )
        logs.append(str(run / "train_log.csv"))
        summaries.append(str(run / "train.json"))
    parzen = [str(Path(s).with_name("parzen.json")) for s in summaries]
    out = tmp_path / "figures"
    assert (
        main(
            [
                "figure",
                "curves",
                "--logs",
                *logs,
                "--summaries",
                *summaries,
                "--parzen",
                *parzen,
                "--out",
                str(out / "curves_mnist"),
            ]
        )
        == 0
    )
    assert_written(out / "curves_mnist")
    assert (
        main(
            [
                "figure",
                "curves",
                "--logs",
                *logs,
                "--summaries",
                *summaries,
                "--parzen",
                "--out",
                str(out / "curves_toy"),
            ]
        )
        == 0
    )
    assert_written(out / "curves_toy")
    titles = [
        "losses",
        "discriminator outputs (mean over the batch)",
        "Parzen sigma selection (star: chosen sigma)",
        "validation Parzen estimate during training",
    ]
    logs, summaries, parzen = ([Path(p) for p in paths] for paths in (logs, summaries, parzen))
    fig = figures.figure_curves(logs, summaries, parzen, out / "direct")
    assert [ax.get_title() for ax in fig.axes] == titles
    history = {tuple(line.get_ydata()) for line in fig.axes[3].get_lines()}
    assert history == {(101.0, 103.0, 105.0), (102.0, 104.0, 106.0)}  # each seed's validation_history
    without = figures.figure_curves(logs, summaries, [], out / "direct")
    assert [ax.get_title() for ax in without.axes] == titles[:2] + titles[3:]


def test_sigma_sweep_figure_marks_the_grid_and_measures_its_loss(tmp_path: Path) -> None:
    """The figure draws real `ganrepro parzen` results; the nats the grid loses are the best validation
    score found anywhere (sweep, fine grid) less the score at the grid's choice."""
    rng = np.random.default_rng(3)
    samples = rng.random((300, 12))
    valid = samples[rng.integers(0, 300, 200)] + 0.25 * rng.standard_normal((200, 12))
    files = []
    for model, seed, draw in (("gan", 0, samples), ("reference", None, samples[::-1] + 0.01)):
        result = evaluate(draw, valid, valid[:50], sweep_num=30, valid_limit=0)
        files.append(tmp_path / f"{model}.json")
        write_json(files[-1], {"dataset": "mnist", "model": model, "seed": seed, "fold": None, **result})
    write_json(
        tmp_path / "old.json",
        {
            "dataset": "mnist",
            "model": "kmeans",
            "seed": None,
            "fold": None,
            "sigma": 0.2,
            "fine": None,
            "valid_scores": [{"sigma": s, "log_likelihood": -((s - 0.25) ** 2)} for s in (0.1, 0.2, 0.4)],
        },
    )
    losses = figures.figure_sigma_sweep([*files, tmp_path / "old.json"], tmp_path / "sigma_sweep_mnist")
    assert_written(tmp_path / "sigma_sweep_mnist")
    for path, label in zip(files, ("GAN seed 0", "training images")):
        r = read_json(path)
        scores = [v["log_likelihood"] for v in r["valid_scores"] + r["fine"]["valid_scores"]]
        best = max(scores + r["sweep"]["valid_log_likelihoods"])
        chosen = next(v["log_likelihood"] for v in r["valid_scores"] if v["sigma"] == r["sigma"])
        assert losses[label] == pytest.approx(best - chosen) and losses[label] >= 0
    assert losses["k-means centres"] == 0.0  # a json without a sweep: its chosen 0.2 is its best point
    assert main(["figure", "sigma-sweep", "--parzen", *map(str, files), "--out", str(tmp_path / "cli")]) == 0
    assert_written(tmp_path / "cli")
