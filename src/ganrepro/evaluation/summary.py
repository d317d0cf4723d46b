"""`ganrepro metrics`: one flat json per dataset (what `dvc exp show` and `dvc metrics diff` compare).

Per-seed results are averaged, with their standard deviation across seeds beside the mean (and each
seed's Parzen score); TFD's per-fold Parzen results are first averaged over folds, as in the paper,
and their two errors (across folds, over test points) get distinct names.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from ganrepro import paper
from ganrepro.errors import UserError
from ganrepro.io import read_json, write_json, write_text

GROUPS = (
    "train",
    "parzen",
    "reference",
    "kmeans",
    "infer",
    "class-metrics",
    "classifier",
    "conditional",
    "toy",
    "semisupervised",
    "inpaint",
)
PARZEN_KEYS = ["log_likelihood", "standard_error", "sigma"]
WANTED = {
    "parzen": [*PARZEN_KEYS, "fine.log_likelihood", "fine.sigma", "draws.mean", "draws.sd", "draws.fine_mean"],
    "reference": PARZEN_KEYS,
    "kmeans": PARZEN_KEYS,
    "train": ["seconds_total", "steps", "selected.epoch"],
    "infer": [
        "z_recovery.mse",
        "z_recovery.r2_mean",
        "reconstruction.encoder.mse_per_pixel",
        "reconstruction.random_z.mse_per_pixel",
        "reconstruction.mse_ratio_encoder_to_random",
    ],
    "class_metrics": ["classifier_fid", "classifier_fid_reference", "class_kl_uniform", "classes_covered"],
    "classifier": ["test_accuracy"],
    "conditional": ["label_accuracy", "classifier_fid", "class_kl_uniform"],
    "toy": ["modes_covered", "high_quality_fraction", "wasserstein", "ks_statistic", "mean", "std"],
    "inpaint": [  # means over the mask kinds (evaluation/inpainting.py)
        *(f"mean.{k}" for k in ("mse_mean", "mse_best", "diversity", "mse_mean_fill", "mse_nn_fill")),
        *(f"mean.{k}" for k in ("accuracy", "accuracy_mean_fill", "accuracy_nn_fill")),
        "accuracy_truth",
    ],
}
# Keys whose value of every seed is written beside the mean (`<name>_s<seed>`) when several seeds ran.
PER_SEED_KEYS = {"parzen": ("log_likelihood", "fine.log_likelihood")}


def mean_and_spread(values: list[float]) -> dict[str, float]:
    """Mean, standard deviation across seeds (0 for one seed) and the count."""
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def _seed_order(seed: Any) -> tuple[bool, float, str]:
    """Seeds in numeric order, None (reference rows) last."""
    return seed is None, seed if isinstance(seed, (int, float)) else 0, str(seed)


def per_seed(records: list[dict[str, Any]], key: str) -> dict[Any, float]:
    """`key` of each seed's record(s), by seed; several records of one seed (TFD folds) are averaged."""
    by_seed: dict[Any, list[float]] = defaultdict(list)
    for rec in records:
        value = _dig(rec, key)
        if value is not None:
            by_seed[rec.get("seed")].append(value)
    return {seed: statistics.fmean(by_seed[seed]) for seed in sorted(by_seed, key=_seed_order)}


def fold_errors(group: str, records: list[dict[str, Any]]) -> dict[str, float]:
    """Per-fold results (TFD) carry two different errors, named apart: the spread of the fold means
    (`_fold_sd`, and `_fold_standard_error` = fold SD / sqrt(folds), the ± of Table 1 as in the
    paper) and the mean of each fold's standard error over its test points (`_standard_error_mean`).
    Each is computed within a seed, then averaged over seeds."""
    by_seed: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        by_seed[rec.get("seed")].append(rec)
    sds, ses, test_ses = [], [], []
    for seed_records in by_seed.values():
        lls = [v for r in seed_records if (v := _dig(r, "log_likelihood")) is not None]
        if len(lls) > 1:
            sds.append(statistics.stdev(lls))
            ses.append(sds[-1] / math.sqrt(len(lls)))
        per_fold = [v for r in seed_records if (v := _dig(r, "standard_error")) is not None]
        if per_fold:
            test_ses.append(statistics.fmean(per_fold))
    out = {f"{group}_standard_error_mean": statistics.fmean(test_ses)} if test_ses else {}
    if sds:
        out |= {f"{group}_fold_sd": statistics.fmean(sds), f"{group}_fold_standard_error": statistics.fmean(ses)}
    return out


def paper_anchor(dataset: str) -> dict[str, float]:
    """The paper's adversarial-nets score on the dataset, beside the measured one (none if it gives none)."""
    score = paper.paper_gan_score(dataset)
    return {"paper_log_likelihood": score.log_likelihood, "paper_error": score.error} if score else {}


