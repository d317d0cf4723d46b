"""A classifier per labelled dataset, and the sample scores it gives (`ganrepro classifier`,
`ganrepro class-metrics`).

The classifier is a small convnet (two 3x3 conv + max-pool layers, two fully connected layers) for
images (C, H, W), or a two-layer MLP for vectors (d,). Its penultimate layer (the hidden fully
connected layer, after ReLU) is the feature space of a Frechet distance computed with the usual FID
formula, with this classifier in place of Inception; its predictions give the class coverage of
unconditional samples and the label accuracy of conditional ones.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
import torch
from torch import nn
from torch.nn import functional as F

from ganrepro.arrays import as_unit_matrix, data_digest
from ganrepro.config import step_params
from ganrepro.data.prepared import load_labels, load_split, read_meta
from ganrepro.device import add_device_argument, resolve_device, seeded
from ganrepro.errors import UserError
from ganrepro.io import load_torch, save_torch, write_json
from ganrepro.models.artifacts import cpu_state_dict

CHANNELS = (32, 64)  # conv layers (3x3, padding 1, each followed by 2x2 max-pool and ReLU)
HIDDEN = 128  # units of the penultimate layer: the feature space of the Frechet distance
DROPOUT = (0.25, 0.5)  # before the hidden layer, before the output layer
DEFAULT_BATCH = 128
DEFAULT_LR = 1e-3
EVAL_BATCH = 250  # activations stay in cache: 1.5x faster than 1000 on the CPU
RECORD = "classifier_record.pt"  # beside the outputs: what a run with the same settings and data rewrites
COVERAGE_FRACTION = 0.1  # a class counts as covered with at least this fraction of the uniform share
FID_EPS = 1e-6  # diagonal offset when sqrtm of the covariance product is not finite


class Classifier(nn.Module):
    """Images (C, H, W) -> convnet, vectors (d,) -> MLP; `features` is the penultimate layer."""

    def __init__(
        self,
        example_shape: Sequence[int],
        num_classes: int,
        channels: Sequence[int] = CHANNELS,
        hidden: int = HIDDEN,
        dropout: Sequence[float] = DROPOUT,
        dataset: str | None = None,
    ) -> None:
        super().__init__()
        self.dataset = dataset
        self.example_shape = tuple(int(s) for s in example_shape)
        self.num_classes = int(num_classes)
        self.register_buffer("shift", torch.zeros(()))  # input standardisation, set from training data
        self.register_buffer("scale", torch.ones(()))
        self.body = nn.Sequential(*_trunk(self.example_shape, channels, hidden, dropout[0]), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout[1]), nn.Linear(hidden, self.num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x.reshape(len(x), *self.example_shape) - self.shift) / self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _trunk(shape: tuple[int, ...], channels: Sequence[int], hidden: int, dropout: float) -> list[nn.Module]:
    """Layers up to the hidden fully connected layer (its ReLU is added by the caller)."""
    if len(shape) == 1:
        return [nn.Linear(shape[0], hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden)]
    if len(shape) != 3:
        raise UserError(f"the classifier needs images (C, H, W) or vectors (d,); got example shape {shape}")
    c, h, w = shape
    if min(h, w) < 2 ** len(channels):
        raise UserError(f"images of {h}x{w} are too small for {len(channels)} 2x2 max-pool layers")
    layers: list[nn.Module] = []
    for out in channels:
        layers += [nn.Conv2d(c, out, 3, padding=1), nn.MaxPool2d(2), nn.ReLU()]  # pool first: same, cheaper
        c, h, w = out, h // 2, w // 2
    return [*layers, nn.Flatten(), nn.Dropout(dropout), nn.Linear(c * h * w, hidden)]


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def train_classifier(
    x: np.ndarray,
    y: np.ndarray,
    example_shape: Sequence[int],
    num_classes: int,
    *,
    epochs: int,
    batch_size: int = DEFAULT_BATCH,
    lr: float = DEFAULT_LR,
    seed: int = 0,
    device: torch.device | str = "cpu",
    valid: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Classifier, list[float | None]]:
    """Train on x (N, d) or (N, C, H, W) in [0, 1] with labels y in 0..num_classes-1 (Adam with the
    learning rate decayed linearly to 0, random-permutation minibatches); return the model (eval
    mode) and the valid accuracy after each epoch. Seeded by `seed`; the global RNG state is kept."""
    device = torch.device(device)
    xt = torch.as_tensor(x, dtype=torch.float32).reshape(len(x), *example_shape).to(device)
    yt = torch.as_tensor(y, dtype=torch.int64).to(device)
    history: list[float | None] = []
    with seeded(device, seed):
        model = Classifier(example_shape, num_classes).to(device)
        model.shift.fill_(xt.mean().item())
        model.scale.fill_(max(xt.std().item(), 1e-6))
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        steps = epochs * math.ceil(len(xt) / batch_size)
        decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / steps)  # linear to 0
        order = torch.Generator().manual_seed(seed)
        start = time.perf_counter()
        for epoch in range(epochs):
            model.train()
            for idx in torch.randperm(len(xt), generator=order).to(device).split(batch_size):
                loss = F.cross_entropy(model(xt[idx]), yt[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                decay.step()
            history.append(accuracy(model, *valid) if valid is not None else None)
            print(
                f"[classifier] epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}, valid accuracy "
                f"{history[-1]}, {time.perf_counter() - start:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    return model.eval(), history


def accuracy(model: Classifier, x: np.ndarray, y: np.ndarray) -> float | None:
    """Fraction of examples whose predicted class is y (None for no examples)."""
    if len(x) == 0:
        return None
    _, predicted = features_and_predictions(model, x)
    return float((predicted == np.asarray(y)).mean())


def _labelled(data: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The examples of a split that have a label."""
    y = load_labels(data, split)
    keep = y >= 0
    return load_split(data, split)[keep], y[keep]


