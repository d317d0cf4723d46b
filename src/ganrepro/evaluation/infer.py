"""Learned approximate inference (the paper's extension 2): `ganrepro infer`.

An inference net E is trained to predict z from x on pairs (G(z), z) drawn fresh at every step from
the finished generator, which stays frozen (eval mode, no gradients, parameters unchanged). For a
conditional generator E also reads the one-hot class c, and G(E(x, c), c) reconstructs x.

Outputs: OUT_DIR/encoder.pt (E and how to rebuild it) and OUT_DIR/infer.json: z-recovery error on
fresh samples, and the reconstruction error of real test images against a random-z baseline.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ganrepro.config import json_option, step_params
from ganrepro.data.prepared import load_labels, load_split, read_meta
from ganrepro.device import add_device_argument, resolve_device
from ganrepro.errors import UserError
from ganrepro.gan_config import TrainConfig
from ganrepro.io import load_torch, save_torch, write_json
from ganrepro.models.artifacts import cpu_state_dict, load_generator
from ganrepro.models.networks import InferenceNet, condition_classes, generate, sample_noise, with_condition

EVAL_BATCH = 1000  # rows per forward pass when evaluating (bounds memory for the large generators)
LOG_LINES = 20  # progress lines per training run


def encoder_input(x: torch.Tensor, c: torch.Tensor | None, n_classes: int) -> torch.Tensor:
    """E's input: x flattened, with the one-hot class appended for conditional generators."""
    return with_condition(x.flatten(1), c, n_classes)


def freeze(module: nn.Module) -> None:
    """Eval mode and no gradients: the generator never changes while E learns."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)


def train_encoder(
    G: nn.Module, gcfg: TrainConfig, data_dim: int, cfg: dict[str, Any], device: torch.device
) -> tuple[InferenceNet, list[dict[str, float]]]:
    """Fit E on fresh (G(z), z) pairs with Adam on the squared error in z; return E and its loss curve."""
    freeze(G)
    n_cls = condition_classes(G)
    torch.manual_seed(cfg["seed"])
    E = InferenceNet(data_dim + n_cls, cfg["hidden"], gcfg.z_dim).to(device)
    opt = torch.optim.Adam(E.parameters(), lr=cfg["lr"])
    gen = torch.Generator(device=device).manual_seed(cfg["seed"])
    every = max(cfg["steps"] // LOG_LINES, 1)
    history, running = [], torch.zeros((), device=device)  # summed on the device: no host sync per step
    for step in range(1, cfg["steps"] + 1):
        z = sample_noise(cfg["batch_size"], gcfg.z_dim, gcfg.noise, device, gen)
        c = torch.randint(n_cls, (len(z),), device=device, generator=gen) if n_cls else None
        loss = F.mse_loss(E(encoder_input(G(z, c), c, n_cls)), z)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running += loss.detach()
        if step % every == 0 or step == cfg["steps"]:
            history.append({"step": step, "z_mse": running.item() / (step - (history[-1]["step"] if history else 0))})
            running.zero_()
            print(f"[infer] step {step}/{cfg['steps']} z mse {history[-1]['z_mse']:.4f}", file=sys.stderr, flush=True)
    E.eval()
    return E, history


@torch.no_grad()
def _batched(fn: Callable[..., torch.Tensor], *arrays: torch.Tensor | None) -> torch.Tensor:
    """fn over chunks of EVAL_BATCH rows of each array (None passes through), concatenated."""
    n = len(next(a for a in arrays if a is not None))
    return torch.cat(
        [fn(*(a if a is None else a[i : i + EVAL_BATCH] for a in arrays)) for i in range(0, n, EVAL_BATCH)]
    )


def encode(E: nn.Module, x: torch.Tensor, c: torch.Tensor | None, n_classes: int) -> torch.Tensor:
    """E(x, c) for any number of rows."""
    return _batched(lambda xb, cb: E(encoder_input(xb, cb, n_classes)), x, c)


def reconstruct(G: nn.Module, E: nn.Module, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
    """G(E(x)) (flat rows) for real x; c is the class of each row for conditional generators."""
    n_cls = condition_classes(G)
    return _batched(G, encode(E, x, c, n_cls), c if n_cls else None)


def error_stats(x_hat: torch.Tensor, x: torch.Tensor) -> dict[str, float]:
    """Mean squared error per value and mean L2 distance per example."""
    diff = (x_hat - x.flatten(1)).double()
    return {"mse_per_pixel": float((diff**2).mean()), "l2_mean": float(diff.norm(dim=1).mean())}


def z_recovery(
    E: nn.Module, G: nn.Module, gcfg: TrainConfig, n: int, seed: int, device: torch.device
) -> dict[str, Any]:
    """E's error at recovering z from G(z) on n fresh samples: MSE and per-dimension R^2."""
    n_cls = condition_classes(G)
    s = generate(G, gcfg, n, seed)
    c = torch.from_numpy(s["labels"]).to(device) if n_cls else None
    z = torch.from_numpy(s["z"]).double()
    z_hat = encode(E, torch.from_numpy(s["x"]).to(device), c, n_cls).cpu().double()
    r2 = 1 - ((z_hat - z) ** 2).sum(0) / ((z - z.mean(0)) ** 2).sum(0)
    return {"n": n, "mse": float(((z_hat - z) ** 2).mean()), "r2_mean": float(r2.mean()), "r2_per_dim": r2.tolist()}