def summarize(dataset: str, files: dict[str, list[Path]]) -> dict[str, Any]:
    """Flatten the jsons of each group of WANTED (`files`: group -> paths) into `<group>_<key>` /
    `<group>_<key>_std` keys (and `_s<seed>` for the Parzen scores when several seeds ran), then add
    the semi-supervised results (`semisupervised_keys`)."""
    out: dict[str, Any] = {"dataset": dataset, **paper_anchor(dataset)}
    for group, keys in WANTED.items():
        records = [read_json(p) for p in files.get(group, [])]
        folded = any(r.get("fold") is not None for r in records)
        for key in keys:
            if folded and key == "standard_error":
                out |= fold_errors(group, records)
                continue
            values = per_seed(records, key)
            if values:
                out |= _flat(f"{group}_{key.replace('.', '_')}", values, key in PER_SEED_KEYS.get(group, ()))
        if records:
            out["seeds"] = max(out.get("seeds", 0), len({r.get("seed") for r in records}))
    return out | semisupervised_keys([read_json(p) for p in files.get("semisupervised", [])])


def semisupervised_keys(records: list[dict[str, Any]]) -> dict[str, Any]:
    """`semisupervised_<method>_<labels>` (mean test errors over the label subsets) and `..._sd` (their
    SD over the subsets, not over seeds), or `semisupervised_not_run` with the reason."""
    out: dict[str, Any] = {}
    for rec in records:
        if "not_run" in rec:
            out["semisupervised_not_run"] = rec["not_run"]
        else:
            out |= {f"semisupervised_{k}": v for k, v in rec["summary"].items()}
    return out


def _flat(name: str, values: dict[Any, float], each_seed: bool) -> dict[str, float]:
    """`name` (the mean over seeds), `name_std` and, with `each_seed`, `name_s<seed>` when there are several."""
    stats = mean_and_spread(list(values.values()))
    out = {name: stats["mean"]}
    if stats["n"] > 1:
        out[f"{name}_std"] = stats["std"]
        if each_seed:
            out |= {f"{name}_s{seed}": v for seed, v in values.items()}
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
    p.add_argument("--dataset", required=True, help="the dataset the files belong to (written in the json)")
    for group in GROUPS:
        p.add_argument(f"--{group}", nargs="*", type=Path, default=[], help=f"{group} json files (one per seed)")
    p.add_argument("--logs", nargs="*", type=Path, default=[], help="train_log.csv files, in the order of --train")
    p.add_argument("--curves-out", type=Path, help="write the logs as one CSV with a seed column (DVC plots)")
    p.add_argument("--out", type=Path, required=True, help="output metrics.json")
    p.set_defaults(func=_cli)
    q = subparsers.add_parser("not-run", help="mark a dataset that cannot run here, in every output path")
    q.add_argument("--dataset", required=True, help="the dataset that cannot run")
    q.add_argument("--reason", required=True, help="why, shown in Table 1 and the report")
    q.add_argument(
        "--out", nargs="+", type=Path, required=True, help=".json and .md files get the reason; .csv files a header"
    )
    q.set_defaults(func=_not_run_cli)


def combine_logs(summaries: list[Path], logs: list[Path]) -> pd.DataFrame:
    """The per-seed training logs as one table with a `seed` column."""
    if not logs or len(logs) != len(summaries):
        raise UserError(
            f"--train names {len(summaries)} training summaries and --logs {len(logs)} training logs: "
            "give one train_log.csv per summary, in the same order"
        )
    missing = [str(log) for log in logs if not Path(log).is_file()]
    if missing:
        raise UserError(f"training log(s) not found: {', '.join(missing)} (train the model first)")
    frames = [pd.read_csv(log).assign(seed=read_json(s).get("seed")) for s, log in zip(summaries, logs)]
    return pd.concat(frames, ignore_index=True)


def _cli(args: argparse.Namespace) -> None:
    files = {g.replace("-", "_"): getattr(args, g.replace("-", "_")) for g in GROUPS}
    summary = summarize(args.dataset, files)
    curves = combine_logs(args.train, args.logs).to_csv(index=False) if args.curves_out else None
    write_json(args.out, summary)  # both computed before either is written
    if curves is not None:
        write_text(args.curves_out, curves)


def _not_run_cli(args: argparse.Namespace) -> None:
    for path in args.out:
        if path.suffix == ".csv":
            write_text(path, "seed,step,epoch\n")
        elif path.suffix == ".md":
            write_text(path, f"# {args.dataset}: not run\n\n{args.reason}\n")
        else:
            write_json(path, {"dataset": args.dataset, "not_run": args.reason})
