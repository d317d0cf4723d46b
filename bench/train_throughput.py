"""Training-step throughput of the paper's MNIST GAN, measured side by side in one run.

(a) this project's step (`ganrepro.training.gan.GAN.iteration`: data as a device tensor indexed by a
    permutation, the authors' simultaneous update with one D pass on the fakes);
(b) a conventional loop in the style of popular PyTorch GAN examples (TensorDataset + DataLoader,
    a D step on detached fakes, then a G step through D again, torch.optim.SGD);
(c) the floor: the same step's matrix products, replayed alone with the same shapes and strides at
    the same thread count (the float32 matmul rate of those shapes);
(d) a whole epoch through `Trainer.run` (logging, progress lines, checkpoint) against the bare steps.

On a GPU the bench runs unchanged (`--device auto` picks it): every timing synchronises the device
before reading the clock, and nothing inside the timed steps does.

Usage: python bench/train_throughput.py [--threads 2] [--steps 20] [--repeats 15] [--device auto]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import DataLoader, TensorDataset

from ganrepro.config import load_params, train_config
from ganrepro.device import keep_freed_memory, resolve_device, synchronize
from ganrepro.gan_config import TrainConfig
from ganrepro.io import save_npz
from ganrepro.models.networks import build_models
from ganrepro.training.gan import GAN
from ganrepro.training.loop import Trainer

ROOT = Path(__file__).resolve().parents[1]
MATMULS = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.addmm.out}


class MatmulRecorder(TorchDispatchMode):
    """Records the operands' shapes and strides of every matrix product executed."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in MATMULS:
            mats = args[-2:]
            self.calls.append((func, [(m.shape, m.stride()) for m in mats], args[0].shape if len(args) == 3 else None))
        return func(*args, **(kwargs or {}))


def flops_of(calls: list[tuple]) -> int:
    return sum(2 * a[0][0] * a[0][1] * b[0][1] for _, (a, b), _ in calls)


def replay(calls: list[tuple], device: torch.device) -> callable:
    """A function running the recorded matrix products alone, on fresh operands of the same layout."""
    ops = []
    for func, ((sa, ta), (sb, tb)), bias in calls:
        a = torch.empty_strided(sa, ta, device=device).uniform_()
        b = torch.empty_strided(sb, tb, device=device).uniform_()
        if func is torch.ops.aten.addmm.default:
            c = torch.zeros(bias, device=device)
            ops.append(lambda a=a, b=b, c=c: torch.addmm(c, a, b))
        elif func is torch.ops.aten.addmm.out:  # the optimizer's product into the momentum
            c = torch.zeros(bias, device=device)
            ops.append(lambda a=a, b=b, c=c: torch.addmm(c, a, b, beta=0.5, alpha=-0.1, out=c))
        else:
            ops.append(lambda a=a, b=b: torch.mm(a, b))
    return lambda: [op() for op in ops]