def fit_dataset(
    data: Path,
    out_dir: Path,
    *,
    epochs: int,
    batch_size: int = DEFAULT_BATCH,
    lr: float = DEFAULT_LR,
    seed: int = 0,
    train_limit: int | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Train on a prepared dataset's labelled training examples; write OUT_DIR/classifier.pt and
    OUT_DIR/classifier.json (returned). OUT_DIR/classifier_record.pt keeps both with the settings and
    the training data's digest: a run with the same ones (DVC's train stage runs every training
    command) writes them again byte for byte instead of training."""
    if epochs < 1 or batch_size < 1 or (train_limit is not None and train_limit < 1):
        raise UserError(
            f"epochs ({epochs}), batch size ({batch_size}) and train limit ({train_limit}) must be positive"
        )
    meta = read_meta(data)
    num_classes = meta.get("num_classes")
    x, y = _labelled(data, "train")
    if not num_classes or not len(y):
        raise UserError(
            f"{data}: dataset '{meta['dataset']}' has no labelled training examples; the classifier needs labels"
        )
    x, y = x[:train_limit], y[:train_limit]
    settings = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "data": data_digest(x, y)}
    record_path = out_dir / RECORD
    if record_path.exists():
        record = load_torch(
            record_path, "delete it to train the classifier again", keys=("settings", "classifier", "summary")
        )
        if record["settings"] == settings:
            print(f"[classifier] {record_path}: trained with these settings and data, written again", file=sys.stderr)
            save_torch(out_dir / "classifier.pt", record["classifier"])
            write_json(out_dir / "classifier.json", record["summary"])
            return record["summary"]
    valid, test = _labelled(data, "valid"), _labelled(data, "test")
    start = time.perf_counter()
    model, history = train_classifier(
        x,
        y,
        meta["example_shape"],
        num_classes,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        valid=valid,
    )
    seconds = time.perf_counter() - start
    config = {
        "channels": list(CHANNELS),
        "hidden": HIDDEN,
        "dropout": list(DROPOUT),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "n_train": len(y),
    }
    summary = {
        "dataset": meta["dataset"],
        "test_accuracy": accuracy(model, *test),
        "valid_accuracy": history[-1],
        "epochs": epochs,
        "seconds": round(seconds, 1),
        "n_train": len(y),
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "device": str(device),
        "valid_accuracy_history": history,
    }
    blob = classifier_blob(model, config, meta["dataset"])
    save_torch(out_dir / "classifier.pt", blob)  # after the test: both or neither
    write_json(out_dir / "classifier.json", summary)
    save_torch(record_path, {"settings": settings, "classifier": blob, "summary": summary})
    return summary


def classifier_blob(model: Classifier, config: dict[str, Any], dataset: str) -> dict[str, Any]:
    """What classifier.pt holds (load_classifier)."""
    return {
        "state": cpu_state_dict(model),
        "config": config,
        "example_shape": list(model.example_shape),
        "num_classes": model.num_classes,
        "dataset": dataset,
    }


def load_classifier(path: str | Path, device: torch.device | str = "cpu") -> Classifier:
    """The classifier saved by `ganrepro classifier`, in eval mode on `device`; it carries
    `example_shape`, `num_classes` and `dataset`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"{path}: classifier not found (run `ganrepro classifier --data ... --out-dir {path.parent}` first)"
        )
    blob = load_torch(path, f"run `ganrepro classifier` again for {path.parent}", keys=("state", "config"))
    cfg = blob["config"]
    model = Classifier(
        blob["example_shape"], blob["num_classes"], cfg["channels"], cfg["hidden"], cfg["dropout"], blob["dataset"]
    )
    model.load_state_dict(blob["state"])
    return model.to(device).eval()


