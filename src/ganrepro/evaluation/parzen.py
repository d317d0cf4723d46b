"""`ganrepro parzen` and `ganrepro kmeans`: the paper's Table 1 protocol (parzen_ll.py): sigma chosen on
validation data only from a grid, the mean test log-likelihood and its standard error, the reference
rows (training images, their k-means centres), a fine grid and a sweep beside the paper's grid.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganrepro import paper
from ganrepro.arrays import load_array, load_matrix
from ganrepro.config import step_params
from ganrepro.density import DEFAULT_BATCH, PRECISION, STANDARD_ERROR, KMeans, kmeans, parzen_log_density
from ganrepro.device import add_device_argument, resolve_device
from ganrepro.errors import UserError
from ganrepro.io import save_npz, write_json
from ganrepro.paper import paper_grid


@dataclass(frozen=True)
class SigmaChoice:
    """The sigma that maximises the mean validation log-likelihood, and the score of every sigma."""

    sigma: float
    valid_scores: list[dict[str, float]]


def _choose(sigmas: Sequence[float], scores: Sequence[float]) -> SigmaChoice:
    """The sigma of the best mean validation log-likelihood (the first on ties)."""
    best = int(np.argmax(scores))
    return SigmaChoice(
        float(sigmas[best]), [{"sigma": float(s), "log_likelihood": float(v)} for s, v in zip(sigmas, scores)]
    )


def select_sigma(
    samples: np.ndarray | Tensor,
    valid: np.ndarray | Tensor,
    sigmas: Sequence[float],
    *,
    batch_size: int = DEFAULT_BATCH,
    device: str | torch.device | None = None,
) -> SigmaChoice:
    """Score each sigma by the mean log-likelihood of `valid`; keep the best (first on ties)."""
    return _choose(sigmas, parzen_log_density(valid, samples, sigmas, batch_size=batch_size, device=device).mean(1))


def sweep_grid(grid: Sequence[float], num: int) -> list[float]:
    """`num` log-spaced sigmas from the grid's smallest to its largest (none for num 0): the curve
    that shows how much of a score the grid's coarseness decides."""
    if num == 0:
        return []
    return np.logspace(math.log10(min(grid)), math.log10(max(grid)), num).tolist()


def fine_grid(grid: Sequence[float], best: float, step: float) -> list[float]:
    """Multiples of `step` strictly between the grid neighbours of `best`, plus `best` itself.

    At an end of the grid the search stops at that end: it never leaves the grid's range.
    """
    ordered = sorted(grid)
    i = ordered.index(best)
    lo, hi = ordered[max(i - 1, 0)], ordered[min(i + 1, len(ordered) - 1)]
    k = np.arange(math.floor(lo / step), math.ceil(hi / step) + 1)
    inside = [float(v) for v in np.round(k * step, 12) if lo < v < hi]
    return sorted({*inside, float(best)})


def _test_scores(log_density: np.ndarray) -> tuple[float, float]:
    """Mean and standard error (std / sqrt(n)) of per-point log-likelihoods."""
    return float(log_density.mean()), float(log_density.std() / math.sqrt(len(log_density)))


def per_class_scores(log_density: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, float]] | None:
    """Mean log-likelihood and point count of the test points of each class (None without labels:
    every label -1). Shows where a model's deficit lies, e.g. which digits it renders poorly."""
    if (labels < 0).all():
        return None
    return {
        str(c): {"n": int((labels == c).sum()), "log_likelihood": float(log_density[labels == c].mean())}
        for c in np.unique(labels[labels >= 0])
    }


