"""`ganrepro table`: Table 1 (Parzen log-likelihoods) as CSV, Markdown, LaTeX and json.

Rows: the paper's models (ganrepro.paper), then this reproduction's models and the reference rows
(Parzen windows on real training images and on k-means centres of them), each read from `ganrepro
parzen` json files. Several files for one row and dataset are seeds (mean ± standard deviation across
seeds, each seed's value in the notes) and, within a seed, folds (averaged, as the paper does for
TFD). Rows run on budgets below the paper's name the datasets concerned in a column of their own;
what falls short, and why a dataset did not run, is said once, in the notes.
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ganrepro import paper, paths
from ganrepro.config import json_option, load_params, train_config
from ganrepro.errors import UserError
from ganrepro.io import json_text, read_json, write_text

DATASET_NAMES = {"mnist": "MNIST", "tfd": "TFD", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
MODEL_LABELS = {
    "gan": "Adversarial nets (this reproduction)",
    "reference": "Training images (reference)",
    "kmeans": "k-means centres of the training set (reference)",
}
REFERENCE_MODELS = ("reference", "kmeans")  # rows of real data in place of samples: no training budget
ALWAYS_SHOWN = ("gan", "reference")  # rows shown even without files: they carry "not run"
FINE_SUFFIX = ", fine sigma grid"
EMPTY = "—"
NOT_RUN = "not run"
NOT_RUN_NOTED = "not run (see notes)"  # a dataset left out with a reason, given once in the notes
NOT_REQUESTED = "not in the datasets list"
BUDGET_COLUMN = "Reduced budget (not comparable with the paper)"
TEXT_COLUMNS = (BUDGET_COLUMN, "Source")  # left-aligned in Markdown; the score columns are right-aligned
FILES = ("table1.csv", "table1.md", "table1.tex", "table1.json")


@dataclass(frozen=True)
class Score:
    """One test log-likelihood read from a parzen json (paper-grid or fine-grid entry)."""

    row: str
    dataset: str
    seed: int | None
    fold: int | None
    log_likelihood: float
    standard_error: float
    sigma: float
    protocol: str
    path: str


@dataclass(frozen=True)
class Cell:
    """A table cell aggregated over seeds and folds."""

    log_likelihood: float
    error: float
    error_kind: str
    seeds: list[int | None]
    folds: list[int | None]
    sigmas: list[float]
    files: list[str]
    per_seed: list[tuple[int | None, float]]


def format_score(value: float, error: float) -> str:
    """'225 ± 2', '121 ± 1.6', '1909 ± 66': the error to two significant digits, the value to match."""
    decimals = max(0, 1 - math.floor(math.log10(error))) if error > 0 else 0
    err = f"{error:.{decimals}f}"
    if "." in err:
        err = err.rstrip("0").rstrip(".")
    return f"{value:.{max(0, decimals - 1)}f} ± {err}"


def row_label(model: str, label: str | None) -> str:
    """The row a json file belongs to: its --label, else the model's standard label, else the model."""
    return label or MODEL_LABELS.get(model, model)


def read_scores(path: Path, model: str | None = None) -> list[Score]:
    """The paper-grid score of one parzen json and, when present, its fine-grid score."""
    data = read_json(path)
    missing = [k for k in ("dataset", "log_likelihood", "standard_error", "sigma") if data.get(k) is None]
    if missing:
        raise UserError(f"{path}: no {', '.join(missing)}; write it with `ganrepro parzen --dataset NAME ...`")
    row = row_label(model or data.get("model") or "gan", data.get("label"))
    grid = data.get("sigma_grid_spec") or f"sigmas {data.get('sigma_grid')}"
    protocol = f"{grid} on {data.get('n_valid_used')} validation points"
    entries = [(row, data, protocol)]
    if data.get("fine"):
        entries.append((row + FINE_SUFFIX, data["fine"], f"steps of {data.get('fine_step')}"))
    return [
        Score(
            name,
            data["dataset"],
            data.get("seed"),
            data.get("fold"),
            float(e["log_likelihood"]),
            float(e["standard_error"]),
            float(e["sigma"]),
            how,
            str(path),
        )
        for name, e, how in entries
    ]


