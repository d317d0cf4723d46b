"""`ganrepro metrics`: one flat json per dataset (what `dvc exp show` and `dvc metrics diff` compare).

Per-seed results are averaged, with their standard deviation across seeds beside the mean; TFD's
per-fold Parzen results are first averaged over folds, as in the paper.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from ganrepro.io import read_json, write_json, write_text


GROUPS = ("train", "parzen", "reference", "infer", "class-metrics", "classifier", "conditional")


def mean_and_spread(values: list[float]) -> dict[str, float]:
    """Mean, standard deviation across seeds (0 for one seed) and the count."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def per_seed(records: list[dict[str, Any]], key: str) -> list[float]:
    """`key` of each seed's record(s); several records of one seed (TFD folds) are averaged first."""
    by_seed: dict[Any, list[float]] = defaultdict(list)
    for rec in records:
        value = _dig(rec, key)
        if value is not None:
            by_seed[rec.get("seed")].append(value)
    return [statistics.fmean(v) for _, v in sorted(by_seed.items(), key=lambda kv: str(kv[0]))]


def summarize(dataset: str, files: dict[str, list[Path]]) -> dict[str, Any]:
    """Flatten train, parzen, reference, infer and class-metrics jsons into `name` / `name_std` keys."""
    out: dict[str, Any] = {"dataset": dataset}
    wanted = {
        "parzen": ["log_likelihood", "standard_error", "sigma", "fine.log_likelihood", "fine.sigma",
                   "draws.mean", "draws.sd", "draws.fine_mean"],
        "reference": ["log_likelihood", "standard_error", "sigma"],
        "train": ["seconds_total", "steps", "selected.epoch"],
        "infer": ["z_recovery.mse", "z_recovery.r2_mean", "reconstruction.encoder.mse_per_pixel",
                  "reconstruction.random_z.mse_per_pixel", "reconstruction.mse_ratio_encoder_to_random"],
        "class_metrics": ["classifier_fid", "classifier_fid_reference", "class_kl_uniform", "classes_covered"],
        "classifier": ["test_accuracy"],
        "conditional": ["label_accuracy", "classifier_fid", "class_kl_uniform"],
    }
    for group, keys in wanted.items():
        records = [read_json(p) for p in files.get(group, [])]
        for key in keys:
            values = per_seed(records, key)
            if values:
                stats = mean_and_spread(values)
                name = f"{group}_{key.replace('.', '_')}"
                out[name] = stats["mean"]
                if stats["n"] > 1:
                    out[f"{name}_std"] = stats["std"]
        if records:
            out["seeds"] = max(out.get("seeds", 0), len({r.get("seed") for r in records}))
    return out


def _dig(record: dict[str, Any], dotted: str) -> float | None:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("metrics", help="collect one dataset's results into a flat metrics json")
    p.add_argument("--dataset", required=True)
    for group in GROUPS:
        p.add_argument(f"--{group}", nargs="*", type=Path, default=[], help=f"{group} json files (one per seed)")
    p.add_argument("--logs", nargs="*", type=Path, default=[], help="train_log.csv files, in the order of --train")
    p.add_argument("--curves-out", type=Path, help="write the logs as one CSV with a seed column (DVC plots)")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_cli)
    q = subparsers.add_parser("not-run", help="mark a dataset that cannot run here, in every output path")
    q.add_argument("--dataset", required=True)
    q.add_argument("--reason", required=True)
    q.add_argument("--out", nargs="+", type=Path, required=True, help=".json files get the reason; .csv files a header")
    q.set_defaults(func=_not_run_cli)


def combine_logs(summaries: list[Path], logs: list[Path]) -> pd.DataFrame:
    """The per-seed training logs as one table with a `seed` column."""
    frames = [pd.read_csv(log).assign(seed=read_json(s).get("seed")) for s, log in zip(summaries, logs)]
    return pd.concat(frames, ignore_index=True)


def _cli(args: argparse.Namespace) -> None:
    files = {g.replace("-", "_"): getattr(args, g.replace("-", "_")) for g in GROUPS}
    write_json(args.out, summarize(args.dataset, files))
    if args.curves_out:
        write_text(args.curves_out, combine_logs(args.train, args.logs).to_csv(index=False))


def _not_run_cli(args: argparse.Namespace) -> None:
    for path in args.out:
        if path.suffix == ".csv":
            write_text(path, "seed,step,epoch\n")
        else:
            write_json(path, {"dataset": args.dataset, "not_run": args.reason})
