"""The one place that decides which device computations run on."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """Map 'auto' to CUDA, then Apple MPS, then CPU; pass explicit names ('cpu', 'cuda:1') through."""
    if name != "auto":
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise SystemExit(f"device '{name}' was requested but CUDA is not available; use device: auto or cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
