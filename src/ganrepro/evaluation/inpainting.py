"""Scores of the inpainting GAN (models.inpainting) and its two commands: `ganrepro inpaint-train`
(training with validation checks, which need the dataset's classifier) and `ganrepro inpaint-eval`.

Per mask kind, on images x with masks m and k completions: the masked-region MSE (mean over the
missing pixels of an image, then over images) of the mean completion and of the best of the k; the
classifier's accuracy on the completions (mean over the k) against its accuracy on the image filled
with the training mean image; the diversity (pixel SD over the k completions, mean over the missing
pixels). Baselines: mean fill, and nearest-neighbour fill (the training image closest on the
observed pixels lends its missing ones).
"""

from __future__ import annotations

import argparse
import logging
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganrepro.config import json_option, resolve, step_params, train_config
from ganrepro.data.prepared import load_labels, load_split, read_meta
from ganrepro.device import add_device_argument, resolve_device
from ganrepro.errors import UserError
from ganrepro.evaluation.classify import check_classifier_fits, features_and_predictions, load_classifier
from ganrepro.gan_config import TrainConfig
from ganrepro.io import write_json
from ganrepro.models.inpainting import MASK_KINDS, InpaintingGenerator, completions, kind_masks, load_inpainter
from ganrepro.training.inpainting import train_inpainter

log = logging.getLogger(__name__)

Predict = Callable[[np.ndarray], np.ndarray]
NN_CHUNK = 500  # test rows per distance product (500 x 50,000 float32: 100 MB)


