"""params.yaml access: the one source of parameters, read by Snakemake, DVC and the CLI steps."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from ganrepro.errors import UserError
from ganrepro.paper import paper_grid

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: parameters file not found (run from the project root or pass --params)")
    with open(path) as f:
        params = yaml.safe_load(f) or {}
    if not isinstance(params, dict):
        raise UserError(f"{path}: expected a mapping of parameters at the top level")
    return params


def train_config(params: dict[str, Any], dataset: str) -> dict[str, Any]:
    """train.common overlaid with train.<dataset>; custom datasets fall back to train.mnist's setup."""
    sections = params.get("train", {})
    if dataset in sections:
        specific = sections[dataset]
    elif dataset in params.get("data", {}).get("custom", {}):
        specific = sections.get("custom", sections.get("mnist", {}))
    else:
        known = sorted(k for k in sections if k != "common")
        raise UserError(f"params: no train.{dataset} section (known: {', '.join(known)})")
    cfg = copy.deepcopy(sections.get("common", {}))
    cfg.update(copy.deepcopy(specific))
    cfg.setdefault("device", params.get("device", "auto"))
    pz = params.get("parzen", {})
    cfg["valid_sigmas"] = paper_grid(pz.get("sigma_min_log10", -1.0), pz.get("sigma_max_log10", 0.0),
                                     pz.get("sigma_num", 10))  # the grid of training's validation estimate
    return cfg