def _ordered(values: set[int | None]) -> list[int | None]:
    """Seeds or folds in numeric order, None last."""
    return sorted(values, key=lambda v: (v is None, v or 0))


def aggregate(scores: list[Score]) -> Cell:
    """Folds are averaged within a seed (standard errors combined); seeds give mean ± standard deviation."""
    by_seed: dict[int | None, list[Score]] = defaultdict(list)
    for s in scores:
        if any(o.fold == s.fold for o in by_seed[s.seed]):
            raise UserError(f"{s.path} repeats seed {s.seed}, fold {s.fold} of {s.row} on {s.dataset}")
        by_seed[s.seed].append(s)
    seeds = _ordered(set(by_seed))
    per_seed = [
        (statistics.fmean(s.log_likelihood for s in by_seed[seed]), _fold_error(by_seed[seed])) for seed in seeds
    ]
    folds = _ordered({s.fold for s in scores})
    if len(per_seed) == 1:
        value, error = per_seed[0]
        kind = (
            f"standard error across the {len(folds)} folds (SD of the fold means / sqrt {len(folds)}), "
            "as the paper for TFD"
            if len(folds) > 1
            else "standard error over the test points"
        )
    else:
        values = [v for v, _ in per_seed]
        value, error = statistics.fmean(values), statistics.stdev(values)
        kind = f"standard deviation across {len(values)} seeds" + (
            f", each averaged over its folds ({len(folds)})" if len(folds) > 1 else ""
        )
    return Cell(
        value,
        error,
        kind,
        seeds,
        folds,
        sorted({s.sigma for s in scores}),
        sorted({s.path for s in scores}),
        [(seed, v) for seed, (v, _) in zip(seeds, per_seed)],
    )


def _fold_error(group: list[Score]) -> float:
    """One fold: its standard error over the test points. Several: the standard error of the fold
    means (the paper's Table 1: "for TFD, the standard error was computed across folds")."""
    if len(group) == 1:
        return group[0].standard_error
    return statistics.stdev(s.log_likelihood for s in group) / math.sqrt(len(group))


def dataset_order(datasets: set[str]) -> list[str]:
    """The paper's datasets first, then the other known ones, then the rest alphabetically."""
    known = [d for d in DATASET_NAMES if d in datasets]
    return known + sorted(datasets - set(known))


def model_rows(scores: list[Score]) -> list[str]:
    """This reproduction's rows: models first (the GAN leading), reference rows last; fine rows follow theirs."""
    present = {s.row for s in scores} | {MODEL_LABELS[m] for m in ALWAYS_SHOWN}
    references = [MODEL_LABELS[m] for m in REFERENCE_MODELS]
    rank = {r: i for i, r in enumerate(references, start=1)}  # models 0, then the reference rows in order
    base = sorted(
        {r.removesuffix(FINE_SUFFIX) for r in present}, key=lambda r: (rank.get(r, 0), r != MODEL_LABELS["gan"], r)
    )
    return [r for b in base for r in (b, b + FINE_SUFFIX) if r in present]


def is_reference_row(row: str) -> bool:
    """Rows of real data in place of samples (no model was trained for them)."""
    return row.removesuffix(FINE_SUFFIX) in {MODEL_LABELS[m] for m in REFERENCE_MODELS}