def masked_mse(x_hat: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per image (..., N): the mean squared error over its missing pixels (m == 0)."""
    missing = 1.0 - m
    return ((x_hat - x) ** 2 * missing).sum(-1) / np.maximum(missing.sum(-1), 1.0)


def mean_fill(x: np.ndarray, m: np.ndarray, mean_image: np.ndarray) -> np.ndarray:
    return m * x + (1.0 - m) * mean_image


@torch.no_grad()
def nearest_fill(x: np.ndarray, m: np.ndarray, train: np.ndarray, chunk: int = NN_CHUNK) -> np.ndarray:
    """Each image's missing pixels from the training image closest to it on its observed pixels
    (squared distance sum_j m_j (x_j - t_j)^2 up to a per-image constant, as matrix products). One
    mask for all images (the fixed kinds) takes one product over the observed pixels only; per-image
    masks take two over all pixels."""
    t = torch.from_numpy(np.ascontiguousarray(train, dtype=np.float32))
    shared = bool((m == m[:1]).all())
    if shared:
        cols = torch.from_numpy(m[0] > 0)
        t_seen = t[:, cols].T.contiguous()
        t_norms = (t_seen * t_seen).sum(0)
    else:
        t_sq = (t * t).T.contiguous()
    out = np.empty_like(x)
    for start in range(0, len(x), chunk):
        xb = torch.from_numpy(x[start : start + chunk])
        mb = torch.from_numpy(m[start : start + chunk])
        seen = mb * xb
        if shared:
            dist = t_norms - 2.0 * xb[:, cols] @ t_seen
        else:
            dist = mb @ t_sq - 2.0 * seen @ t.T
        lent = t[dist.argmin(1)]
        out[start : start + chunk] = (seen + (1.0 - mb) * lent).numpy()
    return out


def classifier_predict(path: Path, device: torch.device, meta: dict[str, Any], data: Path) -> Predict:
    """The workflow's classifier as a function from images (N, d) in [0, 1] to predicted classes;
    a UserError unless it was trained on the dataset's shape and classes (`meta` of `data`)."""
    model = load_classifier(path, device)
    check_classifier_fits(model, meta, data)
    return lambda x: features_and_predictions(model, x)[1]


def completion_scores(
    comps: np.ndarray, x: np.ndarray, m: np.ndarray, y: np.ndarray | None, predict: Predict | None
) -> dict[str, float]:
    """Scores of k completions (k, N, d) of images x (N, d) under masks m: mse_mean, mse_best,
    diversity and, with labels and a classifier, accuracy (mean over the k)."""
    missing = 1.0 - m
    scores = {
        "mse_mean": float(masked_mse(comps.mean(0), x, m).mean()),
        "mse_best": float(masked_mse(comps, x, m).min(0).mean()),
        "diversity": float(((comps.std(0) * missing).sum(1) / np.maximum(missing.sum(1), 1.0)).mean()),
    }
    if predict is not None and y is not None:
        predicted = predict(comps.reshape(-1, comps.shape[-1])).reshape(len(comps), -1)
        scores["accuracy"] = float((predicted == y[None]).mean())
    return scores


def validation_check(
    x: np.ndarray, y: np.ndarray, example_shape: list[int], predict: Predict, k: int, noise: str, seed: int
) -> Callable[[InpaintingGenerator, int], dict[str, float]]:
    """The check training runs every few epochs: per mask kind (masks and noise fixed by `seed`, the
    same at every check) the best-of-k masked MSE and the accuracy on completions, and their means."""
    masks = {kind: kind_masks(kind, len(x), example_shape, seed + i) for i, kind in enumerate(MASK_KINDS)}
    xt = torch.from_numpy(x)

    def check(G: InpaintingGenerator, epoch: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for kind, m in masks.items():
            comps = completions(G, xt, m, k, noise, seed).numpy()
            scores = completion_scores(comps, x, m.numpy(), y, predict)
            out[f"mse_best_{kind}"], out[f"accuracy_{kind}"] = scores["mse_best"], scores["accuracy"]
        out["mse_best"] = statistics.fmean(out[f"mse_best_{kind}"] for kind in MASK_KINDS)
        out["accuracy"] = statistics.fmean(out[f"accuracy_{kind}"] for kind in MASK_KINDS)
        return out

    return check


def evaluate(
    G: InpaintingGenerator,
    cfg: TrainConfig,
    data: Path,
    predict: Predict | None,
    k: int,
    points: int,
    seed: int,
) -> dict[str, Any]:
    """Per mask kind on the first `points` test images (0 = all): the model's scores and the
    baselines'; `mean` averages each score over the kinds."""
    meta = read_meta(data)
    shape = meta["example_shape"]
    x_train = load_split(data, "train").reshape(meta["n_train"], -1)
    x = load_split(data, "test").reshape(meta["n_test"], -1)
    y = load_labels(data, "test")
    if points:
        x, y = x[:points], y[:points]
    labelled = y >= 0
    y = y if labelled.all() else None  # accuracy only where every test image has a label
    mean_image = x_train.mean(0)
    kinds: dict[str, dict[str, float]] = {}
    for i, kind in enumerate(MASK_KINDS):
        m = kind_masks(kind, len(x), shape, seed + i)
        comps = completions(G, torch.from_numpy(x), m, k, cfg.noise, seed).numpy()
        m = m.numpy()
        scores = completion_scores(comps, x, m, y, predict)
        by_mean, by_nn = mean_fill(x, m, mean_image), nearest_fill(x, m, x_train)
        scores["mse_mean_fill"] = float(masked_mse(by_mean, x, m).mean())
        scores["mse_nn_fill"] = float(masked_mse(by_nn, x, m).mean())
        if "accuracy" in scores:
            scores["accuracy_mean_fill"] = float((predict(by_mean) == y).mean())
            scores["accuracy_nn_fill"] = float((predict(by_nn) == y).mean())
        kinds[kind] = scores
        log.info("%s: %s", kind, ", ".join(f"{name} {v:.4f}" for name, v in scores.items()))
    result: dict[str, Any] = {
        "dataset": meta["dataset"],
        "seed": cfg.seed,
        "points": len(x),
        "completions": k,
        "kinds": kinds,
        "mean": {name: statistics.fmean(s[name] for s in kinds.values()) for name in kinds[MASK_KINDS[0]]},
    }
    if y is not None:
        result["accuracy_truth"] = float((predict(x) == y).mean())
    return result


def check_inpaintable(data: Path) -> dict[str, Any]:
    """The dataset's meta, if it has labelled images; else a UserError saying why it is skipped."""
    meta = read_meta(data)
    if meta.get("kind") != "image" or len(meta.get("example_shape", [])) != 3:
        raise UserError(
            f"{data}: dataset '{meta['dataset']}' has no images (C, H, W); inpainting skips it "
            "(list only image datasets under inpaint.datasets)"
        )
    if not meta.get("num_classes"):
        raise UserError(
            f"{data}: dataset '{meta['dataset']}' has no labels, which the classifier scores need; "
            "inpainting skips it (list only labelled datasets under inpaint.datasets)"
        )
    return meta


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `ganrepro inpaint-train` and `ganrepro inpaint-eval`."""
    t = subparsers.add_parser("inpaint-train", help="train the inpainting GAN (all masks of the family, one model)")
    t.add_argument("dataset", help="dataset name: its train.<name> section gives the networks and optimizer")
    t.add_argument("--data", type=Path, required=True, help="prepared dataset .npz")
    t.add_argument("--classifier", type=Path, required=True, help="classifier.pt of `ganrepro classifier`")
    t.add_argument(
        "--out-dir",
        type=Path,
        required=True,
        help="writes model.pt, train.json and valid_curve.csv; resumes from its checkpoint.pt",
    )
    t.add_argument(
        "--config-json",
        help="training keys as JSON over train.<dataset> + inpaint.train of params.yaml (the workflow passes all)",
    )
    t.add_argument("--seed", type=int, help="seed of weights, noise, masks and batches (default: inpaint.seed)")
    t.add_argument("--completions", type=int, help="completions per image in the checks (default: inpaint.completions)")
    t.add_argument(
        "--if-changed",
        choices=["error", "restart"],
        default="error",
        help="what to do with a checkpoint made with other parameters, or that cannot be read: "
        "stop with an error, or discard it and train from epoch 0",
    )
    t.set_defaults(func=_train_command)

    e = subparsers.add_parser("inpaint-eval", help="score the inpainting GAN and the baselines on test images")
    e.add_argument("--model", type=Path, required=True, help="model.pt of `ganrepro inpaint-train`")
    e.add_argument("--data", type=Path, required=True, help="prepared dataset .npz")
    e.add_argument("--classifier", type=Path, required=True, help="classifier.pt of `ganrepro classifier`")
    e.add_argument("--out", type=Path, required=True, help="output JSON")
    e.add_argument("--completions", type=int, help="completions per image (default: inpaint.completions)")
    e.add_argument("--points", type=int, help="test images scored, 0 = all (default: inpaint.eval_points)")
    add_device_argument(e)
    e.set_defaults(func=_eval_command)


def _train_command(args: argparse.Namespace) -> None:
    meta = check_inpaintable(args.data)
    step = step_params("inpaint", {"seed": args.seed, "completions": args.completions})
    overrides = json_option(args.config_json)
    params = resolve(None)
    cfg = train_config(params, args.dataset, {**params["inpaint"]["train"], **overrides}).replace(seed=step["seed"])
    predict = classifier_predict(args.classifier, resolve_device(cfg.device), meta, args.data)
    x = load_split(args.data, "valid").reshape(meta["n_valid"], -1)
    y = load_labels(args.data, "valid")
    n = cfg.valid_points or len(x)
    check = validation_check(x[:n], y[:n], meta["example_shape"], predict, step["completions"], cfg.noise, cfg.seed)
    estimate = {"completions": step["completions"]}
    record = train_inpainter(cfg, args.data, args.out_dir, args.dataset, check, args.if_changed, estimate)
    sel = record["selected"]
    scores = f", best-of MSE {sel['mse_best']:.4f}, accuracy {sel['accuracy']:.3f}" if "accuracy" in sel else ""
    print(
        f"wrote {args.out_dir / 'model.pt'}: {record['steps']} steps, {record['seconds_total']:.0f} s; "
        f"selected {record['selection']}: epoch {sel['epoch']}{scores}"
    )


def _eval_command(args: argparse.Namespace) -> None:
    step = step_params("inpaint", {"completions": args.completions, "eval_points": args.points})
    data_meta = check_inpaintable(args.data)
    device = resolve_device(args.device)
    G, meta = load_inpainter(args.model, device)
    predict = classifier_predict(args.classifier, device, data_meta, args.data)
    result = evaluate(G, meta["config"], args.data, predict, step["completions"], step["eval_points"], step["seed"])
    write_json(args.out, result)
    mean = result["mean"]
    print(
        f"wrote {args.out}: masked MSE {mean['mse_mean']:.4f} (mean of {step['completions']}), "
        f"{mean['mse_best']:.4f} (best), mean fill {mean['mse_mean_fill']:.4f}, nearest neighbour "
        f"{mean['mse_nn_fill']:.4f}; accuracy {mean.get('accuracy')} vs mean fill {mean.get('accuracy_mean_fill')}"
    )
