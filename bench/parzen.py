"""Benchmark of the Parzen window sweep: this project's implementation, the authors' algorithm, the floor.

Default size: 10,000 samples x 10,000 points x 784 dims x 10 sigmas (the paper's Table 1 sweep).
  (a) ganrepro.density.parzen_log_density, the whole sweep;
  (b) the authors' algorithm (parzen_ll.py: per sigma, batches of 100 points, broadcast differences,
      logsumexp), timed on a slice of batches and scaled to the sweep;
  (c) the floor: one float32 matrix product of the sweep's shape at the rate measured here, plus one
      exp-and-sum pass over the distance matrix per sigma.
Peak memory is the process's resident high-water mark (resource.getrusage ru_maxrss), read after
each part; (a) runs first, so its increase over the data's is the implementation's own.

    OMP_NUM_THREADS=2 python bench/parzen.py [--threads N] [--quick] [--data mnist.npz:x_test]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ganrepro.arrays import load_matrix
from ganrepro.density import BLOCK_VALUES, parzen_log_density
from ganrepro.paper import paper_grid

AUTHORS_BATCH = 100


def peak_mb() -> float:
    """Resident-set high-water mark of this process, MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of one call, and its result."""
    began = time.perf_counter()
    result = fn()
    return time.perf_counter() - began, result


def make_data(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """(samples, points): uniform random in [0, 1], or the first rows of a real data file."""
    if args.data:
        rows = torch.from_numpy(load_matrix(args.data))
        if len(rows) < args.n_samples + args.n_points:
            raise SystemExit(f"{args.data} has {len(rows)} rows; need {args.n_samples + args.n_points}")
        return rows[: args.n_samples].clone(), rows[args.n_samples : args.n_samples + args.n_points].clone()
    g = torch.Generator().manual_seed(0)
    return torch.rand(args.n_samples, args.dim, generator=g), torch.rand(args.n_points, args.dim, generator=g)


def authors_batch(x: torch.Tensor, mu: torch.Tensor, sigma: float) -> torch.Tensor:
    """parzen_ll.py's theano_parzen for one batch, in torch: broadcast differences, then logmeanexp."""
    a = (x[:, None, :] - mu[None, :, :]) / sigma
    e = -0.5 * (a**2).sum(2)
    m = e.max(1).values
    return m + torch.log(torch.exp(e - m[:, None]).mean(1)) - mu.shape[1] * math.log(sigma * math.sqrt(2 * math.pi))


def floor_passes(samples: torch.Tensor, points: torch.Tensor) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """The floor's two parts: one float32 product points @ samples.T, and one exp-and-sum pass over
    a matrix of that size (in the same cache-sized blocks as (a), arguments in [-5, 0]: the fast case)."""
    out = torch.empty(len(points), len(samples))
    args = torch.rand(len(points), len(samples)).mul_(-5.0)
    rows = max(1, BLOCK_VALUES // len(samples))
    work = torch.empty(rows, len(samples))

    def exp_sum() -> None:
        for r in range(0, len(args), rows):
            block = args[r : r + rows]
            torch.exp(block, out=work[: len(block)])
            work[: len(block)].sum(1)

    return (lambda: torch.mm(points, samples.T, out=out)), exp_sum


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, help="torch threads (default: torch's, i.e. OMP_NUM_THREADS)")
    p.add_argument("--quick", action="store_true", help="2,000 samples x 2,000 points: a smoke run")
    p.add_argument("--data", help="real data (file.npz:key): first rows are samples, the next ones points")
    p.add_argument("--authors-batches", type=int, default=1, help="batches of 100 points timed for (b)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.n_samples = args.n_points = 2000 if args.quick else 10_000
    args.dim = 784
    sigmas = paper_grid()
    samples, points = make_data(args)
    n, m, d = len(samples), len(points), samples.shape[1]
    print(
        f"Parzen sweep: {n} samples x {m} points x {d} dims x {len(sigmas)} sigmas, "
        f"{'data ' + args.data if args.data else 'uniform random data'}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    mem_data = peak_mb()
    load_before = os.getloadavg()[0]

    def ours() -> np.ndarray:
        return parzen_log_density(points, samples, sigmas)

    ours()  # warm-up, and (a)'s memory before anything else is allocated
    mem_ours = peak_mb()
    mm, exp_sum = floor_passes(samples, points)
    rounds = [(seconds(ours)[0], seconds(mm)[0], seconds(exp_sum)[0]) for _ in range(args.repeats)]
    t_ours, t_mm, t_exp = (statistics.median(column) for column in zip(*rounds))
    t_floor = t_mm + len(sigmas) * t_exp
    gflops = 2 * n * m * d / t_mm / 1e9

    x = points[:AUTHORS_BATCH]
    ours_slice = parzen_log_density(x, samples, sigmas[:1])[0]
    timings = [seconds(lambda: authors_batch(x, samples, sigmas[0])) for _ in range(args.authors_batches)]
    t_batch = statistics.median(t for t, _ in timings)
    t_authors = t_batch * math.ceil(m / AUTHORS_BATCH) * len(sigmas)
    mem_authors = peak_mb()
    diff = float(np.abs(timings[-1][1].double().numpy() - ours_slice).max())

    print(
        f"load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; "
        f"(a) and (c) timed in {args.repeats} interleaved rounds, medians shown"
    )
    print(f"(a) this implementation : {t_ours:8.2f} s")
    print(
        f"(b) authors' algorithm  : {t_authors:8.1f} s  ({t_batch:.2f} s per batch of {AUTHORS_BATCH} points "
        f"and sigma, median of {args.authors_batches}, x {math.ceil(m / AUTHORS_BATCH)} batches x {len(sigmas)} sigmas)"
    )
    print(
        f"(c) floor               : {t_floor:8.2f} s  (matmul {t_mm:.2f} s at {gflops:.0f} GFLOP/s "
        f"+ {len(sigmas)} x exp-and-sum {t_exp:.3f} s)"
    )
    print(f"ratio (a)/(c) = {t_ours / t_floor:.2f}  (target <= 1.5)")
    print(f"ratio (b)/(a) = {t_authors / t_ours:.0f}  (target >= 100)")
    print(f"max |(a) - (b)| on the timed batch at sigma {sigmas[0]:.3f}: {diff:.1e} nats")
    print(
        f"peak RSS (ru_maxrss): data {mem_data:.0f} MB; after (a) {mem_ours:.0f} MB "
        f"(+{mem_ours - mem_data:.0f} MB for the sweep); after (b) {mem_authors:.0f} MB"
    )


if __name__ == "__main__":
    main()
