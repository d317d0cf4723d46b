"""The one place that decides which device computations run on, and how the host allocates."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import sys
from collections.abc import Iterator

import torch

from ganrepro.errors import UserError

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """The `--device` option of every step that computes with torch."""
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA, else Apple MPS, else CPU), cpu, cuda, cuda:N or mps (default: auto)",
    )


def resolve_device(name: str = "auto") -> torch.device:
    """Map 'auto' to CUDA, then Apple MPS, then CPU; an explicit name ('cpu', 'cuda:1', 'mps') must be
    a device this machine has (a UserError saying what it has otherwise)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"device '{name}' (the device parameter or --device): use auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"device '{name}' was requested but CUDA is not available here; use auto or cpu")
        if device.index is not None and device.index >= count:
            raise UserError(f"device '{name}': this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    if device.type == "mps" and not _mps_available():
        raise UserError(f"device '{name}' was requested but Apple MPS is not available here; use auto or cpu")
    return device


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


@contextlib.contextmanager
def seeded(device: torch.device, seed: int) -> Iterator[None]:
    """torch's global RNG (and CUDA's on a CUDA `device`) seeded with `seed` inside the block, and put
    back as it was after it, so that a seeded side computation leaves the caller's streams alone."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


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
