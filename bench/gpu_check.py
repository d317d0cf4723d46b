"""GPU check: the paper's MNIST model on a device against the CPU, in one process; one JSON and one log.

(1) step: this project's training step (examples/s), its ratio to the floor of its own matrix products
    replayed alone on the device, and a conventional autograd loop, timed side by side as
    bench/train_throughput.py does;
(2) training: a short real training of MNIST on the device and on the CPU from one seed, with the
    noise and minibatch order drawn on the host for both and dropout off (networks.dropout_mask draws
    its masks differently on the CPU and elsewhere): the losses of the first steps agree to float32
    tolerance, and so do the per-pixel means and SDs of the two generators' samples of shared noise.
    Training amplifies rounding differences (a 1e-7 relative change of the initial weights moved the
    losses by 1e-7 over 100 steps, 2e-3 by step 200, by order 1 by step 300): hence 100 steps;
(3) Parzen: 10,000 samples of one generator (the CPU-trained one of (2)) drawn on each side from
    the same noise and scored with the paper's protocol (evaluation.parzen.evaluate: sigma chosen on
    validation, test mean log-likelihood): the two scores agree to 0.01 nats; the times of both;
(4) host synchronisation: the training steps run under torch.cuda.set_sync_debug_mode("warn") and
    every synchronising operation they call is reported (a planted .item() checks the detector);
    not applicable on the CPU.

It runs from the source tree with torch, numpy, scipy, PyYAML and tqdm, and imports no snakemake, dvc
or jsonschema (the JSON records which of them were imported: none). With --device cpu every part runs
with the CPU as the device (the comparisons are then CPU against CPU), which the test suite does on
tiny budgets. A part that fails is recorded (its traceback under its key) and the others still run;
the JSON is rewritten after every part. The exit status is 1 when a part or a check fails, or one of
those modules was imported.

    PYTHONPATH=src python3 bench/gpu_check.py --data MNIST --out DIR [--device auto]

MNIST is a folder with the four official idx .gz files (the dataset mirror's layout, data/raw/mnist)
or a prepared dataset.npz (data/prepared/mnist/dataset.npz); the paper's splits either way.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import train_throughput  # the CPU bench beside this file: its recorder, floor and conventional loop
from torch import nn

from ganrepro.config import load_params, train_config
from ganrepro.data.formats import gunzip, parse_idx
from ganrepro.data.sources import IDX_FILES, mnist_split
from ganrepro.device import keep_freed_memory, resolve_device, synchronize
from ganrepro.evaluation.parzen import evaluate
from ganrepro.gan_config import TrainConfig
from ganrepro.io import write_json
from ganrepro.models.networks import build_models, sample_noise
from ganrepro.training.gan import GAN
from ganrepro.training.loop import Trainer

ROOT = Path(__file__).resolve().parents[1]
ABSENT_ON_DEVICE = ("snakemake", "dvc", "jsonschema")  # not installed on the GPU machine
CPU = torch.device("cpu")


class Log:
    """Lines printed and appended to the log file as they come (a run cut short keeps its lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("")

    def __call__(self, text: str) -> None:
        print(text, flush=True)
        with self.path.open("a") as f:
            f.write(text + "\n")


def load_mnist(source: Path) -> dict[str, np.ndarray]:
    """x_<split> (uint8 rows of 784) and y_<split> for train, valid and test, from the idx files of a
    folder or from a prepared .npz."""
    if source.is_dir():
        arrays = mnist_split(*(parse_idx(gunzip(source / f), source / f).copy() for f in IDX_FILES))
    else:
        with np.load(source) as data:
            arrays = {k: data[k] for k in ("x_train", "y_train", "x_valid", "y_valid", "x_test", "y_test")}
    return {k: (v.reshape(len(v), -1) if k.startswith("x") else v.astype(np.int64)) for k, v in arrays.items()}


def write_prepared(arrays: dict[str, np.ndarray], path: Path) -> Path:
    """The arrays as a prepared-dataset file (the data package's format), which Trainer reads."""
    meta = {"dataset": "mnist", "kind": "image", "example_shape": [1, 28, 28], "unit_scale": 255, "num_classes": 10}
    images = {k: v.reshape(len(v), 1, 28, 28) if k.startswith("x") else v for k, v in arrays.items()}
    np.savez(path, **images, meta=np.array(json.dumps(meta)))  # uncompressed: written and read at once
    return path


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """Seconds of one call with the device's queued work included, and its result."""
    synchronize(device)
    began = time.perf_counter()
    result = fn()
    synchronize(device)
    return time.perf_counter() - began, result


# -- (1) the training step side by side -----------------------------------------------------------
def check_step(cfg: TrainConfig, trainer: Trainer, args: argparse.Namespace, log: Log) -> dict[str, Any]:
    r = train_throughput.side_by_side(cfg, trainer, args.steps, args.repeats)
    b = cfg.batch_size
    out = {
        "batch_size": b,
        "matmul_gflop_per_step": r["flops"] / 1e9,
        "floor_ms": r["t_floor"] * 1e3,
        "floor_gflops": r["flops"] / r["t_floor"] / 1e9,
        "ours_ms": r["t_ours"] * 1e3,
        "ours_examples_per_s": b / r["t_ours"],
        "conventional_ms": r["t_conventional"] * 1e3,
        "conventional_examples_per_s": b / r["t_conventional"],
        "ratio_of_floor": r["of_floor"],
        "speedup_over_conventional": r["speedup"],
        "steps_per_repeat": args.steps,
        "repeats": args.repeats,
    }
    log(
        f"(1) step, batch {b}, {out['matmul_gflop_per_step']:.3f} GFLOP of matrix products; medians of "
        f"{args.repeats} interleaved repeats of {args.steps} steps"
    )
    log(f"    floor (matmuls alone): {out['floor_ms']:8.3f} ms/step  {out['floor_gflops']:9.1f} GFLOP/s")
    log(f"    this project's step:   {out['ours_ms']:8.3f} ms/step  {out['ours_examples_per_s']:9.0f} examples/s")
    log(
        f"    conventional loop:     {out['conventional_ms']:8.3f} ms/step  "
        f"{out['conventional_examples_per_s']:9.0f} examples/s"
    )
    log(
        f"    ratio to the floor {out['ratio_of_floor']:.1%}; "
        f"{out['speedup_over_conventional']:.2f}x the conventional loop's examples/s"
    )
    return out


# -- (2) a short training on the device and on the CPU ---------------------------------------------
class HostNoiseGAN(GAN):
    """The GAN with its noise drawn by a seeded host generator and copied to its device: a CPU run and
    a device run then train on the same z (a device's own generator draws other numbers)."""

    def __init__(
        self, cfg: TrainConfig, data_dim: int, device: torch.device, pixel_means: torch.Tensor, seed: int
    ) -> None:
        super().__init__(cfg, data_dim, 0, device, pixel_means)
        self.host_rng = torch.Generator().manual_seed(seed)

    def noise(self, n: int) -> torch.Tensor:
        return sample_noise(n, self.cfg.z_dim, self.cfg.noise, CPU, self.host_rng).to(self.device)


def host_order(n: int, rows_per_step: int, steps: int, seed: int) -> torch.Tensor:
    """The rows of every step, epoch after epoch of seeded host permutations (as Trainer draws them on its device)."""
    rng = torch.Generator().manual_seed(seed)
    per_epoch = n // rows_per_step
    epochs = -(-steps // per_epoch)
    return torch.cat([torch.randperm(n, generator=rng)[: per_epoch * rows_per_step] for _ in range(epochs)])


def short_training(
    cfg: TrainConfig, x_train: np.ndarray, device: torch.device, steps: int, seed: int
) -> tuple[np.ndarray, nn.Module, float]:
    """`steps` iterations from `seed`: the metrics of every step (steps, 4), the generator, the seconds."""
    x = torch.from_numpy(x_train).to(device)
    pixel_means = torch.from_numpy(x_train).float().mean(0) / 255.0  # on the host for both: one bias init
    torch.manual_seed(seed)  # the initial weights, drawn on the host
    gan = HostNoiseGAN(cfg, x.shape[1], device, pixel_means, seed)
    b, k = cfg.batch_size, cfg.k
    order = host_order(len(x), b * k, steps, seed).to(device)
    per_epoch = len(x) // (b * k)

    def run() -> torch.Tensor:
        metrics = []
        for s in range(steps):
            rows = order[s * b * k : (s + 1) * b * k].view(k, b)
            metrics.append(
                gan.iteration([(x.index_select(0, r).float().div_(255.0), None) for r in rows], s // per_epoch)
            )
        return torch.stack(metrics)

    seconds, metrics = timed(run, device)
    return metrics.cpu().double().numpy(), gan.G, seconds


@torch.no_grad()
def draw(G: nn.Module, z: torch.Tensor, device: torch.device, batch: int = 1000) -> torch.Tensor:
    """G's images of the host noise z, computed on `device` in batches (as models.generate does)."""
    G.eval()
    return torch.cat([G(z[i : i + batch].to(device)) for i in range(0, len(z), batch)])


def pixel_stats(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel mean and SD of a set of images, in float64 on the host."""
    x = x.cpu().double()
    return x.mean(0).numpy(), x.std(0).numpy()


def check_training(
    cfg: TrainConfig, arrays: dict[str, np.ndarray], device: torch.device, args: argparse.Namespace, log: Log
) -> tuple[dict[str, Any], nn.Module]:
    cfg = cfg.replace(d_input_keep=1.0, d_hidden_keep=1.0)
    x_train = arrays["x_train"][: args.train_limit or None]
    m_dev, g_dev, s_dev = short_training(cfg, x_train, device, args.train_steps, args.seed)
    m_cpu, g_cpu, s_cpu = short_training(cfg, x_train, CPU, args.train_steps, args.seed)
    loss_dev = np.abs(m_dev[:, :2] - m_cpu[:, :2]).max(1)  # d_loss, g_loss
    first = min(args.agree_steps, args.train_steps)
    exceeding = np.flatnonzero(loss_dev > args.loss_tol)
    z = sample_noise(args.stat_samples, cfg.z_dim, cfg.noise, CPU, torch.Generator().manual_seed(args.seed + 1))
    (mean_dev, sd_dev), (mean_cpu, sd_cpu) = pixel_stats(draw(g_dev, z, device)), pixel_stats(draw(g_cpu, z, CPU))
    out = {
        "steps": args.train_steps,
        "training_examples": len(x_train),
        "dropout": "off (masks are drawn differently on the CPU and elsewhere)",
        "seconds_device": s_dev,
        "seconds_cpu": s_cpu,
        "max_loss_deviation_first_steps": float(loss_dev[:first].max()),
        "first_steps": first,
        "max_loss_deviation_all_steps": float(loss_dev.max()),
        "first_step_beyond_tolerance": int(exceeding[0]) if len(exceeding) else None,
        "loss_tolerance": args.loss_tol,
        "losses_device": m_dev[:, :2].tolist(),
        "losses_cpu": m_cpu[:, :2].tolist(),
        "sample_statistics": {
            "samples": args.stat_samples,
            "mean_of_pixel_means": {"device": float(mean_dev.mean()), "cpu": float(mean_cpu.mean())},
            "mean_of_pixel_sds": {"device": float(sd_dev.mean()), "cpu": float(sd_cpu.mean())},
            "max_pixel_mean_deviation": float(np.abs(mean_dev - mean_cpu).max()),
            "max_pixel_sd_deviation": float(np.abs(sd_dev - sd_cpu).max()),
            "tolerance": args.stat_tol,
        },
    }
    stats = out["sample_statistics"]
    out["losses_agree"] = out["max_loss_deviation_first_steps"] <= args.loss_tol
    out["samples_agree"] = max(stats["max_pixel_mean_deviation"], stats["max_pixel_sd_deviation"]) <= args.stat_tol
    log(
        f"(2) training, {args.train_steps} steps on {len(x_train)} examples from seed {args.seed} (dropout off): "
        f"device {s_dev:.2f} s, cpu {s_cpu:.2f} s"
    )
    log(
        f"    max |loss deviation|: first {first} steps {out['max_loss_deviation_first_steps']:.2e}, all steps "
        f"{out['max_loss_deviation_all_steps']:.2e}, first step (from 0) beyond {args.loss_tol:g}: "
        f"{out['first_step_beyond_tolerance']}"
    )
    log(
        f"    {args.stat_samples} samples of shared noise: mean of pixel means "
        f"{mean_dev.mean():.5f} / {mean_cpu.mean():.5f}, "
        f"of pixel SDs {sd_dev.mean():.5f} / {sd_cpu.mean():.5f} (device / cpu); max deviation per pixel: mean "
        f"{stats['max_pixel_mean_deviation']:.2e}, SD {stats['max_pixel_sd_deviation']:.2e}"
    )
    return out, g_cpu


# -- (3) sampling and the Parzen score ---------------------------------------------------------------
def check_parzen(
    cfg: TrainConfig,
    g_cpu: nn.Module,
    arrays: dict[str, np.ndarray],
    device: torch.device,
    args: argparse.Namespace,
    log: Log,
) -> dict[str, Any]:
    g_dev = build_models(cfg, arrays["x_train"].shape[1])[0].to(device)
    g_dev.load_state_dict(g_cpu.state_dict())
    z = sample_noise(args.parzen_samples, cfg.z_dim, cfg.noise, CPU, torch.Generator().manual_seed(args.seed + 2))
    valid = arrays["x_valid"].astype(np.float32) / 255.0
    test = arrays["x_test"][: args.parzen_test or None].astype(np.float32) / 255.0
    sides = {}
    for name, dev, G in (("device", device, g_dev), ("cpu", CPU, g_cpu)):
        t_sample, x = timed(lambda G=G, dev=dev: draw(G, z, dev), dev)
        t_parzen, score = timed(
            lambda x=x, dev=dev: evaluate(x, valid, test, valid_limit=args.parzen_valid, device=dev), dev
        )
        sides[name] = {"x": x, "sample_seconds": t_sample, "parzen_seconds": t_parzen, "score": score}
    dev_score, cpu_score = sides["device"]["score"], sides["cpu"]["score"]
    out = {
        "samples": args.parzen_samples,
        "valid_points": dev_score["n_valid_used"],
        "test_points": dev_score["n_test"],
        "max_sample_deviation": float((sides["device"]["x"].cpu() - sides["cpu"]["x"]).abs().max()),
        **{
            name: {
                "log_likelihood": s["score"]["log_likelihood"],
                "standard_error": s["score"]["standard_error"],
                "sigma": s["score"]["sigma"],
                "fine_sigma": s["score"]["fine"]["sigma"],
                "fine_log_likelihood": s["score"]["fine"]["log_likelihood"],
                "sample_seconds": s["sample_seconds"],
                "parzen_seconds": s["parzen_seconds"],
            }
            for name, s in sides.items()
        },
        "log_likelihood_deviation": abs(dev_score["log_likelihood"] - cpu_score["log_likelihood"]),
        "fine_log_likelihood_deviation": abs(dev_score["fine"]["log_likelihood"] - cpu_score["fine"]["log_likelihood"]),
        "tolerance": args.parzen_tol,
    }
    out["agrees"] = (
        dev_score["sigma"] == cpu_score["sigma"]
        and dev_score["fine"]["sigma"] == cpu_score["fine"]["sigma"]
        and max(out["log_likelihood_deviation"], out["fine_log_likelihood_deviation"]) < args.parzen_tol
    )
    log(
        f"(3) Parzen, {out['samples']} samples, sigma on {out['valid_points']} validation points, "
        f"{out['test_points']} test points (the CPU-trained generator on both sides, shared noise)"
    )
    for name in ("device", "cpu"):
        s = out[name]
        log(
            f"    {name:6}: {s['log_likelihood']:9.4f} ± {s['standard_error']:.2f} nats at sigma {s['sigma']:.4f} "
            f"(fine {s['fine_log_likelihood']:.4f} at {s['fine_sigma']:.3f}); sampling {s['sample_seconds']:.3f} s, "
            f"Parzen {s['parzen_seconds']:.3f} s"
        )
    log(
        f"    |device - cpu|: {out['log_likelihood_deviation']:.2e} nats "
        f"(fine {out['fine_log_likelihood_deviation']:.2e}); "
        f"max sample deviation {out['max_sample_deviation']:.2e}"
    )
    return out


# -- (4) host synchronisation inside the training steps --------------------------------------------
def check_sync(trainer: Trainer, args: argparse.Namespace, log: Log) -> dict[str, Any]:
    """Training steps as the loop runs them (across an epoch boundary, where the permutation is drawn)
    under the sync debug mode: each synchronising call becomes a warning at its Python line."""
    device = trainer.device
    if device.type != "cuda":
        log(f"(4) host synchronisation inside the steps: not applicable on {device.type}")
        return {"applicable": False, "reason": f"not applicable: the sync debug mode is CUDA's, device {device}"}

    def synchronising_lines(fn: Callable[[], Any]) -> list[str]:
        synchronize(device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                fn()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return [f"{w.filename}:{w.lineno}" for w in caught if "synchroniz" in str(w.message).lower()]

    first = trainer.steps_per_epoch - 1

    def steps() -> None:
        for s in range(first, first + args.sync_steps):
            trainer.gan.iteration(trainer.batches(s), epoch=1)

    control = synchronising_lines(lambda: torch.ones(1, device=device).sum().item())
    found = synchronising_lines(steps)
    out = {
        "applicable": True,
        "steps": args.sync_steps,
        "epoch_boundary_included": args.sync_steps > 1,
        "synchronising_calls": len(found),
        "where": sorted(set(found)),
        "control_detected": bool(control),
    }
    out["no_sync"] = out["control_detected"] and not found
    log(
        f"(4) host synchronisation in {args.sync_steps} steps (across an epoch boundary): {len(found)} synchronising "
        f"calls{' at ' + ', '.join(out['where']) if found else ''}; the detector "
        f"{'caught' if control else 'MISSED'} a planted .item()"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of MNIST's idx .gz files, or a prepared .npz")
    ap.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json and gpu_check.log")
    ap.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cuda, cpu, ...")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-limit", type=int, default=0, help="training examples used (0 = all 50,000)")
    ap.add_argument("--steps", type=int, default=50, help="(1) steps per timing repeat")
    ap.add_argument("--repeats", type=int, default=15, help="(1) interleaved timing repeats")
    ap.add_argument("--train-steps", type=int, default=100, help="(2) training steps on each side")
    ap.add_argument("--agree-steps", type=int, default=20, help="(2) first steps whose losses must agree")
    ap.add_argument("--loss-tol", type=float, default=1e-4, help="(2) max |loss deviation| in those steps")
    ap.add_argument("--stat-samples", type=int, default=10_000, help="(2) samples for the pixel statistics")
    ap.add_argument("--stat-tol", type=float, default=1e-3, help="(2) max deviation of a pixel's mean or SD")
    ap.add_argument("--parzen-samples", type=int, default=10_000, help="(3) samples (the protocol's 10,000)")
    ap.add_argument("--parzen-valid", type=int, default=1000, help="(3) validation points choosing sigma")
    ap.add_argument("--parzen-test", type=int, default=0, help="(3) test points scored (0 = all 10,000)")
    ap.add_argument("--parzen-tol", type=float, default=0.01, help="(3) max |score deviation| in nats")
    ap.add_argument("--sync-steps", type=int, default=100, help="(4) steps run under the sync debug mode")
    args = ap.parse_args()
    began = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()
    args.out.mkdir(parents=True, exist_ok=True)
    log = Log(args.out / "gpu_check.log")
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    log(
        f"gpu check: device {device} ({name}), torch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"{torch.get_num_threads()} CPU threads, data {args.data}"
    )
    cfg = train_config(load_params(ROOT / "params.yaml"), "mnist").replace(
        device=str(device), seed=args.seed, epochs=1, valid_every=0, train_limit=args.train_limit
    )
    arrays = load_mnist(args.data)
    report: dict[str, Any] = {
        "device": str(device),
        "device_name": name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cpu_threads": torch.get_num_threads(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "seconds": {},
    }

    def part(key: str, fn: Callable[[], dict[str, Any]]) -> None:
        """Run one part; on a machine lent once, a part that fails must not cost the others' results,
        so its error is recorded and the JSON rewritten after every part."""
        t = time.perf_counter()
        try:
            report[key] = fn()
        except Exception:
            log(f"{key}: FAILED\n{traceback.format_exc()}")
            report[key] = {"error": traceback.format_exc()}
        report["seconds"][key] = time.perf_counter() - t
        write_json(args.out / "gpu_check.json", report)

    trained: dict[str, nn.Module] = {}

    def training() -> dict[str, Any]:
        out, trained["G"] = check_training(cfg, arrays, device, args, log)
        return out

    def parzen() -> dict[str, Any]:
        if "G" not in trained:
            raise RuntimeError("no generator to sample: part (2) failed")
        return check_parzen(cfg, trained["G"], arrays, device, args, log)

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data if args.data.is_file() else write_prepared(arrays, Path(tmp) / "mnist.npz")
        trainer = Trainer(cfg, data, Path(tmp) / "step")
        part("step", lambda: check_step(cfg, trainer, args, log))
        part("training", training)
        part("parzen", parzen)
        part("sync", lambda: check_sync(trainer, args, log))
    report["seconds"]["total"] = time.perf_counter() - began
    report["checks"] = {
        "step_measured": "error" not in report["step"],
        "losses_agree": report["training"].get("losses_agree", False),
        "samples_agree": report["training"].get("samples_agree", False),
        "parzen_agrees": report["parzen"].get("agrees", False),
        "no_sync": report["sync"].get("no_sync", False if "error" in report["sync"] else None),  # None: not applicable
    }
    report["imported_absent_on_device"] = [m for m in ABSENT_ON_DEVICE if sys.modules.get(m) is not None]
    write_json(args.out / "gpu_check.json", report)
    failed = [k for k, v in report["checks"].items() if v is False]
    log(
        f"checks: {', '.join(f'{k} {v}' for k, v in report['checks'].items())}; imported of "
        f"{', '.join(ABSENT_ON_DEVICE)}: {report['imported_absent_on_device'] or 'none'}; "
        f"{report['seconds']['total']:.1f} s in all -> {args.out / 'gpu_check.json'}"
    )
    sys.exit(1 if failed or report["imported_absent_on_device"] else 0)


if __name__ == "__main__":
    main()