# ---------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------


def check_classifier_fits(model: Classifier, meta: dict[str, Any], data: Path) -> None:
    """A UserError unless the classifier was trained on examples of the dataset's shape and classes."""
    if list(meta["example_shape"]) != list(model.example_shape) or meta.get("num_classes") != model.num_classes:
        raise UserError(
            f"{data}: examples {meta['example_shape']} in {meta.get('num_classes')} classes, but the "
            f"classifier was trained on {list(model.example_shape)} in {model.num_classes} classes "
            f"({model.dataset}); pass the classifier of this dataset"
        )


@torch.no_grad()
def features_and_predictions(
    model: Classifier, x: np.ndarray | torch.Tensor, batch_size: int = EVAL_BATCH
) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate-layer features (N, hidden) float32 and predicted classes (N,) int64 of x, given
    as (N, d) or (N, *example_shape) in [0, 1]."""
    device = model.shift.device
    was_training = model.training
    model.eval()
    xt = torch.as_tensor(x, dtype=torch.float32)
    if len(xt) and xt[0].numel() != math.prod(model.example_shape):
        raise UserError(
            f"examples of {xt[0].numel()} values do not fit the classifier's example shape {model.example_shape}"
        )
    feats, preds = [], []
    for chunk in xt.split(batch_size):
        h = model.features(chunk.to(device))
        feats.append(h.cpu())
        preds.append(model.head(h).argmax(1).cpu())
    model.train(was_training)
    if not feats:
        return np.zeros((0, model.head[1].in_features), np.float32), np.zeros(0, np.int64)
    return torch.cat(feats).numpy(), torch.cat(preds).numpy()


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64) of (N, k) features."""
    f = np.asarray(features, dtype=np.float64)
    if len(f) < 2:
        raise UserError(f"a Frechet distance needs at least 2 examples, got {len(f)}")
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = FID_EPS
) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), the Frechet distance of two Gaussians.

    As in the reference FID code: if sqrtm is not finite (singular product), eps is added to both
    diagonals; tiny imaginary parts from rounding are dropped, large ones raise ValueError.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    d = len(mu1)
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shapes differ: mu {mu1.shape}, {mu2.shape}; sigma {s1.shape}, {s2.shape}")
    with warnings.catch_warnings():
        # Singular products are the rule (dead ReLU units have zero variance); sqrtm stays accurate
        # for them (checked against an eigendecomposition in the tests), so its warning is noise.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = np.eye(d) * eps
            covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm has a large imaginary component ({np.abs(covmean.imag).max():.3g})")
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def class_coverage(predicted: np.ndarray, num_classes: int, min_share: float | None = None) -> dict[str, Any]:
    """The histogram of predicted classes against the uniform distribution: its KL divergence
    KL(p || uniform) in nats, the number of classes with a share >= min_share (default
    COVERAGE_FRACTION / num_classes), and the largest and smallest class shares."""
    if min_share is None:
        min_share = COVERAGE_FRACTION / num_classes
    counts = np.bincount(np.asarray(predicted, dtype=np.int64), minlength=num_classes)
    share = counts / max(counts.sum(), 1)
    nonzero = share[share > 0]
    return {
        "class_histogram": counts.tolist(),
        "class_kl_uniform": float((nonzero * np.log(nonzero * num_classes)).sum()),
        "classes_covered": int((share >= min_share).sum()),
        "class_coverage_min_share": float(min_share),
        "class_share_max": float(share.max()),
        "class_share_min": float(share.min()),
    }


def label_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float | None:
    """Fraction of conditional samples (label >= 0) classified as the class they were asked for;
    None when no sample has a label."""
    labels = np.asarray(labels)
    asked = labels >= 0
    return float((np.asarray(predicted)[asked] == labels[asked]).mean()) if asked.any() else None


