"""Parzen window: exactness against a float64 reference, sigma selection and sweep, k-means, the CLI steps."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import yaml

from ganrepro.cli import main
from ganrepro.density import kmeans, nearest_indices, parzen_log_density, squared_distances
from ganrepro.evaluation.parzen import evaluate, fine_grid, paper_grid, select_sigma

from helpers import REPO_ROOT

SIGMAS = np.logspace(-1, 0, 10)


def reference_log_density(points: np.ndarray, samples: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """The formula in float64, straight from the differences: (n_sigmas, n_points)."""
    s = samples.astype(np.float64)
    d2 = np.stack([((x - s) ** 2).sum(1) for x in points.astype(np.float64)])
    out = []
    for sigma in sigmas:
        e = -d2 / (2 * sigma**2)
        top = e.max(1)
        out.append(top + np.log(np.exp(e - top[:, None]).mean(1)) - s.shape[1] * np.log(sigma * np.sqrt(2 * np.pi)))
    return np.array(out)


def image_like(rng: np.random.Generator, n: int, d: int = 784) -> np.ndarray:
    """Mostly-zero rows with a few bright 8-bit pixels, like MNIST."""
    x = (rng.integers(0, 256, (n, d)) * (rng.random((n, d)) < 0.2)).astype(np.float32) / 255
    return x


@pytest.mark.parametrize("kind", ["uniform", "image_like"])
def test_agrees_with_float64_reference(kind: str) -> None:
    rng = np.random.default_rng(0)
    make = (lambda n: rng.random((n, 784), dtype=np.float32)) if kind == "uniform" else (lambda n: image_like(rng, n))
    samples, points = make(2000), make(500)
    got = parzen_log_density(points, samples, SIGMAS, batch_size=128)
    want = reference_log_density(points, samples, SIGMAS)
    assert got.shape == (10, 500) and got.dtype == np.float64
    assert np.abs(got - want).max() < 1e-3  # measured 3.3e-4 (uniform), at sigma 0.1


def test_torch_input_and_single_chunk_match_numpy_chunks() -> None:
    rng = np.random.default_rng(1)
    samples, points = rng.random((300, 50), dtype=np.float32), rng.random((70, 50), dtype=np.float32)
    a = parzen_log_density(points, samples, [0.2, 0.5], batch_size=16)
    b = parzen_log_density(torch.from_numpy(points), torch.from_numpy(samples), [0.2, 0.5], batch_size=1000)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_single_sample_closed_form() -> None:
    rng = np.random.default_rng(2)
    d, sigma = 784, 0.3
    s, x = rng.random(d), rng.random((5, d))
    want = -((x - s) ** 2).sum(1) / (2 * sigma**2) - d * math.log(sigma * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(parzen_log_density(x, s[None], [sigma])[0], want, atol=1e-3)
    # n identical samples: the mean of n equal kernels is one kernel
    np.testing.assert_allclose(parzen_log_density(x, np.tile(s, (50, 1)), [sigma])[0], want, atol=1e-3)


def test_squared_distances_and_nearest_indices() -> None:
    rng = np.random.default_rng(3)
    ref = rng.random((3000, 784), dtype=np.float32)
    q = rng.random((40, 784), dtype=np.float32)
    want = ((q[:, None, :].astype(np.float64) - ref[None, :100]) ** 2).sum(2)
    got = squared_distances(torch.from_numpy(q), torch.from_numpy(ref[:100])).double().numpy()
    np.testing.assert_allclose(got, want, atol=1e-3)
    idx = np.array([0, 2999, 17, 17, 1500])
    assert nearest_indices(ref[idx], ref, batch_size=2).tolist() == idx.tolist()
    q64, ref64 = q.astype(np.float64), ref.astype(np.float64)
    full = (q64**2).sum(1)[:, None] + (ref64**2).sum(1) - 2 * q64 @ ref64.T
    assert nearest_indices(torch.from_numpy(q), ref).tolist() == full.argmin(1).tolist()


def noisy_copies(rng: np.random.Generator, samples: np.ndarray, n: int, noise: float) -> np.ndarray:
    return samples[rng.integers(0, len(samples), n)] + noise * rng.standard_normal((n, samples.shape[1]))


def test_select_sigma_picks_the_best_validation_score() -> None:
    rng = np.random.default_rng(4)
    samples = rng.random((400, 10))
    valid = noisy_copies(rng, samples, 200, 0.2)
    choice = select_sigma(samples, valid, SIGMAS.tolist())
    want = reference_log_density(valid, samples, SIGMAS).mean(1)
    assert choice.sigma == SIGMAS[np.argmax(want)]
    assert 0 < np.argmax(want) < 9  # an interior optimum
    np.testing.assert_allclose([v["log_likelihood"] for v in choice.valid_scores], want, atol=1e-4)


def test_fine_grid_stays_between_the_neighbours() -> None:
    grid = paper_grid()
    fine = fine_grid(grid, grid[3], 0.01)  # 0.2154, neighbours 0.1668 and 0.2783
    assert fine[0] == 0.17 and fine[-1] == 0.27 and grid[3] in fine
    assert all(grid[2] < f < grid[4] for f in fine)
    assert fine_grid(grid, grid[0], 0.01)[0] == grid[0]  # never leaves the grid at its ends
    assert fine_grid(grid, grid[-1], 0.05) == [0.8, 0.85, 0.9, 0.95, 1.0]


def test_fine_search_uses_validation_only() -> None:
    rng = np.random.default_rng(5)
    samples = rng.random((400, 10))
    valid = noisy_copies(rng, samples, 300, 0.2)
    test = noisy_copies(rng, samples, 300, 0.5)  # would prefer a larger sigma
    other_test = noisy_copies(rng, samples, 300, 0.05)
    result = evaluate(samples, valid, test, fine_step=0.01)
    grid = result["sigma_grid"]
    fine = fine_grid(grid, result["sigma"], 0.01)
    valid_ll = reference_log_density(valid, samples, np.array(fine)).mean(1)
    test_ll = reference_log_density(test, samples, np.array(fine)).mean(1)
    assert result["fine"]["sigma"] == fine[np.argmax(valid_ll)]
    assert fine[np.argmax(test_ll)] != result["fine"]["sigma"]
    i = grid.index(result["sigma"])
    assert grid[i - 1] < result["fine"]["sigma"] < grid[i + 1]
    assert [v["sigma"] for v in result["fine"]["valid_scores"]] == fine
    again = evaluate(samples, valid, other_test, fine_step=0.01)
    assert (again["sigma"], again["fine"]["sigma"]) == (result["sigma"], result["fine"]["sigma"])


def write_split(tmp_path, rng) -> dict[str, str]:
    """Small uint8 image files in the three formats load_matrix reads."""
    samples = rng.integers(0, 256, (300, 8, 8), dtype=np.uint8)
    valid = np.clip(samples[:150].astype(int) + rng.integers(-40, 40, (150, 8, 8)), 0, 255).astype(np.uint8)
    test = np.clip(samples[150:].astype(int) + rng.integers(-40, 40, (150, 8, 8)), 0, 255).astype(np.uint8)
    np.save(tmp_path / "samples.npy", samples)
    np.savez(tmp_path / "valid.npz", x=valid)
    np.savez(tmp_path / "data.npz", x_valid=valid, x_test=test)
    return {
        "samples": str(tmp_path / "samples.npy"),
        "valid": str(tmp_path / "valid.npz"),
        "test": f"{tmp_path / 'data.npz'}:x_test",
    }


def test_cli_writes_every_field(tmp_path) -> None:
    rng = np.random.default_rng(6)
    files = write_split(tmp_path, rng)
    out = tmp_path / "out" / "parzen.json"
    argv = [
        "parzen",
        "--samples",
        files["samples"],
        "--valid",
        files["valid"],
        "--test",
        files["test"],
        "--out",
        str(out),
        "--valid-limit",
        "100",
        "--device",
        "cpu",
        "--dataset",
        "mnist",
        "--seed",
        "3",
        "--model",
        "gan",
        "--label",
        "GAN run A",
    ]
    assert main(argv) == 0
    r = json.loads(out.read_text())
    for key in (
        "log_likelihood",
        "standard_error",
        "sigma",
        "valid_scores",
        "fine",
        "n_samples",
        "n_test",
        "n_valid_used",
        "d",
        "elapsed_seconds",
        "sigma_grid",
        "sigma_grid_spec",
        "valid_limit",
        "fine_step",
        "precision",
        "standard_error_definition",
        "batch_size",
        "device",
        "dataset",
        "seed",
        "fold",
        "model",
        "label",
        "samples",
        "valid",
        "test",
    ):
        assert key in r, key
    assert (r["n_samples"], r["n_test"], r["n_valid_used"], r["d"]) == (300, 150, 100, 64)
    assert (r["dataset"], r["seed"], r["fold"], r["model"], r["label"]) == ("mnist", 3, None, "gan", "GAN run A")
    assert r["sigma_grid"] == pytest.approx(paper_grid()) and len(r["valid_scores"]) == 10
    assert r["sigma"] == max(r["valid_scores"], key=lambda v: v["log_likelihood"])["sigma"]
    assert set(r["fine"]) == {"sigma", "log_likelihood", "standard_error", "valid_scores"}
    samples = np.load(files["samples"]).reshape(300, -1) / 255.0
    test = np.load(tmp_path / "data.npz")["x_test"].reshape(150, -1) / 255.0
    per_point = reference_log_density(test, samples, np.array([r["sigma"]]))[0]
    assert r["log_likelihood"] == pytest.approx(per_point.mean(), abs=1e-4)
    assert r["standard_error"] == pytest.approx(per_point.std() / math.sqrt(150), rel=1e-4)


def test_cli_explicit_sigmas_no_fine_and_errors(tmp_path, capsys) -> None:
    files = write_split(tmp_path, np.random.default_rng(7))
    out = tmp_path / "p.json"
    base = [
        "parzen",
        "--samples",
        files["samples"],
        "--valid",
        files["valid"],
        "--test",
        files["test"],
        "--out",
        str(out),
    ]
    assert main(base + ["--sigmas", "0.1", "0.2", "--fine-step", "0", "--valid-limit", "0"]) == 0
    r = json.loads(out.read_text())
    assert r["fine"] is None and r["sigma_grid"] == [0.1, 0.2] and r["sigma_grid_spec"] == "explicit"
    assert r["n_valid_used"] == 150 and r["valid_limit"] == 0
    np.save(tmp_path / "wide.npy", np.zeros((10, 65), dtype=np.float32))
    assert main(base[:-2] + ["--out", str(tmp_path / "bad.json"), "--test", str(tmp_path / "wide.npy")]) == 2
    assert "65 values per row" in capsys.readouterr().err
    assert main(base + ["--sigmas", "0.1", "--sigma-num", "5"]) == 2
    assert (
        "give either --sigmas or --sigma-min-log10/--sigma-max-log10/--sigma-num, not both" in capsys.readouterr().err
    )
    samples = np.load(files["samples"]).reshape(300, -1) / np.float32(255)
    samples[3, 5] = np.nan
    for name, bad, message in (
        ("nan.npy", samples, "contains NaN or infinite"),
        ("empty.npy", samples[:0], "holds no rows"),
    ):
        np.save(tmp_path / name, bad)
        args = ["parzen", "--samples", str(tmp_path / name), *base[3:-1], str(tmp_path / "bad.json")]
        assert main(args) == 2
        assert f"{tmp_path / name} (--samples) {message}" in capsys.readouterr().err
    assert not (tmp_path / "bad.json").exists()


def test_cli_per_class_means_against_reference(tmp_path, capsys) -> None:
    rng = np.random.default_rng(8)
    files = write_split(tmp_path, rng)
    labels = rng.integers(0, 3, 150)
    np.savez(tmp_path / "labels.npz", y_test=labels, y_none=np.full(150, -1), y_short=labels[:100])
    out = tmp_path / "p.json"
    base = [
        "parzen",
        "--samples",
        files["samples"],
        "--valid",
        files["valid"],
        "--test",
        files["test"],
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    assert main(base + ["--test-labels", f"{tmp_path / 'labels.npz'}:y_test", "--test-limit", "120"]) == 0
    r = json.loads(out.read_text())
    samples = np.load(files["samples"]).reshape(300, -1) / 255.0
    test = np.load(tmp_path / "data.npz")["x_test"].reshape(150, -1)[:120] / 255.0
    per_point = reference_log_density(test, samples, np.array([r["sigma"]]))[0]
    assert set(r["per_class"]) == {"0", "1", "2"}
    for c in range(3):
        rows = labels[:120] == c
        assert r["per_class"][str(c)]["n"] == rows.sum()
        assert r["per_class"][str(c)]["log_likelihood"] == pytest.approx(per_point[rows].mean(), abs=1e-4)
    assert main(base + ["--test-labels", f"{tmp_path / 'labels.npz'}:y_none"]) == 0
    assert json.loads(out.read_text())["per_class"] is None
    assert main(base + ["--test-labels", f"{tmp_path / 'labels.npz'}:y_short"]) == 2
    assert "holds 100 labels for 150 test rows" in capsys.readouterr().err


def test_cli_more_sample_draws_give_each_draws_own_protocol_and_their_spread(tmp_path, capsys) -> None:
    """Each further draw is scored as if it were the only one (its own sigma); `draws` holds the
    scores of all draws, the first being the json's own, with their mean and SD."""
    rng = np.random.default_rng(9)
    files = write_split(tmp_path, rng)
    for k in (1, 2):
        np.save(tmp_path / f"draw{k}.npy", rng.integers(0, 256, (300, 8, 8), dtype=np.uint8))
    base = ["parzen", "--valid", files["valid"], "--test", files["test"], "--valid-limit", "100", "--device", "cpu"]
    singles = []
    for samples in (files["samples"], str(tmp_path / "draw1.npy"), str(tmp_path / "draw2.npy")):
        assert main(base + ["--samples", samples, "--out", str(tmp_path / "single.json")]) == 0
        singles.append(json.loads((tmp_path / "single.json").read_text()))
    out = tmp_path / "p.json"
    assert (
        main(
            base
            + [
                "--samples",
                files["samples"],
                "--more-samples",
                str(tmp_path / "draw1.npy"),
                str(tmp_path / "draw2.npy"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    r = json.loads(out.read_text())
    draws = r["draws"]
    assert r["log_likelihood"] == singles[0]["log_likelihood"]
    assert draws["n"] == 3 and draws["log_likelihoods"] == [s["log_likelihood"] for s in singles]
    assert draws["sigmas"] == [s["sigma"] for s in singles]
    assert draws["fine_log_likelihoods"] == [s["fine"]["log_likelihood"] for s in singles]
    scores = np.array(draws["log_likelihoods"])
    assert draws["mean"] == pytest.approx(scores.mean()) and draws["sd"] == pytest.approx(scores.std(ddof=1))
    assert len(set(draws["log_likelihoods"])) == 3  # different samples, different scores
    assert "3 sample draws: mean" in capsys.readouterr().err
    np.save(tmp_path / "narrow.npy", np.zeros((10, 63), dtype=np.float32))
    assert (
        main(
            base
            + [
                "--samples",
                files["samples"],
                "--more-samples",
                str(tmp_path / "narrow.npy"),
                "--out",
                str(tmp_path / "bad.json"),
            ]
        )
        == 2
    )
    assert "narrow.npy (--more-samples) has 63 values per row" in capsys.readouterr().err
    assert not (tmp_path / "bad.json").exists()


def test_sweep_scores_log_spaced_sigmas_on_validation_and_leaves_the_protocol_unchanged() -> None:
    rng = np.random.default_rng(10)
    samples = rng.random((400, 10))
    valid, test = noisy_copies(rng, samples, 300, 0.2), noisy_copies(rng, samples, 100, 0.2)
    result = evaluate(samples, valid, test, sweep_num=25, valid_limit=200)
    sweep = result["sweep"]
    assert sweep["sigmas"] == pytest.approx(np.logspace(-1, 0, 25).tolist()) and result["sweep_num"] == 25
    want = reference_log_density(valid[:200], samples, np.array(sweep["sigmas"])).mean(1)
    np.testing.assert_allclose(sweep["valid_log_likelihoods"], want, atol=1e-4)
    plain = evaluate(samples, valid, test, valid_limit=200)
    assert plain["sweep"] is None
    for key in ("log_likelihood", "standard_error", "sigma", "valid_scores", "fine"):
        assert result[key] == plain[key], key


def lloyd_reference(x: np.ndarray, first: np.ndarray, iters: int) -> tuple[np.ndarray, list[float], list[int]]:
    """Lloyd's algorithm in float64 from the given first centres: centres, inertia and moves per round."""
    centres, assigned = first.astype(np.float64), np.full(len(x), -1)
    inertia, changed = [], []
    for _ in range(iters):
        d2 = ((x[:, None, :] - centres[None]) ** 2).sum(2)
        nearest = d2.argmin(1)
        inertia.append(d2.min(1).mean())
        changed.append(int((nearest != assigned).sum()))
        assigned = nearest
        if not changed[-1]:
            break
        for c in range(len(centres)):
            if (assigned == c).any():
                centres[c] = x[assigned == c].mean(0)
    return centres, inertia, changed


def test_kmeans_agrees_with_a_float64_lloyd() -> None:
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.normal(m, 0.3, (100, 6)) for m in (0.0, 1.0, 2.5)]).astype(np.float32)
    k, seed = 9, 4
    result = kmeans(x, k, iters=8, seed=seed, batch_size=64)
    first = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:k].numpy()]
    centres, inertia, changed = lloyd_reference(x.astype(np.float64), first, 8)
    np.testing.assert_allclose(result.centres, centres, atol=1e-5)
    np.testing.assert_allclose(result.inertia, inertia, rtol=1e-5)
    assert result.changed == changed and changed[0] == len(x) and len(changed) > 2
    assert sum(result.counts) == len(x) and result.centres.dtype == np.float32
    assert np.all(np.diff(result.inertia) <= 1e-6)  # Lloyd never increases the mean squared distance
    again = kmeans(x, k, iters=8, seed=seed, batch_size=1000)
    np.testing.assert_array_equal(again.centres, result.centres)
    with pytest.raises(ValueError):
        kmeans(x, len(x) + 1, iters=1, seed=0)


