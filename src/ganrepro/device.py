"""The one place that decides which device computations run on, and how the host allocates."""

from __future__ import annotations

import ctypes
import sys

import torch

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


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


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU, where operations run synchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def keep_freed_memory() -> None:
    """Ask glibc's malloc to serve blocks up to 32 MiB from its heap and to return freed heap memory
    to the system only beyond 256 MiB free at the top: a training step frees and reallocates megabytes of activations,
    and with glibc's defaults each reallocation page-faulted anew (about 400 faults and 4% of an MNIST
    step on the CPU). A no-op where the C library is not glibc."""
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, 32 << 20)
        mallopt(M_TRIM_THRESHOLD, 256 << 20)