def reduced_budget(
    config: dict[str, Any], dataset: str, defaults: dict[str, Any] | None = None, *, trained: bool = True
) -> list[str]:
    """Why a dataset's scores are not comparable with the paper's: a preset other than `paper`, every
    evaluation budget below the paper's protocol (ganrepro.paper), and, for trained models
    (`trained`), a training length below the project's default (`defaults`: params.yaml, no preset)
    or a training subset. [] when nothing falls short."""
    reasons = []
    preset = config.get("preset", "paper")
    if preset != "paper":
        reasons.append(f"{preset} preset")
    if trained and dataset in config.get("datasets", [dataset]):
        train = train_config(config, dataset)
        default = _default_epochs(defaults, dataset) or train.epochs
        if train.epochs < default:
            reasons.append(f"{train.epochs} epochs (default {default})")
        if train.train_limit:
            reasons.append(f"first {train.train_limit} training examples")
    n = config.get("sample", {}).get("n", paper.PARZEN_SAMPLES)
    if n < paper.PARZEN_SAMPLES:
        reasons.append(f"{n} samples (the paper: {paper.PARZEN_SAMPLES:,})")
    pz = config.get("parzen", {})
    if pz.get("test_limit"):
        reasons.append(f"first {pz['test_limit']} test points (the paper: all)")
    valid_limit = pz.get("valid_limit", paper.PARZEN_VALID_LIMIT)
    if dataset not in paper.WHOLE_VALID_FOLD and 0 < valid_limit < paper.PARZEN_VALID_LIMIT:
        reasons.append(f"sigma chosen on {valid_limit} validation points (the paper: {paper.PARZEN_VALID_LIMIT:,})")
    grid = tuple(
        pz.get(k, v) for k, v in zip(("sigma_min_log10", "sigma_max_log10", "sigma_num"), paper.PARZEN_SIGMA_LOG10)
    )
    if grid != paper.PARZEN_SIGMA_LOG10:
        reasons.append(
            "sigma grid logspace({}, {}, {}) (the paper: logspace({}, {}, {}))".format(*grid, *paper.PARZEN_SIGMA_LOG10)
        )
    return reasons


def _default_epochs(defaults: dict[str, Any] | None, dataset: str) -> int | None:
    """The training length params.yaml gives the dataset (None without it, e.g. a dataset declared
    only in an overlay)."""
    try:
        return train_config(defaults, dataset).epochs if defaults else None
    except UserError:
        return None


def budgets(config: dict[str, Any] | None, defaults: dict[str, Any] | None, datasets: list[str]) -> dict[str, Any]:
    """reduced_budget of every dataset, for the models' rows and for the reference rows (empty ones left out)."""
    if config is None:
        return {"models": {}, "references": {}}
    return {
        kind: {d: r for d in datasets if (r := reduced_budget(config, d, defaults, trained=kind == "models"))}
        for kind in ("models", "references")
    }


def budget_text(reasons: dict[str, list[str]], datasets: list[str]) -> str:
    """'MNIST: fast preset, 2 epochs (default 2000); TFD: ...' for the given datasets."""
    return "; ".join(f"{DATASET_NAMES.get(d, d)}: {', '.join(reasons[d])}" for d in datasets if d in reasons)


def reduced_datasets(reasons: dict[str, list[str]], datasets: list[str]) -> str:
    """'MNIST, TFD': the given datasets whose budget falls short (a row's cell in the budget column)."""
    return ", ".join(DATASET_NAMES.get(d, d) for d in datasets if d in reasons)


