"""train_log.csv: the training metrics per `log_every` steps (drawn by `dvc plots` and the report),
and the progress line of a run without a terminal."""

from __future__ import annotations

import logging
from pathlib import Path

from ganrepro.io import write_text
from ganrepro.training.objective import METRIC_NAMES

log = logging.getLogger(__name__)
NAME = "train_log.csv"  # in the run folder


class MetricLog:
    """Per-interval training metrics as CSV. The rows are kept in the checkpoint and `save`
    rewrites the file atomically at every checkpoint, so the file ends where the checkpoint does:
    a killed run leaves no row its resumption writes again, and a resumed run rebuilds the file
    when the workflow removed it (Snakemake deletes a job's outputs first)."""

    FIELDS = ("step", "epoch", *METRIC_NAMES, "lr", "momentum", "examples_per_s")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []  # CSV rows without the header

    def add(self, row: dict[str, float]) -> None:
        self.lines.append(",".join(_csv_value(row[k]) for k in self.FIELDS))

    def save(self) -> None:
        write_text(self.path, "\n".join([",".join(self.FIELDS), *self.lines]) + "\n")


def log_progress(row: dict[str, float], total: int) -> None:
    log.info(
        f"step {row['step']}/{total} epoch {row['epoch']:.2f} d_loss {row['d_loss']:.4f} "
        f"g_loss {row['g_loss']:.4f} D(x) {row['d_real']:.3f} D(G(z)) {row['d_fake']:.3f} "
        f"lr {row['lr']:.4g} {row['examples_per_s']:.0f} ex/s"
    )


def _csv_value(value: float) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
