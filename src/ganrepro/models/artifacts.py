"""A trained model as a file (model.pt): the selected generator, the discriminator of the last step,
and everything needed to rebuild and use them. The file holds tensors and plain containers only,
so loading it never runs code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganrepro.errors import UserError
from ganrepro.gan_config import TrainConfig
from ganrepro.io import load_torch, save_torch
from ganrepro.models.networks import build_models

RETRAIN = "train the model again (`ganrepro train`)"


def save_model(path: str | Path, generator: nn.Module, discriminator: nn.Module, meta: dict[str, Any]) -> None:
    """meta: config (a plain dict: TrainConfig.as_dict), data_dim, example_shape, n_classes, dataset, seed,
    selection details."""
    save_torch(path, {"meta": meta, "G": cpu_state_dict(generator), "D": cpu_state_dict(discriminator)})


def load_model(path: str | Path, device: torch.device) -> tuple[nn.Module, nn.Module, dict[str, Any]]:
    """Rebuild (G, D, meta) saved by `save_model`, in eval mode on `device`; meta["config"] as a TrainConfig."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: model file not found (run `ganrepro train` first)")
    blob = load_torch(path, RETRAIN, keys=("meta", "G", "D"))
    meta = {**blob["meta"], "config": TrainConfig.from_mapping(blob["meta"]["config"], str(path))}
    G, D = build_models(meta["config"], meta["data_dim"], meta["n_classes"])
    G.load_state_dict(blob["G"])
    D.load_state_dict(blob["D"])
    return G.to(device).eval(), D.to(device).eval(), meta


def load_generator(path: str | Path, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    G, _, meta = load_model(path, device)
    return G, meta


def cpu_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of module's parameters and buffers on the CPU (training goes on changing the module's)."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