def build(
    scores: list[Score],
    skipped: dict[str, str],
    budget: dict[str, Any] | None = None,
    requested: list[str] | None = None,
) -> dict[str, Any]:
    """Table 1 as json-ready data: columns, rows of cells (display text plus numbers), notes. `budget`
    (see `budgets`) adds a column to rows run below the paper's budgets; `requested` (the datasets
    list) tells a dataset left out of the run from one that did not run."""
    clash = {s.dataset for s in scores} & set(skipped)
    if clash:
        raise UserError(f"--skipped names {sorted(clash)}, but parzen results were given for it")
    budget = budget or {"models": {}, "references": {}}
    datasets = dataset_order({s.dataset for s in scores} | set(skipped) | {p.dataset for p in paper.TABLE1})
    rows = [
        {
            "model": m,
            "source": "paper",
            "cells": {
                p.dataset: {
                    "display": format_score(p.log_likelihood, p.error),
                    "log_likelihood": p.log_likelihood,
                    "error": p.error,
                }
                for p in paper.TABLE1
                if p.model == m
            },
        }
        for m in dict.fromkeys(p.model for p in paper.TABLE1)
    ]
    grouped: dict[tuple[str, str], list[Score]] = defaultdict(list)
    for s in scores:
        grouped[s.row, s.dataset].append(s)
    for row in model_rows(scores):
        cells = {}
        for d in datasets:
            if (row, d) in grouped:
                cell = aggregate(grouped[row, d])
                cells[d] = {"display": format_score(cell.log_likelihood, cell.error), **asdict(cell)}
            elif d in skipped:
                cells[d] = {"display": NOT_RUN_NOTED}
            elif any(p.dataset == d for p in paper.TABLE1):
                cells[d] = {"display": NOT_REQUESTED if requested is not None and d not in requested else NOT_RUN}
        reasons = budget["references" if is_reference_row(row) else "models"]
        scored = [d for d in datasets if "log_likelihood" in cells.get(d, {})]
        rows.append(
            {"model": row, "source": "this reproduction", "cells": cells, "budget": reduced_datasets(reasons, scored)}
        )
    notes_ = notes(rows, scores, skipped, budget)
    return {"columns": datasets, "rows": rows, "notes": notes_, "skipped": skipped, "budget": budget}


def notes(
    rows: list[dict[str, Any]], scores: list[Score], skipped: dict[str, str], budget: dict[str, Any]
) -> list[str]:
    """What the numbers are, what falls short of the paper's budgets, why a dataset did not run; one
    line per cell aggregated over several seeds or folds."""
    protocols = {
        fine: "; ".join(sorted({s.protocol for s in scores if s.row.endswith(FINE_SUFFIX) == fine}))
        for fine in (False, True)
    }
    lines = [
        "Mean log-likelihood (nats) of test data under a Gaussian Parzen window fitted to model samples; "
        "higher is better. ± is the standard error over the test points unless noted.",
        f"Paper rows: {paper.SOURCE}; MNIST on the test set, TFD over the folds.",
        f"This reproduction: sigma chosen on validation data only, as the authors: {protocols[False] or 'no results'}.",
    ]
    if protocols[True]:
        lines.append(
            f"Rows ending '{FINE_SUFFIX}': sigma re-chosen on the same validation points in "
            f"{protocols[True]} between the grid neighbours of the paper-grid choice; "
            "the test set never chooses sigma."
        )
    lines.append(
        f"{MODEL_LABELS['reference']}: the same estimate with as many real training images as model "
        "samples in place of the samples (Theis et al., 2016, 'A note on the evaluation of generative models')."
    )
    if any(s.row.startswith(MODEL_LABELS["kmeans"]) for s in scores):
        lines.append(
            f"{MODEL_LABELS['kmeans']}: the same estimate with the centres of k-means on the training "
            "set (k = the number of samples) in place of the samples; Theis et al. (2016) showed that "
            "such centres score higher than real images under this estimator."
        )
    if any(row.get("budget") for row in rows):
        lines.append(
            f"{BUDGET_COLUMN}: rows run below the paper's budgets (samples, test points, sigma grid, "
            "validation points) or below the project's default training length, for the datasets named; "
            "their numbers say nothing about the paper's."
        )
        scored = dataset_order({s.dataset for s in scores})
        lines += [
            f"Reduced budget of the {kind}: {text}."
            for key, kind in (("models", "models' rows"), ("references", "reference rows"))
            if (text := budget_text(budget[key], scored))
        ]
    lines += [f"{DATASET_NAMES.get(d, d)} {NOT_RUN}: {why.rstrip('.')}." for d, why in skipped.items()]
    for row in rows:
        for d, cell in row["cells"].items():
            if is_aggregated(cell):
                lines.append(_cell_note(row["model"], d, cell))
    return lines


