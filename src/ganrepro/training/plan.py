"""The training plan: which models a run will train, on which device, and about how long each takes,
from a few timed steps of each model on this device times its budget. The workflow prints it before
any job starts and the report shows it."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ganrepro import paths
from ganrepro.data.sources import MNIST_TRAIN
from ganrepro.device import resolve_device, synchronize
from ganrepro.gan_config import TrainConfig
from ganrepro.io import read_json, write_json
from ganrepro.training.gan import GAN

# Shape of a training example, classes and training examples of the built-in image sets (the
# paper's splits), for a plan made before the data is prepared; prepared data overrides them.
KNOWN_SHAPES: dict[str, tuple[int, int, int | None]] = {
    "mnist": (784, 10, MNIST_TRAIN),
    "fashion-mnist": (784, 10, MNIST_TRAIN),
    "cifar10": (3072, 10, 40_000),
    "tfd": (2304, 7, None),
    "toy1d": (1, 0, None),
    "ring": (2, 0, None),
}
WARMUP_STEPS, MIN_TIMED_STEPS, MAX_TIMED_STEPS, MIN_TIMED_SECONDS = 2, 3, 50, 0.5


@dataclass(frozen=True)
class Job:
    dataset: str
    variant: str  # "" or "cond_"
    seed: int
    cfg: TrainConfig


@dataclass(frozen=True)
class Estimate:
    model: str
    device: str
    epochs: int
    steps: int | None
    step_seconds: float | None
    hours: float | None


def example_shape(dataset: str, info: Path, toy_size: int) -> tuple[int, int, int | None]:
    """(data_dim, classes, training examples) from the prepared info.json, else the known sizes."""
    if info.is_file():
        meta = read_json(info)
        return math.prod(meta["example_shape"]), int(meta.get("num_classes") or 0), int(meta["n_train"])
    dim, classes, n_train = KNOWN_SHAPES.get(dataset, (0, 0, None))
    return dim, classes, toy_size if dataset in ("toy1d", "ring") else n_train


def step_seconds(cfg: TrainConfig, data_dim: int, n_classes: int, device: torch.device) -> float:
    """Median seconds of one training iteration of this model on random data, after warm-up steps,
    over at least MIN_TIMED_STEPS steps and MIN_TIMED_SECONDS."""
    gan = GAN(cfg, data_dim, n_classes, device)
    batch = cfg.batch_size
    labels = torch.randint(n_classes, (batch,), device=device) if gan.n_classes else None
    batches = [(torch.rand(batch, data_dim, device=device), labels) for _ in range(cfg.k)]
    times: list[float] = []
    for i in range(WARMUP_STEPS + MAX_TIMED_STEPS):
        synchronize(device)
        began = time.perf_counter()
        gan.iteration(batches, epoch=0)
        synchronize(device)
        if i >= WARMUP_STEPS:
            times.append(time.perf_counter() - began)
            if len(times) >= MIN_TIMED_STEPS and sum(times) >= MIN_TIMED_SECONDS:
                break
    return sorted(times)[len(times) // 2]


def estimate(job: Job, info: Path, toy_size: int, timed: dict[tuple[str, str], float]) -> Estimate:
    """The job's budget times its model's step time; `timed` keeps the step time of each (dataset,
    variant) already measured, since seeds share the model."""
    cfg = job.cfg.replace(seed=job.seed)
    device = resolve_device(cfg.device)
    name = f"{job.dataset} {'conditional ' if job.variant else ''}seed {job.seed}"
    dim, classes, n_train = example_shape(job.dataset, info, toy_size)
    if not dim or not n_train:
        return Estimate(name, str(device), cfg.epochs, None, None, None)
    if cfg.train_limit:
        n_train = min(n_train, cfg.train_limit)
    steps = cfg.epochs * (n_train // (cfg.batch_size * cfg.k))
    key = (job.dataset, job.variant)
    if key not in timed:
        timed[key] = step_seconds(cfg, dim, classes, device)
    return Estimate(name, str(device), cfg.epochs, steps, timed[key], steps * timed[key] / 3600)


def make_plan(jobs: Iterable[Job], toy_size: int) -> list[Estimate]:
    torch.manual_seed(0)
    timed: dict[tuple[str, str], float] = {}
    return [estimate(j, Path(paths.prepared_info(j.dataset)), toy_size, timed) for j in jobs]


def format_plan(estimates: list[Estimate]) -> str:
    """A few lines for the terminal: one per model and the total."""
    if not estimates:
        return "[plan] no model to train"
    lines = [
        "[plan] models to train (estimate: a few timed steps on this device x the budget; "
        "validation and evaluation not included):"
    ]
    for e in estimates:
        cost = (
            f"{e.steps:,} steps x {e.step_seconds * 1000:.1f} ms = {_duration(e.hours)}"
            if e.hours is not None
            else "unknown until its data is prepared"
        )
        lines.append(f"[plan]   {e.model:<28} on {e.device:<6} {e.epochs:>5} epochs, {cost}")
    known = [e.hours for e in estimates if e.hours is not None]
    lines.append(
        f"[plan] total about {_duration(sum(known))} one after another"
        + (" (plus the models of unknown size)" if len(known) < len(estimates) else "")
    )
    return "\n".join(lines)


def write_plan(path: Path, estimates: list[Estimate]) -> None:
    write_json(
        path,
        {
            "models": [asdict(e) for e in estimates],
            "total_hours": sum(e.hours for e in estimates if e.hours is not None),
        },
    )


def _duration(hours: float) -> str:
    return f"{hours:.1f} h" if hours >= 1 else f"{hours * 60:.1f} min"