def evaluate(
    samples: np.ndarray | Tensor,
    valid: np.ndarray | Tensor,
    test: np.ndarray | Tensor,
    *,
    sigmas: Sequence[float] | None = None,
    valid_limit: int = paper.PARZEN_VALID_LIMIT,
    fine_step: float = 0.01,
    sweep_num: int = 0,
    batch_size: int = DEFAULT_BATCH,
    device: str | torch.device | None = None,
    test_labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """The paper's protocol: sigma chosen on the first `valid_limit` validation points (0 = all),
    test log-likelihood with its standard error; plus, unless `fine_step` is 0, a refinement of
    sigma on a `fine_step` grid between the chosen sigma's grid neighbours (validation only), and
    the validation log-likelihood at `sweep_num` log-spaced sigmas across the grid's range.
    With `test_labels`, also the mean per class at the protocol's sigma."""
    began = time.perf_counter()
    grid = [float(s) for s in (paper_grid() if sigmas is None else sigmas)]
    sweep = sweep_grid(grid, sweep_num)
    valid_used = valid[:valid_limit] if valid_limit else valid
    options = {"batch_size": batch_size, "device": device}
    # One pass over the validation distances serves the grid and the sweep.
    scores = parzen_log_density(valid_used, samples, grid + sweep, **options).mean(1)
    coarse = _choose(grid, scores[: len(grid)])
    fine = select_sigma(samples, valid_used, fine_grid(grid, coarse.sigma, fine_step), **options) if fine_step else None
    chosen = [coarse.sigma] + ([fine.sigma] if fine else [])
    test_ll = parzen_log_density(test, samples, chosen, **options)
    mean, se = _test_scores(test_ll[0])
    result: dict[str, Any] = {
        "log_likelihood": mean,
        "standard_error": se,
        "sigma": coarse.sigma,
        "valid_scores": coarse.valid_scores,
        "fine": None,
        "sweep": {"sigmas": sweep, "valid_log_likelihoods": scores[len(grid) :].tolist()} if sweep else None,
        "per_class": None if test_labels is None else per_class_scores(test_ll[0], test_labels),
        "n_samples": len(samples),
        "n_test": len(test),
        "n_valid_used": len(valid_used),
        "d": int(np.prod(samples.shape[1:])),
        "sigma_grid": grid,
        "valid_limit": valid_limit,
        "fine_step": fine_step,
        "sweep_num": sweep_num,
        "precision": PRECISION,
        "standard_error_definition": STANDARD_ERROR,
        "batch_size": batch_size,
    }
    if fine:
        f_mean, f_se = _test_scores(test_ll[1])
        result["fine"] = {
            "sigma": fine.sigma,
            "log_likelihood": f_mean,
            "standard_error": f_se,
            "valid_scores": fine.valid_scores,
        }
    result["elapsed_seconds"] = time.perf_counter() - began
    return result


def _load_inputs(args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Samples, valid and test matrices (and the test labels if named); a clear error names the file
    that does not fit."""
    arrays = {name: load_matrix(getattr(args, name)) for name in ("samples", "valid", "test")}
    more = {f"more_samples[{i}]": spec for i, spec in enumerate(args.more_samples)}
    arrays.update({name: load_matrix(spec) for name, spec in more.items()})
    if args.test_labels:
        arrays["test_labels"] = load_array(args.test_labels).reshape(-1).astype(np.int64)
    limits = {
        "samples": args.samples_limit,
        **dict.fromkeys(more, args.samples_limit),
        "test": args.test_limit,
        "test_labels": args.test_limit,
    }
    for name, limit in limits.items():
        if limit and name in arrays:
            arrays[name] = arrays[name][:limit]
    if "test_labels" in arrays and len(arrays["test_labels"]) != len(arrays["test"]):
        raise UserError(
            f"{args.test_labels} (--test-labels) holds {len(arrays['test_labels'])} labels for "
            f"{len(arrays['test'])} test rows of {args.test}: name the labels of the same split"
        )
    d = arrays["samples"].shape[1]
    specs = {"samples": args.samples, "valid": args.valid, "test": args.test, **more}
    for name, spec in specs.items():
        x, option = arrays[name], "--" + name.split("[")[0].replace("_", "-")
        if len(x) == 0:
            raise UserError(f"{spec} ({option}) holds no rows")
        if x.shape[1] != d:
            raise UserError(
                f"{spec} ({option}) has {x.shape[1]} values per row; "
                f"{args.samples} (--samples) has {d}: they must come from the same dataset"
            )
        if not np.isfinite(x).all():
            raise UserError(f"{spec} ({option}) contains NaN or infinite values (a diverged generator?)")
    return arrays


def _grid_from_args(args: argparse.Namespace) -> tuple[list[float], str]:
    """The sigma grid and how it was given (explicit --sigmas, or a log-spaced grid whose missing
    ends and size come from params.yaml's parzen section)."""
    spec = {
        "sigma_min_log10": args.sigma_min_log10,
        "sigma_max_log10": args.sigma_max_log10,
        "sigma_num": args.sigma_num,
    }
    if args.sigmas is not None:
        if any(v is not None for v in spec.values()):
            raise UserError("give either --sigmas or --sigma-min-log10/--sigma-max-log10/--sigma-num, not both")
        if any(s <= 0 for s in args.sigmas):
            raise UserError(f"--sigmas must be positive, got {args.sigmas}")
        return list(args.sigmas), "explicit"
    values = step_params("parzen", spec)
    lo, hi, num = (values[k] for k in spec)
    return paper_grid(lo, hi, num), f"logspace({lo}, {hi}, {num})"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The `ganrepro parzen` step: evaluate and write the json."""
    given = {k: getattr(args, k) for k in ("valid_limit", "test_limit", "fine_step", "sweep_num")}
    vars(args).update((k, v) for k, v in step_params("parzen", given).items() if k in given)
    if args.samples_limit < 0 or args.batch_size < 1:
        raise UserError("--samples-limit must be >= 0 and --batch-size >= 1")
    grid, grid_spec = _grid_from_args(args)
    arrays = _load_inputs(args)
    device = resolve_device(args.device)
    options = {
        "sigmas": grid,
        "valid_limit": args.valid_limit,
        "fine_step": args.fine_step,
        "sweep_num": args.sweep_num,
        "batch_size": args.batch_size,
        "device": device,
    }
    result = evaluate(
        arrays["samples"], arrays["valid"], arrays["test"], test_labels=arrays.get("test_labels"), **options
    )
    meta = {
        "dataset": args.dataset,
        "model": args.model,
        "seed": args.seed,
        "fold": args.fold,
        "label": args.label,
        "samples": args.samples,
        "valid": args.valid,
        "test": args.test,
        "test_labels": args.test_labels,
    }
    out = {**meta, **result, "sigma_grid_spec": grid_spec, "device": str(device)}
    if args.more_samples:
        more = [
            evaluate(arrays[f"more_samples[{i}]"], arrays["valid"], arrays["test"], **options)
            for i in range(len(args.more_samples))
        ]
        out["draws"] = draw_summary([args.samples, *args.more_samples], [result, *more])
    write_json(args.out, out)
    fine, draws = out["fine"], out.get("draws")
    print(
        f"parzen: {out['log_likelihood']:.2f} ± {out['standard_error']:.2f} (sigma {out['sigma']:.4g})"
        + (
            f"; fine grid {fine['log_likelihood']:.2f} ± {fine['standard_error']:.2f} (sigma {fine['sigma']:.4g})"
            if fine
            else ""
        )
        + (f"; {draws['n']} sample draws: mean {draws['mean']:.2f}, SD {draws['sd']:.2f}" if draws else "")
        + f" -> {args.out}",
        file=sys.stderr,
    )
    return out


def draw_summary(samples: list[str], results: list[dict[str, Any]]) -> dict[str, Any]:
    """The protocol's scores for several draws of samples from one model (each draw choosing its own
    sigma): their mean and standard deviation, the spread that one draw's standard error leaves out."""
    scores = [r["log_likelihood"] for r in results]
    fine = [r["fine"]["log_likelihood"] for r in results if r["fine"]]
    return {
        "n": len(scores),
        "samples": samples,
        "log_likelihoods": scores,
        "sigmas": [r["sigma"] for r in results],
        "mean": statistics.fmean(scores),
        "sd": statistics.stdev(scores),
        "fine_log_likelihoods": fine,
        "fine_mean": statistics.fmean(fine) if fine else None,
        "fine_sd": statistics.stdev(fine) if fine else None,
    }


def kmeans_run(args: argparse.Namespace) -> KMeans:
    """The `ganrepro kmeans` step: centres of the rows of --data, written as OUT.npz's `x` (float32)
    beside `counts`, `inertia` and `changed` (the trace of the rounds)."""
    args.iters = step_params("parzen", {"kmeans_iters": args.iters})["kmeans_iters"]
    if min(args.k, args.iters, args.batch_size) < 1:
        raise UserError(f"--k, --iters and --batch-size must be >= 1; got {args.k}, {args.iters}, {args.batch_size}")
    x = load_matrix(args.data)
    if not np.isfinite(x).all():
        raise UserError(f"{args.data} (--data) contains NaN or infinite values")
    # Fewer rows than centres: every row is a centre, as the training-images row takes them all.
    k = min(args.k, len(x))
    result = kmeans(
        x, k, iters=args.iters, seed=args.seed, batch_size=args.batch_size, device=resolve_device(args.device)
    )
    save_npz(
        args.out,
        x=result.centres,
        counts=np.asarray(result.counts),
        inertia=np.asarray(result.inertia),
        changed=np.asarray(result.changed),
    )
    empty = sum(c == 0 for c in result.counts)
    print(
        f"kmeans: {k} centres of {len(x)} rows in {len(result.inertia)} rounds, {result.seconds:.0f} s; "
        f"mean squared distance {result.inertia[0]:.2f} -> {result.inertia[-1]:.2f}, "
        f"{result.changed[-1]} rows moved in the last round, {empty} centres without rows -> {args.out}",
        file=sys.stderr,
    )
    return result


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    k = subparsers.add_parser("kmeans", help="k-means centres of a data set (Parzen reference row, Theis et al. 2016)")
    k.add_argument("--data", required=True, help="rows to cluster: file.npy, file.npz or file.npz:KEY")
    k.add_argument(
        "--k",
        type=int,
        required=True,
        help="number of centres (the reference row: as many as samples); at most the rows of --data",
    )
    k.add_argument("--iters", type=int, help="rounds of Lloyd's algorithm at most (default: parzen.kmeans_iters)")
    k.add_argument("--seed", type=int, default=0, help="seed of the random first centres")
    k.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="rows per distance chunk (memory bound)")
    add_device_argument(k)
    k.add_argument("--out", type=Path, required=True, help="output .npz: x (the centres), counts, inertia, changed")
    k.set_defaults(func=kmeans_run)
    p = subparsers.add_parser("parzen", help="Parzen window log-likelihood of test data (Table 1 protocol)")
    p.add_argument("--samples", required=True, help="model samples: file.npy, file.npz or file.npz:KEY")
    p.add_argument("--valid", required=True, help="validation data used to choose sigma")
    p.add_argument(
        "--more-samples",
        nargs="+",
        default=[],
        metavar="SAMPLES",
        help="further draws of samples from the same model, each scored by the same protocol: "
        "the json gains `draws` (their scores, mean and standard deviation)",
    )
    p.add_argument("--test", required=True, help="test data scored at the chosen sigma")
    p.add_argument("--test-labels", help="class labels of the test rows (e.g. file.npz:y_test): adds per-class means")
    p.add_argument("--out", type=Path, required=True, help="output json")
    p.add_argument("--sigmas", type=float, nargs="+", help="explicit sigma grid (instead of the logspace grid)")
    p.add_argument("--sigma-min-log10", type=float, help="grid start, log10 (default: parzen.sigma_min_log10)")
    p.add_argument("--sigma-max-log10", type=float, help="grid end, log10 (default: parzen.sigma_max_log10)")
    p.add_argument("--sigma-num", type=int, help="grid size (default: parzen.sigma_num)")
    p.add_argument(
        "--valid-limit",
        type=int,
        help="use the first N validation rows to choose sigma; 0 = all (default: parzen.valid_limit)",
    )
    p.add_argument(
        "--samples-limit",
        type=int,
        default=0,
        help="use the first N sample rows; 0 = all (reference rows: as many training images as samples)",
    )
    p.add_argument(
        "--test-limit", type=int, help="score the first N test rows; 0 = all, the paper (default: parzen.test_limit)"
    )
    p.add_argument(
        "--fine-step",
        type=float,
        help="step of the fine sigma search between the best sigma's grid neighbours; 0 = off "
        "(default: parzen.fine_step)",
    )
    p.add_argument(
        "--sweep-num",
        type=int,
        help="also score N log-spaced sigmas across the grid's range on the validation points "
        "(the json's `sweep`, for the sigma-sweep figure); 0 = off (default: parzen.sweep_num)",
    )
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="points per distance chunk (memory bound)")
    add_device_argument(p)
    p.add_argument("--dataset", help="metadata stored in the json (Table 1 groups by it)")
    p.add_argument("--model", default="gan", help="metadata: gan, reference, kmeans, ... (one Table 1 row each)")
    p.add_argument("--seed", type=int, help="metadata: training seed")
    p.add_argument("--fold", type=int, help="metadata: data fold (TFD)")
    p.add_argument("--label", help="metadata: row label shown in Table 1")
    p.set_defaults(func=run)