def real_statistics(model: Classifier, data: Path, split: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Feature mean and covariance of the first n (default all) images of a split."""
    x = load_split(data, split)[:n]
    return feature_statistics(features_and_predictions(model, x)[0])


def class_metrics(
    model: Classifier,
    x: np.ndarray,
    labels: np.ndarray | None,
    data: Path,
    *,
    reference: bool = False,
    min_share: float | None = None,
) -> dict[str, Any]:
    """All classifier scores of samples x (N, d) in [0, 1] against the dataset at `data`:
    classifier_fid (samples vs all test images), classifier_fid_reference (the first N training images
    vs the test images, if `reference`, else None), label_accuracy and the class coverage."""
    meta = read_meta(data)
    check_classifier_fits(model, meta, data)
    features, predicted = features_and_predictions(model, x)
    test_stats = real_statistics(model, data, "test")
    labels = np.full(len(x), -1) if labels is None else labels
    return {
        "dataset": meta["dataset"],
        "n_samples": len(x),
        "n_test": int(meta["n_test"]),
        "num_classes": model.num_classes,
        "conditional": bool((np.asarray(labels) >= 0).any()),
        "label_accuracy": label_accuracy(predicted, labels),
        "classifier_fid": frechet_distance(*feature_statistics(features), *test_stats),
        "classifier_fid_reference": (
            frechet_distance(*real_statistics(model, data, "train", len(x)), *test_stats) if reference else None
        ),
        **class_coverage(predicted, model.num_classes, min_share),
    }


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `ganrepro classifier` and `ganrepro class-metrics`."""
    p = subparsers.add_parser("classifier", help="train the dataset's classifier (for class-metrics)")
    p.add_argument("--data", type=Path, required=True, help="prepared dataset .npz")
    p.add_argument("--out-dir", type=Path, required=True, help="writes classifier.pt and classifier.json")
    p.add_argument(
        "--epochs", type=int, help="training epochs (default: params.yaml's class_metrics.classifier_epochs)"
    )
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help=f"default {DEFAULT_BATCH}")
    p.add_argument("--lr", type=float, default=DEFAULT_LR, help=f"Adam learning rate (default {DEFAULT_LR})")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the batch order (default 0)")
    p.add_argument("--train-limit", type=int, default=None, help="use only the first N training examples")
    add_device_argument(p)
    p.set_defaults(func=_classifier_command)

    m = subparsers.add_parser("class-metrics", help="classifier FID, class coverage and label accuracy of samples")
    m.add_argument("--classifier", type=Path, required=True, help="classifier.pt of `ganrepro classifier`")
    m.add_argument("--samples", type=Path, required=True, help="samples .npz with x (and labels) of `ganrepro sample`")
    m.add_argument("--data", type=Path, required=True, help="the prepared dataset .npz the classifier was trained on")
    m.add_argument("--out", type=Path, required=True, help="output JSON")
    m.add_argument(
        "--reference",
        action="store_true",
        help="also compute classifier_fid_reference: first N training images vs the test images",
    )
    m.add_argument(
        "--min-share",
        type=float,
        default=None,
        help=f"share a class needs to count as covered (default {COVERAGE_FRACTION} / classes)",
    )
    add_device_argument(m)
    m.set_defaults(func=_class_metrics_command)


def _classifier_command(args: argparse.Namespace) -> None:
    epochs = step_params("class_metrics", {"classifier_epochs": args.epochs})["classifier_epochs"]
    summary = fit_dataset(
        args.data,
        args.out_dir,
        epochs=epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        train_limit=args.train_limit,
        device=resolve_device(args.device),
    )
    print(f"wrote {args.out_dir / 'classifier.pt'}: test accuracy {summary['test_accuracy']}, {summary['seconds']} s")


def _class_metrics_command(args: argparse.Namespace) -> None:
    if not args.samples.is_file():
        raise UserError(f"{args.samples}: no such samples file (run `ganrepro sample` first)")
    with np.load(args.samples) as samples:
        if "x" not in samples.files:
            raise UserError(f"{args.samples}: expected an array 'x'; found {', '.join(samples.files)}")
        x = as_unit_matrix(samples["x"])
        labels = samples["labels"] if "labels" in samples.files else None
    model = load_classifier(args.classifier, resolve_device(args.device))
    metrics = class_metrics(model, x, labels, args.data, reference=args.reference, min_share=args.min_share)
    write_json(args.out, metrics)
    print(
        f"wrote {args.out}: classifier_fid {metrics['classifier_fid']:.3f}, "
        f"classes_covered {metrics['classes_covered']}/{metrics['num_classes']}"
    )