def is_aggregated(cell: dict[str, Any]) -> bool:
    """Whether a cell combines several seeds or folds, so that its ± is not one run's standard error."""
    return len(cell.get("seeds", ())) > 1 or len(cell.get("folds", ())) > 1


def _cell_note(row: str, dataset: str, cell: dict[str, Any]) -> str:
    """'<row>, MNIST: ± is the standard deviation across 3 seeds; per seed: s0 220.7, s1 ...; the paper: 225 ± 2.'"""
    text = f"{row}, {DATASET_NAMES.get(dataset, dataset)}: ± is the {cell['error_kind']}"
    if len(cell["per_seed"]) > 1:
        text += "; per seed: " + ", ".join(f"s{seed} {value:.1f}" for seed, value in cell["per_seed"])
    anchor = paper.paper_gan_score(dataset)
    if anchor and not is_reference_row(row):
        text += f"; the paper: {format_score(anchor.log_likelihood, anchor.error)}"
    return text + "."


def to_frame(table: dict[str, Any]) -> pd.DataFrame:
    """The display table: one row per model, one column per dataset; and a column naming the reduced
    budgets when any row has them (last, so that the score columns stay where they are)."""
    columns = table["columns"]
    data = [[row["model"]] + [row["cells"].get(d, {}).get("display", EMPTY) for d in columns] for row in table["rows"]]
    frame = pd.DataFrame(data, columns=["Model"] + [DATASET_NAMES.get(d, d) for d in columns])
    if any(row.get("budget") for row in table["rows"]):
        frame[BUDGET_COLUMN] = [row.get("budget") or EMPTY for row in table["rows"]]
    return frame


def to_markdown(frame: pd.DataFrame, note_lines: list[str]) -> str:
    """A GitHub Markdown table (text left, scores right) followed by its notes."""
    align = ["left" if i == 0 or c in TEXT_COLUMNS else "right" for i, c in enumerate(frame.columns)]
    table = frame.to_markdown(index=False, colalign=align, disable_numparse=True)
    return "\n".join([table, ""] + [f"- {n}" for n in note_lines]) + "\n"


def latex_cell(text: str) -> str:
    """An escaped cell with '225 ± 2' as math '$225 \\pm 2$' and the empty mark as an em dash."""
    value, sep, error = text.partition(" ± ")
    return f"${value} \\pm {error}$" if sep else text.replace(EMPTY, "---")


def to_latex(frame: pd.DataFrame, note_lines: list[str]) -> str:
    """A booktabs tabular, with the notes as LaTeX comments above it."""
    styler = frame.style.hide(axis="index").format(latex_cell, escape="latex").format_index(escape="latex", axis=1)
    table = styler.to_latex(column_format="l" + "r" * (frame.shape[1] - 1), hrules=True)
    return "".join(f"% {n}\n" for n in note_lines) + table


def parse_skipped(items: list[str]) -> dict[str, str]:
    """DATASET=REASON pairs."""
    pairs = [item.partition("=") for item in items]
    bad = [item for item, (name, sep, reason) in zip(items, pairs) if not (name and sep and reason)]
    if bad:
        raise UserError(f"--skipped takes DATASET=REASON, got {bad}")
    return {name: reason for name, _, reason in pairs}


def table_texts(table: dict[str, Any]) -> dict[str, str]:
    """table1.csv, table1.md, table1.tex and table1.json, by file name."""
    frame = to_frame(table)
    return {
        "table1.csv": frame.to_csv(index=False),
        "table1.md": to_markdown(frame, table["notes"]),
        "table1.tex": to_latex(frame, table["notes"]),
        "table1.json": json_text({"source_paper": paper.SOURCE, **table}),
    }


