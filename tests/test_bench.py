"""The training-step bench runs end to end on a tiny budget and counts the step's FLOPs right."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def paper_mnist_step_flop(
    m: int = 100, z: int = 100, g=(1200, 1200), d_in: int = 784, d_units: int = 240, pieces: int = 5
) -> int:
    """Matrix-product FLOPs of one simultaneous update, counted by hand: G forward, D forward on
    2m rows, D backward (weight products; input products of every layer, of the first layer for
    the m fakes only: the real rows' input gradient is not needed), G backward (weight products,
    input products except z's)."""
    g_sizes = [z, *g, d_in]
    d_sizes = [(d_in, d_units * pieces), (d_units, d_units * pieces), (d_units, 1)]
    g_fwd = sum(2 * m * a * b for a, b in zip(g_sizes[:-1], g_sizes[1:]))
    d_fwd = sum(2 * 2 * m * a * b for a, b in d_sizes)
    d_bwd = 2 * d_fwd - 2 * m * d_in * d_units * pieces
    g_bwd = g_fwd + sum(2 * m * a * b for a, b in zip(g_sizes[1:-1], g_sizes[2:]))
    return g_fwd + d_fwd + d_bwd + g_bwd


def test_train_throughput_bench_prints_its_ratios(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "train_throughput.py"),
            "--steps",
            "2",
            "--repeats",
            "1",
            "--epoch-examples",
            "1000",
            "--epoch-repeats",
            "1",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        timeout=300,
    ).stdout
    flop = re.search(r"matmul FLOP per step: ours ([\d.]+) GFLOP", out)
    assert flop and abs(float(flop.group(1)) - paper_mnist_step_flop() / 1e9) < 0.0005, out
    assert float(re.search(r"ratio \(a\) vs floor: ([\d.]+)%", out).group(1)) > 0, out
    assert float(re.search(r"ratio \(a\) / \(b\) examples/s: ([\d.]+)x", out).group(1)) > 0, out
    assert re.search(r"\(d\) one epoch of 10 steps: .* overhead [+-][\d.]+%", out), out