def test_kmeans_cli_then_parzen_on_the_centres(tmp_path, capsys) -> None:
    rng = np.random.default_rng(12)
    files = write_split(tmp_path, rng)
    np.savez(tmp_path / "train.npz", x_train=rng.integers(0, 256, (500, 8, 8), dtype=np.uint8))
    out = tmp_path / "centres.npz"
    argv = [
        "kmeans",
        "--data",
        f"{tmp_path / 'train.npz'}:x_train",
        "--k",
        "40",
        "--iters",
        "5",
        "--seed",
        "3",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    with np.load(out) as saved:
        centres, counts, inertia = saved["x"], saved["counts"], saved["inertia"]
    direct = kmeans(np.load(tmp_path / "train.npz")["x_train"].reshape(500, -1) / 255.0, 40, iters=5, seed=3)
    np.testing.assert_allclose(centres, direct.centres, atol=1e-5)
    assert centres.shape == (40, 64) and counts.sum() == 500 and len(inertia) == len(direct.inertia)
    assert "40 centres of 500 rows" in capsys.readouterr().err
    assert (
        main(
            [
                "parzen",
                "--samples",
                f"{out}:x",
                "--valid",
                files["valid"],
                "--test",
                files["test"],
                "--model",
                "kmeans",
                "--out",
                str(tmp_path / "kmeans_parzen.json"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    r = json.loads((tmp_path / "kmeans_parzen.json").read_text())
    assert (r["model"], r["n_samples"]) == ("kmeans", 40)
    assert main(argv[:4] + ["501"] + argv[5:]) == 0  # more centres than rows: every row is a centre
    with np.load(out) as saved:
        assert saved["x"].shape == (500, 64) and saved["counts"].tolist() == [1] * 500
    assert main(argv[:4] + ["0"] + argv[5:]) == 2
    assert "--k, --iters and --batch-size must be >= 1" in capsys.readouterr().err


def test_cli_defaults_come_from_params_yaml_and_the_command_line_wins(tmp_path, monkeypatch, capsys) -> None:
    """Grid, limits, fine step and sweep not given on the command line are params.yaml's parzen values."""
    files = write_split(tmp_path, np.random.default_rng(10))
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["parzen"].update(sigma_min_log10=-0.5, sigma_num=4, valid_limit=50, test_limit=120, fine_step=0, sweep_num=3)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "p.json"
    base = ["parzen", "--samples", files["samples"], "--valid", files["valid"], "--test", files["test"]]
    assert main([*base, "--out", str(out), "--device", "cpu"]) == 0
    r = json.loads(out.read_text())
    assert (
        r["sigma_grid"] == pytest.approx(paper_grid(-0.5, 0.0, 4)) and r["sigma_grid_spec"] == "logspace(-0.5, 0.0, 4)"
    )
    assert (r["n_valid_used"], r["n_test"], r["fine"], len(r["sweep"]["sigmas"])) == (50, 120, None, 3)
    assert main([*base, "--out", str(out), "--device", "cpu", "--sigma-num", "2", "--valid-limit", "0"]) == 0
    r = json.loads(out.read_text())
    assert len(r["sigma_grid"]) == 2 and r["n_valid_used"] == 150
    assert main([*base, "--out", str(out), "--test-limit", "-1"]) == 2
    assert "parzen.test_limit = -1: must be >= 0 (set in the command line)" in capsys.readouterr().err