# The extended table: every metric of each dataset's metrics.json (paths.metrics; see ganrepro.evaluation.summary).
PER_SEED = "_per_seed"  # a row key ending so lists the metric's `<key>_s<seed>` values
ERROR_KEYS = {"paper_log_likelihood": "paper_error"}  # the ± of a row, where it is not `<key>_std`
EXTENDED_ROWS = (
    ("Adversarial nets, the paper's Table 1 (quoted, not measured)", "paper_log_likelihood"),
    ("Parzen log-likelihood, paper protocol", "parzen_log_likelihood"),
    ("Parzen log-likelihood, paper protocol, per seed", "parzen_log_likelihood" + PER_SEED),
    ("Parzen standard error over the test points", "parzen_standard_error"),
    ("Parzen ± across folds (SD of the fold means / sqrt folds): Table 1's ±", "parzen_fold_standard_error"),
    ("Parzen SD across folds", "parzen_fold_sd"),
    ("Parzen standard error over the test points, mean over folds", "parzen_standard_error_mean"),
    ("Parzen log-likelihood, fine sigma grid", "parzen_fine_log_likelihood"),
    ("Parzen log-likelihood, fine sigma grid, per seed", "parzen_fine_log_likelihood" + PER_SEED),
    ("Parzen log-likelihood, mean over sample draws", "parzen_draws_mean"),
    ("Parzen log-likelihood, SD across sample draws", "parzen_draws_sd"),
    ("Parzen log-likelihood, fine grid, mean over sample draws", "parzen_draws_fine_mean"),
    ("Parzen log-likelihood, training images (reference)", "reference_log_likelihood"),
    ("Parzen log-likelihood, k-means centres of the training set (reference)", "kmeans_log_likelihood"),
    ("Classifier FID, samples vs test images", "class_metrics_classifier_fid"),
    ("Classifier FID, training vs test images (reference)", "class_metrics_classifier_fid_reference"),
    ("Classes covered by samples", "class_metrics_classes_covered"),
    ("KL(predicted classes || uniform), nats", "class_metrics_class_kl_uniform"),
    ("Conditional GAN: label accuracy", "conditional_label_accuracy"),
    ("Conditional GAN: classifier FID", "conditional_classifier_fid"),
    ("Classifier test accuracy", "classifier_test_accuracy"),
    ("Inference net: reconstruction MSE / random-z MSE", "infer_reconstruction_mse_ratio_encoder_to_random"),
    ("Inference net: z recovery R^2", "infer_z_recovery_r2_mean"),
    ("Training time, s (all resumed segments)", "train_seconds_total"),
)