def reconstruction(
    E: nn.Module, G: nn.Module, meta: dict[str, Any], data: Path, n: int, seed: int, device: torch.device
) -> dict[str, Any]:
    """||G(E(x)) - x|| on the first n test examples, beside G(z) with z ~ p_z as a baseline."""
    x_np = load_split(data, "test")
    x = torch.from_numpy(x_np.reshape(len(x_np), -1)[:n]).to(device)  # run() checked rows and labels
    gcfg = meta["config"]
    n_cls = condition_classes(G)
    c = torch.from_numpy(load_labels(data, "test")[: len(x)]).to(device) if n_cls else None
    gen = torch.Generator(device=device).manual_seed(seed)
    z_rand = sample_noise(len(x), gcfg.z_dim, gcfg.noise, device, gen)
    encoder = error_stats(reconstruct(G, E, x, c), x)
    random = error_stats(_batched(G, z_rand, c), x)
    return {
        "n_test": len(x),
        "encoder": encoder,
        "random_z": random,
        "mse_ratio_encoder_to_random": encoder["mse_per_pixel"] / random["mse_per_pixel"],
    }


def save_encoder(path: Path, E: InferenceNet, info: dict[str, Any]) -> None:
    """encoder.pt: E's weights with what `load_encoder` needs to rebuild it."""
    save_torch(path, {"info": info, "E": cpu_state_dict(E)})


def load_encoder(path: Path, device: torch.device) -> tuple[InferenceNet, dict[str, Any]]:
    """Rebuild (E, info) written by `save_encoder`, in eval mode."""
    if not Path(path).exists():
        raise UserError(f"{path}: encoder not found (run `ganrepro infer` first)")
    blob = load_torch(path, "run `ganrepro infer` again to rebuild it", keys=("info", "E"))
    info = blob["info"]
    E = InferenceNet(info["in_dim"], info["hidden"], info["z_dim"])
    E.load_state_dict(blob["E"])
    return E.to(device).eval(), info


def run(model: Path, data: Path, out_dir: Path, cfg: dict[str, Any], device_name: str = "auto") -> dict[str, Any]:
    """Train E on the frozen generator of `model`, evaluate it, write encoder.pt and infer.json."""
    began = time.perf_counter()
    device = resolve_device(device_name)
    G, meta = load_generator(model, device)
    values = math.prod(read_meta(data)["example_shape"])
    if values != meta["data_dim"]:  # the data's checks before training, not after
        raise UserError(f"{data}: test examples have {values} values, the generator makes {meta['data_dim']}")
    if condition_classes(G) and (load_labels(data, "test")[: cfg["n_eval"]] < 0).any():
        raise UserError(f"{data}: the generator is conditional but some test examples have no label")
    gcfg = meta["config"]
    E, history = train_encoder(G, gcfg, meta["data_dim"], cfg, device)
    trained = time.perf_counter() - began
    n_cls = condition_classes(G)
    info = {
        "in_dim": meta["data_dim"] + n_cls,
        "hidden": list(cfg["hidden"]),
        "z_dim": gcfg.z_dim,
        "n_classes": n_cls,
        "model": str(model),
        "config": cfg,
    }
    result = {
        "dataset": meta.get("dataset"),
        "seed": meta.get("seed"),
        "model": str(model),
        "data": str(data),
        "device": str(device),
        "config": cfg,
        "conditional_classes": n_cls,
        "z_recovery": z_recovery(E, G, gcfg, cfg["n_eval"], cfg["seed"] + 1, device),
        "reconstruction": reconstruction(E, G, meta, data, cfg["n_eval"], cfg["seed"] + 2, device),
        "loss_history": history,
        "train_seconds": trained,
    }
    result["elapsed_seconds"] = time.perf_counter() - began
    save_encoder(out_dir / "encoder.pt", E, info)  # only once the evaluation has run: nothing half done is left
    write_json(out_dir / "infer.json", result)
    rec = result["reconstruction"]
    print(
        f"[infer] z mse {result['z_recovery']['mse']:.4f} (R^2 {result['z_recovery']['r2_mean']:.3f}); "
        f"reconstruction mse {rec['encoder']['mse_per_pixel']:.4f} "
        f"vs random z {rec['random_z']['mse_per_pixel']:.4f} "
        f"-> {out_dir}",
        file=sys.stderr,
    )
    return result


def resolve_config(args: argparse.Namespace) -> dict[str, Any]:
    """Single flags over --config-json over the infer section of params.yaml (or --params)."""
    given = json_option(args.config_json)
    flags = ("hidden", "steps", "batch_size", "lr", "seed", "n_eval")
    given |= {key: value for key in flags if (value := getattr(args, key)) is not None}
    return step_params("infer", given, args.params)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("infer", help="train the approximate-inference net E (x -> z) on a frozen generator")
    p.add_argument("--model", type=Path, required=True, help="model.pt written by `ganrepro train`")
    p.add_argument("--data", type=Path, required=True, help="prepared dataset .npz (its test split is reconstructed)")
    p.add_argument("--out-dir", type=Path, required=True, help="gets encoder.pt and infer.json")
    p.add_argument("--config-json", help="the params.yaml infer section as JSON (the workflow passes it)")
    p.add_argument(
        "--params",
        type=Path,
        help="params.yaml whose infer section gives the values not set by flags (default: the project's)",
    )
    p.add_argument("--hidden", type=int, nargs="+", help="E's hidden layer sizes")
    p.add_argument("--steps", type=int, help="training steps")
    p.add_argument("--batch-size", type=int, help="pairs per step")
    p.add_argument("--lr", type=float, help="Adam learning rate")
    p.add_argument("--seed", type=int, help="seed of E's initialisation and noise")
    p.add_argument("--n-eval", type=int, help="fresh samples and test examples evaluated")
    add_device_argument(p)
    p.set_defaults(func=lambda a: run(a.model, a.data, a.out_dir, resolve_config(a), a.device))