def time_per_call(fn: callable, n: int, repeats: int, device: torch.device) -> float:
    """Median over `repeats` of the mean seconds per call of `fn` over n calls (after a warm-up);
    the device is synchronised before each clock reading only."""
    for _ in range(max(3, n // 10)):
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        t = time.perf_counter()
        for _ in range(n):
            fn()
        synchronize(device)
        times.append((time.perf_counter() - t) / n)
    return statistics.median(times)


def conventional_loop(cfg: TrainConfig, x: torch.Tensor, gan: GAN):
    """The common PyTorch GAN example: DataLoader batches of host data moved to the device, D on real
    then on detached fakes, then G through D again, torch.optim.SGD with momentum (on models of its
    own: plain autograd)."""
    G, D = (m.to(gan.device) for m in build_models(cfg, x.shape[1]))
    opt_g = torch.optim.SGD(G.parameters(), lr=cfg.lr, momentum=0.5)
    opt_d = torch.optim.SGD(D.parameters(), lr=cfg.lr, momentum=0.5)
    loader = DataLoader(TensorDataset(x.cpu()), batch_size=cfg.batch_size, shuffle=True, drop_last=True)
    it = iter(loader)
    ones = torch.ones(cfg.batch_size, device=gan.device)
    zeros = torch.zeros(cfg.batch_size, device=gan.device)

    def step() -> None:
        nonlocal it
        try:
            (xb,) = next(it)
        except StopIteration:
            it = iter(loader)
            (xb,) = next(it)
        xb = xb.to(gan.device).float() / 255.0
        z = gan.noise(len(xb))
        fake = G(z)
        opt_d.zero_grad()
        d_loss = F.binary_cross_entropy_with_logits(D(xb), ones) + F.binary_cross_entropy_with_logits(
            D(fake.detach()), zeros
        )
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = F.binary_cross_entropy_with_logits(D(fake), ones)
        g_loss.backward()
        opt_g.step()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20, help="steps per timing repeat")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--epoch-examples", type=int, default=50000, help="training examples in the whole-epoch test")
    ap.add_argument("--epoch-repeats", type=int, default=3)
    ap.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, ...")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as Trainer does; the conventional loop and the floor run in this process too
    torch.manual_seed(0)
    device = resolve_device(args.device)
    cfg = train_config(load_params(ROOT / "params.yaml"), "mnist").replace(
        device=str(device), seed=0, epochs=1, valid_every=0, log_every=100, checkpoint_every=500
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = write_bench_data(Path(tmp) / "bench.npz", args.epoch_examples)
        measure(cfg, data, Path(tmp), args)


def write_bench_data(path: Path, n: int) -> Path:
    """An MNIST-shaped dataset file of n random uint8 images (the step's cost does not depend on content)."""
    x = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8).numpy()
    meta = {"dataset": "bench", "kind": "image", "example_shape": [1, 28, 28], "unit_scale": 255, "num_classes": 10}
    save_npz(
        path,
        x_train=x,
        y_train=np.zeros(n, np.int64),
        x_valid=x[:100],
        y_valid=np.zeros(100, np.int64),
        x_test=x[:100],
        y_test=np.zeros(100, np.int64),
        meta=np.array(json.dumps(meta)),
    )
    return path


def side_by_side(cfg: TrainConfig, trainer: Trainer, steps: int, repeats: int) -> dict[str, float]:
    """(a) the trainer's step, (b) the conventional loop and (c) the floor of (a)'s matrix products,
    timed in `repeats` interleaved rounds of `steps` calls on the trainer's device: seconds per step
    (medians), the matrix-product FLOPs of (a) and (b), and the medians of the paired ratios."""
    gan, device = trainer.gan, trainer.gan.device
    count = itertools.count()

    def ours() -> None:
        """One iteration as the training loop runs it: a batch indexed from the data tensor on the device."""
        gan.iteration(trainer.batches(next(count)), epoch=1)

    with MatmulRecorder() as rec:
        ours()
    floor_fn = replay(rec.calls, device)
    conv_step = conventional_loop(cfg, trainer.x_train, gan)
    with MatmulRecorder() as rec_conv:
        conv_step()

    # Interleave the measurements so that machine noise hits all of them alike; the ratios are the
    # medians of the ratios within each repeat (measured seconds apart), the times the medians.
    t_ours, t_conv, t_floor = [], [], []
    for _ in range(repeats):
        t_floor.append(time_per_call(floor_fn, steps, 1, device))
        t_ours.append(time_per_call(ours, steps, 1, device))
        t_conv.append(time_per_call(conv_step, steps, 1, device))
    return {
        "flops": flops_of(rec.calls),
        "flops_conventional": flops_of(rec_conv.calls),
        "t_ours": statistics.median(t_ours),
        "t_conventional": statistics.median(t_conv),
        "t_floor": statistics.median(t_floor),
        "of_floor": statistics.median(f / o for f, o in zip(t_floor, t_ours)),
        "speedup": statistics.median(c / o for c, o in zip(t_conv, t_ours)),
    }


def measure(cfg: TrainConfig, data: Path, tmp: Path, args: argparse.Namespace) -> None:
    trainer = Trainer(cfg, data, tmp / "steps")
    device = trainer.device
    r = side_by_side(cfg, trainer, args.steps, args.repeats)
    flops, of_floor, speedup = r["flops"], r["of_floor"], r["speedup"]
    t_ours, t_conv, t_floor = r["t_ours"], r["t_conventional"], r["t_floor"]
    b = cfg.batch_size
    print(
        f"device={device}  threads={args.threads}  batch={b}  "
        "paper MNIST model (G 100-1200-1200-784, D maxout 240x5 x2)"
    )
    print(f"matmul FLOP per step: ours {flops / 1e9:.3f} GFLOP, conventional {r['flops_conventional'] / 1e9:.3f} GFLOP")
    print(f"(c) floor (same matmuls alone): {t_floor * 1e3:7.2f} ms/step  {flops / t_floor / 1e9:6.1f} GFLOP/s")
    print(f"(a) this project's step:        {t_ours * 1e3:7.2f} ms/step  {b / t_ours:8.0f} examples/s")
    print(f"(b) conventional loop:          {t_conv * 1e3:7.2f} ms/step  {b / t_conv:8.0f} examples/s")
    print(
        f"ratio (a) vs floor: {of_floor:.1%} of the matmul rate (goal >= 85%; median of {args.repeats} paired repeats)"
    )
    print(f"ratio (a) / (b) examples/s: {speedup:.2f}x (goal >= 1.2x)")

    # (d) A whole epoch with logging, progress lines and checkpointing, against bare steps.
    bare, full = [], []
    for r in range(args.epoch_repeats):  # alternated, as above
        trainer = Trainer(cfg, data, tmp / f"bare{r}")
        synchronize(device)
        t = time.perf_counter()
        for s in range(trainer.steps_per_epoch):
            trainer.gan.iteration(trainer.batches(s), 0)
        synchronize(device)
        bare.append(time.perf_counter() - t)
        trainer = Trainer(cfg, data, tmp / f"full{r}")
        synchronize(device)
        t = time.perf_counter()
        trainer.run(show_progress=False)
        synchronize(device)
        full.append(time.perf_counter() - t)
    overhead = statistics.median(f / b - 1 for f, b in zip(full, bare))
    print(
        f"(d) one epoch of {trainer.steps_per_epoch} steps: bare {statistics.median(bare):.2f} s, with "
        f"logging/progress/checkpoint {statistics.median(full):.2f} s: overhead {overhead:+.1%} "
        f"(goal within 5%; median of {args.epoch_repeats} paired repeats)"
    )


if __name__ == "__main__":
    main()
