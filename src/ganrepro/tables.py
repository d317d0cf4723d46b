"""`ganrepro table`: Table 1 (Parzen log-likelihoods) as CSV, Markdown, LaTeX and json.

Rows: the paper's models (ganrepro.paper), then this reproduction's models and the reference rows
(Parzen windows on real training images), each read from `ganrepro parzen` json files. Several files
for one row and dataset are seeds (mean ± standard deviation across seeds) and, within a seed,
folds (averaged, as the paper does for TFD).
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ganrepro import paper
from ganrepro.errors import UserError
from ganrepro.io import read_json, write_json, write_text

DATASET_NAMES = {"mnist": "MNIST", "tfd": "TFD", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
MODEL_LABELS = {"gan": "Adversarial nets (this reproduction)", "reference": "Training images (reference)"}
ALWAYS_SHOWN = ("gan", "reference")     # rows shown even without files: they carry "not run"
FINE_SUFFIX = ", fine sigma grid"
EMPTY = "—"
NOT_RUN = "not run"
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
    return [Score(name, data["dataset"], data.get("seed"), data.get("fold"), float(e["log_likelihood"]),
                  float(e["standard_error"]), float(e["sigma"]), how, str(path)) for name, e, how in entries]


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
    per_seed = [(statistics.fmean(s.log_likelihood for s in group), _fold_error(group)) for group in by_seed.values()]
    folds = _ordered({s.fold for s in scores})
    if len(per_seed) == 1:
        value, error = per_seed[0]
        kind = (f"standard error across the {len(folds)} folds, as the paper for TFD"
                if len(folds) > 1 else "standard error over the test points")
    else:
        values = [v for v, _ in per_seed]
        value, error = statistics.fmean(values), statistics.stdev(values)
        kind = f"standard deviation across {len(values)} seeds" + (
            f", each averaged over its folds ({len(folds)})" if len(folds) > 1 else "")
    return Cell(value, error, kind, _ordered(set(by_seed)), folds, sorted({s.sigma for s in scores}),
                sorted({s.path for s in scores}))


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
    base = sorted({r.removesuffix(FINE_SUFFIX) for r in present},
                  key=lambda r: (r == MODEL_LABELS["reference"], r != MODEL_LABELS["gan"], r))
    return [r for b in base for r in (b, b + FINE_SUFFIX) if r in present]


def build(scores: list[Score], skipped: dict[str, str]) -> dict[str, Any]:
    """Table 1 as json-ready data: columns, rows of cells (display text plus numbers), notes."""
    clash = {s.dataset for s in scores} & set(skipped)
    if clash:
        raise UserError(f"--skipped names {sorted(clash)}, but parzen results were given for it")
    datasets = dataset_order({s.dataset for s in scores} | set(skipped) | {p.dataset for p in paper.TABLE1})
    rows = [{"model": m, "source": "paper",
             "cells": {p.dataset: {"display": format_score(p.log_likelihood, p.error),
                                   "log_likelihood": p.log_likelihood, "error": p.error}
                       for p in paper.TABLE1 if p.model == m}}
            for m in dict.fromkeys(p.model for p in paper.TABLE1)]
    grouped: dict[tuple[str, str], list[Score]] = defaultdict(list)
    for s in scores:
        grouped[s.row, s.dataset].append(s)
    for row in model_rows(scores):
        cells = {}
        for d in datasets:
            if (row, d) in grouped:
                cell = aggregate(grouped[row, d])
                cells[d] = {"display": format_score(cell.log_likelihood, cell.error), **asdict(cell)}
            elif d in skipped or any(p.dataset == d for p in paper.TABLE1):
                cells[d] = {"display": f"not run: {skipped[d]}" if d in skipped else "not run"}
        rows.append({"model": row, "source": "this reproduction", "cells": cells})
    return {"columns": datasets, "rows": rows, "notes": notes(rows, scores), "skipped": skipped}


def notes(rows: list[dict[str, Any]], scores: list[Score]) -> list[str]:
    """What the numbers are; one line per cell aggregated over several seeds or folds."""
    protocols = {fine: "; ".join(sorted({s.protocol for s in scores if s.row.endswith(FINE_SUFFIX) == fine}))
                 for fine in (False, True)}
    lines = [
        "Mean log-likelihood (nats) of test data under a Gaussian Parzen window fitted to model samples; "
        "higher is better. ± is the standard error over the test points unless noted.",
        f"Paper rows: {paper.SOURCE}; MNIST on the test set, TFD over the folds.",
        f"This reproduction: sigma chosen on validation data only, as the authors: {protocols[False] or 'no results'}.",
    ]
    if protocols[True]:
        lines.append(f"Rows ending '{FINE_SUFFIX}': sigma re-chosen on the same validation points in "
                     f"{protocols[True]} between the grid neighbours of the paper-grid choice; "
                     "the test set never chooses sigma.")
    lines.append(f"{MODEL_LABELS['reference']}: the same estimate with as many real training images as model "
                 "samples in place of the samples (Theis et al., 2016, 'A note on the evaluation of generative models').")
    for row in rows:
        for d, cell in row["cells"].items():
            if len(cell.get("seeds", ())) > 1 or len(cell.get("folds", ())) > 1:
                seeds = ", ".join(map(str, cell["seeds"]))
                lines.append(f"{row['model']}, {DATASET_NAMES.get(d, d)}: ± is the {cell['error_kind']} (seeds {seeds}).")
    return lines


def to_frame(table: dict[str, Any]) -> pd.DataFrame:
    """The display table: one row per model, one column per dataset."""
    columns = table["columns"]
    data = [[row["model"]] + [row["cells"].get(d, {}).get("display", EMPTY) for d in columns] for row in table["rows"]]
    return pd.DataFrame(data, columns=["Model"] + [DATASET_NAMES.get(d, d) for d in columns])


def to_markdown(frame: pd.DataFrame, note_lines: list[str]) -> str:
    """A GitHub Markdown table followed by its notes."""
    lines = ["| " + " | ".join(frame.columns) + " |", "|---" + "|---:" * (frame.shape[1] - 1) + "|"]
    lines += ["| " + " | ".join(map(str, values)) + " |" for values in frame.itertuples(index=False)]
    return "\n".join(lines + [""] + [f"- {n}" for n in note_lines]) + "\n"


_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                   "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "—": "---"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def latex_cell(text: str) -> str:
    """'225 ± 2' as math '$225 \\pm 2$'; any other text escaped."""
    value, sep, error = text.partition(" ± ")
    return f"${value} \\pm {error}$" if sep else latex_escape(text)


def to_latex(frame: pd.DataFrame, note_lines: list[str]) -> str:
    """A booktabs tabular, with the notes as LaTeX comments above it."""
    head = [f"% {n}" for n in note_lines]
    body = [" & ".join([latex_escape(values[0])] + [latex_cell(v) for v in values[1:]]) + r" \\"
            for values in frame.itertuples(index=False)]
    return "\n".join(head + [rf"\begin{{tabular}}{{l{'r' * (frame.shape[1] - 1)}}}", r"\toprule",
                             " & ".join(latex_escape(c) for c in frame.columns) + r" \\", r"\midrule",
                             *body, r"\bottomrule", r"\end{tabular}"]) + "\n"


def parse_skipped(items: list[str]) -> dict[str, str]:
    """DATASET=REASON pairs."""
    pairs = [item.partition("=") for item in items]
    bad = [item for item, (name, sep, reason) in zip(items, pairs) if not (name and sep and reason)]
    if bad:
        raise UserError(f"--skipped takes DATASET=REASON, got {bad}")
    return {name: reason for name, _, reason in pairs}


def write_table(table: dict[str, Any], out_dir: Path) -> None:
    """table1.csv, table1.md, table1.tex and table1.json in `out_dir`, each written atomically."""
    frame = to_frame(table)
    texts = {"table1.csv": frame.to_csv(index=False), "table1.md": to_markdown(frame, table["notes"]),
             "table1.tex": to_latex(frame, table["notes"])}
    for name, text in texts.items():
        write_text(out_dir / name, text)
    write_json(out_dir / "table1.json", {"source_paper": paper.SOURCE, **table})


# The extended table: every metric of results/runs/<dataset>/metrics.json (see ganrepro.summary).
EXTENDED_ROWS = (
    ("Parzen log-likelihood, paper protocol", "parzen_log_likelihood"),
    ("Parzen log-likelihood, fine sigma grid", "parzen_fine_log_likelihood"),
    ("Parzen log-likelihood, mean over sample draws", "parzen_draws_mean"),
    ("Parzen log-likelihood, SD across sample draws", "parzen_draws_sd"),
    ("Parzen log-likelihood, fine grid, mean over sample draws", "parzen_draws_fine_mean"),
    ("Parzen log-likelihood, training images (reference)", "reference_log_likelihood"),
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


def extended_frame(metrics: list[dict[str, Any]]) -> pd.DataFrame:
    """Metrics as rows, datasets as columns: mean (± std across seeds when there are several)."""
    columns = {}
    for m in metrics:
        name = DATASET_NAMES.get(m["dataset"], m["dataset"])
        columns[name] = [_metric_cell(m, key) for _, key in EXTENDED_ROWS]
    frame = pd.DataFrame(columns, index=[label for label, _ in EXTENDED_ROWS])
    frame = frame.loc[(~frame.isin([EMPTY, NOT_RUN])).any(axis=1)]  # rows with at least one value
    return frame.rename_axis("Metric").reset_index()


def _metric_cell(metrics: dict[str, Any], key: str) -> str:
    if "not_run" in metrics:
        return NOT_RUN
    if metrics.get(key) is None:
        return EMPTY
    spread = metrics.get(f"{key}_std")
    return f"{metrics[key]:.4g}" + (f" ± {spread:.2g}" if spread is not None else "")


def write_extended(metric_files: list[Path], out_dir: Path) -> None:
    metrics = [read_json(p) for p in metric_files]
    seeds = max((m.get("seeds", 1) for m in metrics), default=1)
    notes = ["Every metric of results/runs/<dataset>/metrics.json; ± is the standard deviation across "
             f"seeds (up to {seeds} here) where there are several.",
             "Classifier FID: the Frechet distance in the penultimate features of a classifier trained on the "
             "dataset (Inception cannot be downloaded here); compare with the real-vs-real reference row."]
    frame = extended_frame(metrics)
    texts = {"table1_extended.md": to_markdown(frame, notes), "table1_extended.csv": frame.to_csv(index=False)}
    for name, text in texts.items():
        write_text(out_dir / name, text)


def run(args: argparse.Namespace) -> None:
    scores = [s for p in args.parzen for s in read_scores(p)]
    scores += [s for p in args.reference for s in read_scores(p, model="reference")]
    table = build(scores, parse_skipped(args.skipped))
    write_table(table, args.out_dir)
    if args.metrics:
        write_extended(args.metrics, args.out_dir)
    print(to_frame(table).to_string(index=False))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("table", help="Table 1: the paper's rows beside this reproduction's Parzen scores")
    p.add_argument("--parzen", type=Path, nargs="*", default=[], help="parzen json files of the models")
    p.add_argument("--reference", type=Path, nargs="*", default=[],
                   help="parzen json files whose samples were real training images")
    p.add_argument("--skipped", nargs="*", default=[], metavar="DATASET=REASON",
                   help="datasets not run, with the reason shown in the table")
    p.add_argument("--metrics", type=Path, nargs="*", default=[],
                   help="per-dataset metrics.json files: also write table1_extended.{md,csv}")
    p.add_argument("--out-dir", type=Path, required=True, help=f"gets {', '.join(FILES)}")
    p.set_defaults(func=run)