def extended_frame(metrics: list[dict[str, Any]], budget: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Metrics as rows, datasets as columns: mean (± std across seeds when there are several); with
    `budget` (dataset -> reasons, see `reduced_budget`), a first row naming each reduced budget."""
    rows = list(EXTENDED_ROWS)
    columns = {}
    for m in metrics:
        name = DATASET_NAMES.get(m["dataset"], m["dataset"])
        columns[name] = [_metric_cell(m, key) for _, key in rows]
    frame = pd.DataFrame(columns, index=[label for label, _ in rows])
    frame = frame.loc[(~frame.isin([EMPTY, NOT_RUN])).any(axis=1)]  # rows with at least one value
    if budget and any(m["dataset"] in budget for m in metrics):
        reasons = {
            DATASET_NAMES.get(m["dataset"], m["dataset"]): ", ".join(budget.get(m["dataset"], [])) or EMPTY
            for m in metrics
        }
        frame = pd.concat([pd.DataFrame(reasons, index=[BUDGET_COLUMN]), frame])
    return frame.rename_axis("Metric").reset_index()


def _metric_cell(metrics: dict[str, Any], key: str) -> str:
    if "not_run" in metrics:
        return NOT_RUN
    if key.endswith(PER_SEED):
        return _per_seed_cell(metrics, key.removesuffix(PER_SEED))
    if metrics.get(key) is None:
        return EMPTY
    spread = metrics.get(ERROR_KEYS.get(key, f"{key}_std"))
    return f"{metrics[key]:.4g}" + (f" ± {spread:.2g}" if spread is not None else "")


def _per_seed_cell(metrics: dict[str, Any], key: str) -> str:
    """'s0 220.7, s1 222.1' from `<key>_s0`, `<key>_s1`, ... (written when several seeds ran)."""
    found = sorted((int(m[1]), v) for k, v in metrics.items() if (m := re.fullmatch(rf"{re.escape(key)}_s(\d+)", k)))
    return ", ".join(f"s{seed} {value:.1f}" for seed, value in found) or EMPTY


def anchors_frame(dataset: str = "mnist") -> pd.DataFrame:
    """Every published Parzen score on `dataset` that the project quotes (ganrepro.paper), best first."""
    quoted = sorted((p for p in paper.PUBLISHED if p.dataset == dataset), key=lambda p: -p.log_likelihood)
    return pd.DataFrame(
        {
            "Model": [p.model for p in quoted],
            DATASET_NAMES.get(dataset, dataset): [format_score(p.log_likelihood, p.error) for p in quoted],
            "Source": [p.source for p in quoted],
        }
    )


ANCHOR_NOTES = [
    "Quoted, not measured: each number is copied from its paper's table (Parzen window "
    "estimate on the MNIST test set, 10,000 samples, sigma chosen on validation data).",
    "Theis et al. (2016) showed that this estimator ranks blurred k-means centres of the training "
    "set above real data: these numbers compare density estimates, not how much samples look like data.",
]


def extended_texts(metric_files: list[Path], budget: dict[str, list[str]] | None = None) -> dict[str, str]:
    """table1_extended.md (the metrics, then the published anchors) and table1_extended.csv, by file name."""
    metrics = [read_json(p) for p in metric_files]
    seeds = max((m.get("seeds", 1) for m in metrics), default=1)
    notes = [
        f"Every metric of {paths.metrics('<dataset>')}; ± is the standard deviation across "
        f"seeds (up to {seeds} here) where there are several.",
        "Classifier FID: the Frechet distance in the penultimate features of a classifier trained on the "
        "dataset (Inception cannot be downloaded here); compare with the real-vs-real reference row.",
    ]
    frame = extended_frame(metrics, budget)
    anchors = "\n## Published MNIST scores under the same protocol (quoted, not measured)\n\n" + to_markdown(
        anchors_frame(), ANCHOR_NOTES
    )
    return {
        "table1_extended.md": to_markdown(frame, notes) + anchors,
        "table1_extended.csv": frame.to_csv(index=False),
    }


def run(args: argparse.Namespace) -> None:
    config = json_option(args.config_json) or None
    defaults = load_params(args.params) if config is not None and args.params.is_file() else None
    scores = [s for p in args.parzen for s in read_scores(p)]
    for model in REFERENCE_MODELS:
        scores += [s for p in getattr(args, model) for s in read_scores(p, model=model)]
    budget = budgets(config, defaults, dataset_order({s.dataset for s in scores}))
    table = build(scores, parse_skipped(args.skipped), budget, config.get("datasets") if config else None)
    texts = table_texts(table)  # every input read and every file rendered before the first is written
    if args.metrics:
        texts |= extended_texts(args.metrics, budget["models"])
    if args.semisupervised is not None:
        texts |= semisupervised_texts(args.semisupervised, args.out_dir, texts.get("table1_extended.md"))
    for name, text in texts.items():
        write_text(args.out_dir / name, text)
    print(to_frame(table).to_string(index=False))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("table", help="Table 1: the paper's rows beside this reproduction's Parzen scores")
    p.add_argument("--parzen", type=Path, nargs="*", default=[], help="parzen json files of the models")
    p.add_argument(
        "--reference",
        type=Path,
        nargs="*",
        default=[],
        help="parzen json files whose samples were real training images",
    )
    p.add_argument(
        "--kmeans",
        type=Path,
        nargs="*",
        default=[],
        help="parzen json files whose samples were k-means centres of the training images",
    )
    p.add_argument(
        "--skipped",
        nargs="*",
        default=[],
        metavar="DATASET=REASON",
        help="datasets not run, with the reason shown in the table",
    )
    p.add_argument(
        "--metrics",
        type=Path,
        nargs="*",
        default=[],
        help="per-dataset metrics.json files: also write table1_extended.{md,csv}",
    )
    p.add_argument(
        "--semisupervised",
        type=Path,
        nargs="*",
        help="semisupervised.json files: also write semisupervised.{md,csv} (a section of the extended table too)",
    )
    p.add_argument(
        "--config-json",
        help="the parameters the workflow ran with, as JSON: labels the rows run on reduced budgets "
        "and tells datasets left out of the datasets list",
    )
    p.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="the project's params.yaml (no preset): the default training length a run is compared with",
    )
    p.add_argument("--out-dir", type=Path, required=True, help=f"gets {', '.join(FILES)}")
    p.set_defaults(func=run)


# Semi-supervised classification (extension 4): one row per dataset and method, one column per label count.


def semisupervised_frame(results: list[dict[str, Any]]) -> pd.DataFrame:
    """Test errors 'mean ± SD' over the label subsets; MNIST's published figure as a last, quoted row
    (not comparable: a GAN trained for the task). Datasets that did not run are left out."""
    rows, quoted = [], None
    for r in results:
        if "not_run" in r:
            continue
        for method, by_n in r["results"].items():
            row = {"Dataset": DATASET_NAMES.get(r["dataset"], r["dataset"]), "Method": r["methods"][method]}
            rows.append(row | {f"{n} labels": f"{v['mean']:.1f} ± {v['sd']:.1f}" for n, v in by_n.items()})
        quoted = quoted or r.get("quoted")
    frame = pd.DataFrame(rows)
    if quoted and not frame.empty:
        label = f"{quoted['model']}, {quoted['source'].split(',')[0]} (quoted, not measured)"
        row = {
            "Dataset": "MNIST",
            "Method": label,
            f"{quoted['labels']} labels": f"{quoted['errors']:g} ± {quoted['sd']:g}",
        }
        frame = pd.concat([frame, pd.DataFrame([row])], ignore_index=True)
    return frame.reindex(columns=sorted(frame.columns, key=_label_column_order)).fillna(EMPTY)


def _label_column_order(column: str) -> tuple[int, int]:
    """Dataset, Method, then the label counts in increasing order."""
    fixed = ("Dataset", "Method")
    return (0, fixed.index(column)) if column in fixed else (1, int(column.split()[0]))


def semisupervised_notes(results: list[dict[str, Any]]) -> list[str]:
    """What the numbers are, and why a dataset did not run."""
    notes = [
        f"{DATASET_NAMES.get(r['dataset'], r['dataset'])}: test errors out of {r['n_test']:,} labelled test images, "
        f"mean ± SD over {r['config']['subsets']} class-balanced label subsets (the same for every method)"
        for r in results
        if "not_run" not in r
    ]
    notes += [
        f"{DATASET_NAMES.get(r['dataset'], r['dataset'])}: not run: {r['not_run']}" for r in results if "not_run" in r
    ]
    notes.append(
        "Features: logistic regression on the standardised features, L2 chosen on validation; the quoted row "
        "is a GAN trained for semi-supervised learning, shown for scale only."
    )
    return notes


def semisupervised_texts(result_files: list[Path], out_dir: Path, extended: str | None = None) -> dict[str, str]:
    """By file name: semisupervised.md and .csv, and table1_extended.md with the table as its last
    section: `extended` (this run's), else the file in `out_dir` (its section replaced)."""
    results = [read_json(p) for p in result_files]
    frame = semisupervised_frame(results)
    markdown = to_markdown(frame, semisupervised_notes(results)) if not frame.empty else ""
    texts = {"semisupervised.md": markdown, "semisupervised.csv": frame.to_csv(index=False)}
    if extended is None and (out_dir / "table1_extended.md").is_file():
        extended = (out_dir / "table1_extended.md").read_text()
    if extended is not None and markdown:
        section = "\n## Semi-supervised classification with the GAN's features (extension 4)\n\n"
        texts["table1_extended.md"] = extended.split(section)[0] + section + markdown
    return texts
