"""Semi-supervised classification with the GAN's features (the paper's extension 4):
`ganrepro semi-supervised`.

A few labelled training images, the rest unlabelled: does what D learnt while telling data from
samples help a classifier? Each feature method maps images to features and fits the same multinomial
logistic regression on the labelled ones (full-batch L-BFGS from zero weights, float32 features
standardised with the statistics of unlabelled training images), its L2 strength
chosen on the validation split:

- `d_gan`: D's hidden layers (maxout outputs, eval mode: no dropout) of the trained GAN;
- `infer_net`: the hidden layers (ReLU outputs) of the inference net E of `ganrepro infer`;
- `d_untrained`: a D of the same shape freshly initialised by the model's own settings: the control
  that separates what training taught D from what its architecture alone gives;
- `pixels`: the images themselves.

Beside them, `scratch`: a network of D's shape (maxout layers, D's dropout) with a softmax output,
trained on the labels alone with Adam and stopped at the step of lowest validation error.

Every label count is drawn as `subsets` class-balanced random subsets fixed by the seed, the same
subsets for every method. Output: test errors (out of the labelled test images) per subset, and
their mean and SD per method and label count.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganrepro import paper
from ganrepro.config import json_option, step_params
from ganrepro.data.prepared import load_labels, load_split, read_meta
from ganrepro.device import add_device_argument, resolve_device, seeded
from ganrepro.errors import UserError
from ganrepro.evaluation.infer import load_encoder
from ganrepro.gan_config import TrainConfig
from ganrepro.io import write_json
from ganrepro.models.artifacts import load_model
from ganrepro.models.networks import Maxout, build_models, init_uniform_

log = logging.getLogger(__name__)

SECTION = "semisupervised"  # the params.yaml section
FEATURE_METHODS = ("d_gan", "infer_net", "d_untrained", "pixels")
METHODS = (*FEATURE_METHODS, "scratch")
METHOD_LABELS = {
    "d_gan": "GAN's D, hidden layers",
    "infer_net": "inference net E, hidden layers",
    "d_untrained": "untrained D of the same shape",
    "pixels": "raw pixels",
    "scratch": "D-shaped net trained on the labels only",
}
BATCH = 1000  # rows per forward pass when extracting features (bounds memory)
SCRATCH_BATCH = 100  # the GAN's own minibatch size
STD_FLOOR = 0.1  # a feature's std is floored at this fraction of the mean std (constant pixels stay finite)
GRAD_TOL = 1e-5  # L-BFGS stops when no gradient entry exceeds this (float32 resolution of a mean loss)
STATS_IMAGES = 10000  # training images (labels unused) whose features give the standardisation

Featurizer = Callable[[torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------------------------
# Label subsets
# ---------------------------------------------------------------------------------------------


def label_subsets(y: np.ndarray, n: int, subsets: int, seed: int, num_classes: int) -> list[np.ndarray]:
    """`subsets` sorted index arrays of n labelled examples each, class-balanced: n // k per class,
    the n % k left over going to classes drawn at random. Subset s depends only on (seed, n, s)."""
    by_class = [np.flatnonzero(y == c) for c in range(num_classes)]
    out = []
    for s in range(subsets):
        rng = np.random.default_rng([seed, n, s])
        extra = set(rng.permutation(num_classes)[: n % num_classes].tolist())
        take = [rng.choice(idx, n // num_classes + (c in extra), replace=False) for c, idx in enumerate(by_class)]
        out.append(np.sort(np.concatenate(take)))
    return out


def check_label_counts(counts: Sequence[int], y: np.ndarray, num_classes: int, dataset: str) -> None:
    """Refuse label counts the labelled training images cannot give, naming the parameter."""
    per_class = np.bincount(y[y >= 0], minlength=num_classes)
    for n in counts:
        need = -(-n // num_classes)  # ceil: the classes that get one of the n % k left over
        if n < num_classes:
            raise UserError(f"{SECTION}.label_counts: {n} labels cannot cover the {num_classes} classes of {dataset}")
        if n > len(y[y >= 0]):
            raise UserError(
                f"{SECTION}.label_counts: {n} labels, but {dataset} has only {int((y >= 0).sum())} labelled "
                "training images; use smaller counts"
            )
        if need > per_class.min():
            raise UserError(
                f"{SECTION}.label_counts: {n} labels need up to {need} images of each class, but class "
                f"{int(per_class.argmin())} of {dataset} has {int(per_class.min())} labelled training images; "
                "use smaller counts"
            )


def subset_digest(idx: np.ndarray) -> str:
    """A short fingerprint of a subset (recorded, so runs and methods can be seen to share it)."""
    return hashlib.sha256(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------------------------


def hidden_outputs(net: nn.Module, layer_type: type[nn.Module], what: str) -> Featurizer:
    """x -> the outputs of every `layer_type` module of `net`, concatenated, with `net` in eval mode
    (no dropout)."""
    layers = [m for m in net.modules() if isinstance(m, layer_type)]
    if not layers:
        raise UserError(f"{what}: no {layer_type.__name__} layers to take features from")
    net.eval()

    @torch.no_grad()
    def featurize(x: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        handles = [m.register_forward_hook(lambda _m, _i, out: outs.append(out.flatten(1))) for m in layers]
        try:
            net(x)
        finally:
            for handle in handles:
                handle.remove()
        return torch.cat(outs, dim=1)

    return featurize


def batched(fn: Featurizer, x: np.ndarray, device: torch.device) -> torch.Tensor:
    """fn over chunks of BATCH rows of x (N, d), concatenated on the CPU."""
    chunks = [fn(torch.from_numpy(x[i : i + BATCH]).to(device)).cpu() for i in range(0, len(x), BATCH)]
    return torch.cat(chunks)


def standardiser(fn: Featurizer, x_train: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and floored std over the first STATS_IMAGES training images (no labels used),
    from running float64 sums so their features are never all in memory."""
    total, squares, n = 0.0, 0.0, 0
    for i in range(0, min(len(x_train), STATS_IMAGES), BATCH):
        f = batched(fn, x_train[i : i + BATCH], device).double()
        total, squares, n = total + f.sum(0), squares + (f**2).sum(0), n + len(f)
    mean = total / n
    std = (squares / n - mean**2).clamp_min(0).sqrt()
    return mean.float(), std.clamp_min(STD_FLOOR * float(std.mean()) + 1e-12).float()


# ---------------------------------------------------------------------------------------------
# The classifier: multinomial logistic regression
# ---------------------------------------------------------------------------------------------


def fit_logistic(
    f: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float, iters: int, start: tuple | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and biases minimising mean cross-entropy + l2 / 2 * ||W||^2 by full-batch L-BFGS
    (deterministic: from `start` or zeros, in the features' dtype)."""
    W = (start[0].clone() if start else torch.zeros(f.shape[1], num_classes, dtype=f.dtype)).requires_grad_()
    b = (start[1].clone() if start else torch.zeros(num_classes, dtype=f.dtype)).requires_grad_()
    opt = torch.optim.LBFGS(
        [W, b], max_iter=iters, history_size=20, line_search_fn="strong_wolfe", tolerance_grad=GRAD_TOL
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(f @ W + b, y) + 0.5 * l2 * (W * W).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return W.detach(), b.detach()


def count_errors(f: torch.Tensor, y: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> int:
    return int(((f @ W + b).argmax(1) != y).sum())


def fit_select(
    train: tuple[torch.Tensor, torch.Tensor],
    valid: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    l2_grid: Sequence[float],
    iters: int,
) -> tuple[tuple[torch.Tensor, torch.Tensor], float, int]:
    """Fit along the L2 grid from strongest to weakest (each fit starting from the previous one) and
    keep the fit of fewest validation errors (the stronger L2 on ties): (W, b), its L2, its errors."""
    best: tuple[tuple[torch.Tensor, torch.Tensor], float, int] | None = None
    start = None
    for l2 in sorted(l2_grid, reverse=True):
        start = fit_logistic(*train, num_classes, l2, iters, start)
        errors = count_errors(*valid, *start)
        if best is None or errors < best[2]:
            best = (start, l2, errors)
    assert best is not None  # the grid is never empty (checked with the parameters)
    return best


# ---------------------------------------------------------------------------------------------
# The baseline trained from scratch
# ---------------------------------------------------------------------------------------------


def scratch_net(model_cfg: TrainConfig, data_dim: int, num_classes: int) -> nn.Module:
    """D's network (same layers, init and dropout) with a softmax output over the classes in place of
    its single logit."""
    _, D = build_models(model_cfg.replace(conditional=False), data_dim)
    D.out = nn.Linear(D.out.in_features, num_classes)
    init_uniform_(D.out, model_cfg.d_irange)
    return D


def train_scratch(
    model_cfg: TrainConfig,
    train: tuple[torch.Tensor, torch.Tensor],
    valid: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    cfg: dict[str, Any],
    seed: int,
) -> tuple[nn.Module, dict[str, Any]]:
    """Adam on the labelled images alone, minibatches of SCRATCH_BATCH in seeded random order; the
    validation errors every `scratch_eval_every` steps choose the step kept (the earlier on ties)."""
    x, y = train
    steps, every = cfg["scratch_steps"], cfg["scratch_eval_every"]
    batch = min(SCRATCH_BATCH, len(x))
    with seeded(x.device, seed):
        net = scratch_net(model_cfg, x.shape[1], num_classes).to(x.device)
        opt = torch.optim.Adam(net.parameters(), lr=cfg["scratch_lr"])
        order = torch.Generator().manual_seed(seed)
        best: dict[str, Any] = {"valid_errors": None}
        step = 0
        while step < steps:
            for idx in torch.randperm(len(x), generator=order).to(x.device).split(batch):
                net.train()
                loss = F.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                if step % every == 0 or step == steps:
                    errors = predict_errors(net, *valid)
                    if best["valid_errors"] is None or errors < best["valid_errors"]:
                        best = {"valid_errors": errors, "step": step, "state": copy.deepcopy(net.state_dict())}
                if step == steps:
                    break
    net.load_state_dict(best.pop("state"))
    best["epochs"] = best["step"] * batch / len(x)
    return net.eval(), best


@torch.no_grad()
def predict_errors(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Misclassified rows of x, in eval mode (no dropout)."""
    net.eval()
    return int(sum((net(x[i : i + BATCH]).argmax(1) != y[i : i + BATCH]).sum() for i in range(0, len(x), BATCH)))


# ---------------------------------------------------------------------------------------------
# The step
# ---------------------------------------------------------------------------------------------


def labelled(data: Path, split: str, limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flat float32 images of a split that have a label (the first `limit` of them; 0 = all), and labels."""
    y = load_labels(data, split)
    x = load_split(data, split)
    keep = np.flatnonzero(y >= 0)[: limit or None]
    return x.reshape(len(x), -1)[keep], y[keep]


def featurizers(
    D: nn.Module, meta: dict[str, Any], model: Path, encoder: Path, seed: int, device: torch.device
) -> dict[str, Featurizer]:
    """The four feature methods: the model's D, its inference net, a fresh D, the pixels."""
    if meta["config"].conditional:
        raise UserError(f"{model}: a conditional GAN (its D reads the class); give the unconditional model")
    E, info = load_encoder(encoder, device)
    if info.get("n_classes"):
        raise UserError(f"{encoder}: the inference net of a conditional GAN; give the unconditional model's")
    if info["in_dim"] != meta["data_dim"]:
        raise UserError(
            f"{encoder}: an inference net of {info['in_dim']}-value examples (for {info.get('model')}), but "
            f"{model} makes {meta['data_dim']}; give the encoder `ganrepro infer` wrote for this model"
        )
    with seeded(device, seed):
        _, D0 = build_models(meta["config"], meta["data_dim"])
    return {
        "d_gan": hidden_outputs(D, Maxout, f"{model} (D)"),
        "infer_net": hidden_outputs(E, nn.ReLU, f"{encoder} (E)"),
        "d_untrained": hidden_outputs(D0.to(device), Maxout, "the untrained D"),
        "pixels": lambda x: x,
    }


def summarise(errors: list[int]) -> dict[str, float]:
    """Mean and SD (ddof 1; 0 for one subset) of the test errors over the subsets."""
    return {"mean": statistics.fmean(errors), "sd": statistics.stdev(errors) if len(errors) > 1 else 0.0}


def flat_summary(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """`<method>_<n>` (mean test errors) and `<method>_<n>_sd`: the keys metrics.json takes."""
    out = {}
    for method, by_n in results.items():
        for n, r in by_n.items():
            out[f"{method}_{n}"], out[f"{method}_{n}_sd"] = r["mean"], r["sd"]
    return out


@dataclasses.dataclass(frozen=True)
class Task:
    """What every method is scored on: the training images with their labels and label subsets, the
    labelled validation and test images, the class count, the step's settings and the device."""

    x_train: np.ndarray
    y_train: np.ndarray
    subsets: dict[int, list[np.ndarray]]
    valid: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    num_classes: int
    cfg: dict[str, Any]
    device: torch.device


def feature_method(fn: Featurizer, task: Task) -> dict[str, Any]:
    """One feature method on every subset: the logistic regression's test errors, L2 and valid errors."""
    mean, std = standardiser(fn, task.x_train, task.device)

    def features(x: np.ndarray) -> torch.Tensor:
        return (batched(fn, x, task.device) - mean) / std

    valid_f = (features(task.valid[0]), torch.from_numpy(task.valid[1]))
    test_f = (features(task.test[0]), torch.from_numpy(task.test[1]))
    l2_grid, iters = task.cfg["l2_grid"], task.cfg["lbfgs_iters"]
    out = {}
    for n, idx_list in task.subsets.items():
        runs = []
        for idx in idx_list:
            train = (features(task.x_train[idx]), torch.from_numpy(task.y_train[idx]))
            (W, b), l2, valid_errors = fit_select(train, valid_f, task.num_classes, l2_grid, iters)
            runs.append({"test_errors": count_errors(*test_f, W, b), "l2": l2, "valid_errors": valid_errors})
        out[str(n)] = collect(runs)
    return out


def scratch_method(model_cfg: TrainConfig, task: Task) -> dict[str, Any]:
    """The D-shaped network trained on each subset alone: test errors and the step chosen on validation."""

    def on_device(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(x).to(task.device), torch.from_numpy(y).to(task.device)

    valid_t, test_t = on_device(*task.valid), on_device(*task.test)
    out = {}
    for n, idx_list in task.subsets.items():
        runs = []
        for s, idx in enumerate(idx_list):
            train = on_device(task.x_train[idx], task.y_train[idx])
            net, chosen = train_scratch(model_cfg, train, valid_t, task.num_classes, task.cfg, task.cfg["seed"] + s)
            runs.append({"test_errors": predict_errors(net, *test_t), **chosen})
        out[str(n)] = collect(runs)
    return out


def run(model: Path, encoder: Path, data: Path, out: Path, cfg: dict[str, Any], device_name: str = "auto") -> dict:
    """Every method on every label subset; write `out` (when the dataset has no labelled training
    images, a file that says so and nothing else) and return its content."""
    began = time.perf_counter()
    meta = read_meta(data)
    dataset, num_classes = meta["dataset"], meta.get("num_classes")
    y_train = load_labels(data, "train")
    if not num_classes or not (y_train >= 0).any():
        result = {"dataset": dataset, "not_run": "no labelled training images"}
        log.info("%s: %s; nothing to classify", dataset, result["not_run"])
        write_json(out, result)
        return result
    check_label_counts(cfg["label_counts"], y_train, num_classes, dataset)
    subsets = {n: label_subsets(y_train, n, cfg["subsets"], cfg["seed"], num_classes) for n in cfg["label_counts"]}
    device = resolve_device(device_name)
    x_train = load_split(data, "train")
    x_train = x_train.reshape(len(x_train), -1)
    valid, test = labelled(data, "valid", cfg["valid_limit"]), labelled(data, "test")
    if not len(valid[1]) or not len(test[1]):
        raise UserError(f"{data}: {SECTION} needs labelled images in the valid and test splits")
    _, D, model_meta = load_model(model, device)
    task = Task(x_train, y_train, subsets, valid, test, num_classes, cfg, device)
    results, seconds = {}, {}
    for method, fn in featurizers(D, model_meta, model, encoder, cfg["seed"], device).items():
        start = time.perf_counter()
        results[method] = feature_method(fn, task)
        seconds[method] = time.perf_counter() - start
        log.info("%s: %s", method, _fmt_all(results[method]))
    start = time.perf_counter()
    results["scratch"] = scratch_method(model_meta["config"], task)
    seconds["scratch"] = time.perf_counter() - start
    log.info("scratch: %s", _fmt_all(results["scratch"]))
    result = {
        "dataset": dataset,
        "model": str(model),
        "encoder": str(encoder),
        "data": str(data),
        "device": str(device),
        "config": cfg,
        "num_classes": num_classes,
        "n_test": len(test[1]),
        "n_valid": len(valid[1]),
        "methods": {m: METHOD_LABELS[m] for m in METHODS},
        "subset_digests": {str(n): [subset_digest(i) for i in idx] for n, idx in subsets.items()},
        "results": results,
        "summary": flat_summary(results),
        "quoted": dataclasses.asdict(paper.SEMI_SUPERVISED) if dataset == "mnist" else None,
        "seconds": seconds,
        "elapsed_seconds": time.perf_counter() - began,
    }
    write_json(out, result)
    return result


def collect(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One method and label count: each subset's run, and the mean and SD of the test errors."""
    return {**summarise([r["test_errors"] for r in runs]), "runs": runs}


def _fmt(r: dict[str, Any]) -> str:
    return f"{r['mean']:.1f} ± {r['sd']:.1f}"


def _fmt_all(by_n: dict[str, Any]) -> str:
    """'100: 93.0 ± 6.5, 600: ...' test errors per label count."""
    return ", ".join(f"{n}: {_fmt(r)}" for n, r in by_n.items())


def resolve_config(args: argparse.Namespace) -> dict[str, Any]:
    """--config-json over the semisupervised section of params.yaml (or --params), checked against the schema."""
    return step_params(SECTION, json_option(args.config_json), args.params)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "semi-supervised", help="few-label classification with D's and the inference net's features, and baselines"
    )
    p.add_argument("--model", type=Path, required=True, help="model.pt written by `ganrepro train` (unconditional)")
    p.add_argument("--encoder", type=Path, required=True, help="encoder.pt written by `ganrepro infer` for that model")
    p.add_argument("--data", type=Path, required=True, help="prepared dataset .npz")
    p.add_argument("--out", type=Path, required=True, help="output JSON")
    p.add_argument("--config-json", help=f"the params.yaml {SECTION} section (or part of it) as JSON")
    p.add_argument("--params", type=Path, help=f"the params.yaml whose {SECTION} section gives the defaults")
    add_device_argument(p)
    p.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> None:
    result = run(args.model, args.encoder, args.data, args.out, resolve_config(args), args.device)
    if "not_run" in result:
        print(f"wrote {args.out}: not run ({result['not_run']})")
        return
    for method, by_n in result["results"].items():
        print(f"{method:12s} {_fmt_all(by_n)}")
