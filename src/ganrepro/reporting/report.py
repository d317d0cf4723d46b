"""`ganrepro report`: one self-contained HTML page of the reproduction.

It gathers what the workflow wrote under `results/`: Table 1, every figure (embedded as base64
PNG, with its caption), the per-dataset metrics, the inference and ring results, a short computed
comparison with the paper, the published scores it quotes, the paper's Table 2 for context, the
parameters and the versions used. A run on budgets below the paper's says so at the top and in
every comparison. Anything missing (a dataset not run, a figure not drawn) is shown as such, not an
error; a dataset left out of the datasets list is not mentioned.
"""

from __future__ import annotations

import argparse
import base64
import html
import importlib.metadata
import math
import platform
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ganrepro import __version__, paper, paths
from ganrepro.config import PROJECT_ROOT, json_option, load_params
from ganrepro.io import read_json, write_text
from ganrepro.reporting.tables import (
    ANCHOR_NOTES,
    DATASET_NAMES,
    MODEL_LABELS,
    anchors_frame,
    format_score,
    is_aggregated,
    parse_skipped,
    semisupervised_frame,
    semisupervised_notes,
    to_frame,
)

# Captions of the figures and of Table 1: one file each, workflow/report/<key>.rst, read here and by
# `snakemake --report`; the dataset is written there as the Jinja field of the job's wildcard.
CAPTION_DIR = PROJECT_ROOT / "workflow" / "report"
DATASET_FIELD = "{{ snakemake.wildcards.dataset }}"
CAPTIONS: dict[str, str] = {
    path.stem: path.read_text().strip().replace(DATASET_FIELD, "{dataset}") for path in CAPTION_DIR.glob("*.rst")
}
FIGURE_ORDER = (
    "figure1",
    "figure2",
    "figure3",
    "conditional",
    "inference",
    "semisupervised",
    "modes",
    "curves",
    "sigma_sweep",
)

# The paper's Table 2 (abridged): challenges in generative modeling, per approach.
TABLE2 = pd.DataFrame(
    {
        "Deep directed graphical models": [
            "Inference needed during training.",
            "Learned approximate inference",
            "No difficulties",
            "Intractable, may be approximated with AIS",
            "Models need to be designed to work with the desired inference scheme",
        ],
        "Deep undirected graphical models": [
            "Inference needed during training; MCMC needed to approximate the partition function gradient.",
            "Variational inference",
            "Requires Markov chain",
            "Intractable, may be approximated with AIS",
            "Careful design needed to ensure multiple properties",
        ],
        "Generative autoencoders": [
            "Enforced tradeoff between mixing and power of reconstruction generation",
            "MCMC-based inference",
            "Requires Markov chain",
            "Not explicitly represented, may be approximated with Parzen density estimation",
            "Any differentiable function is theoretically permitted",
        ],
        "Adversarial models": [
            "Synchronizing the discriminator with the generator (the 'Helvetica scenario': G collapsing "
            "many z to one x).",
            "Learned approximate inference",
            "No difficulties",
            "Not explicitly represented, may be approximated with Parzen density estimation",
            "Any differentiable function is theoretically permitted",
        ],
    },
    index=["Training", "Inference", "Sampling", "Evaluating p(x)", "Model design"],
)

PACKAGES = ("torch", "numpy", "pandas", "scipy", "matplotlib", "seaborn", "snakemake", "dvc")
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; } .missing { color: #a33; } pre { background: #f7f7f7; padding: 0.8em; }
.budget { border: 2px solid #c60; background: #fff4e5; padding: 0.6em 0.9em; }
.table1 td + td { white-space: nowrap; }  /* scores such as '121 ± 1.6' on one line */
"""


def esc(text: Any) -> str:
    return html.escape(str(text))


def dataset_name(ds: str) -> str:
    return DATASET_NAMES.get(ds, ds)


def caption(key: str, dataset: str = "") -> str:
    return CAPTIONS.get(key, "{dataset}").format(dataset=dataset_name(dataset))


def embedded_png(path: Path) -> str:
    """An <img> carrying the PNG itself (the page needs no other file)."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(path.name)}">'


def figure_caption(png: Path) -> str:
    """The caption of results/figures/<dataset>/<key>.png (the file's stem if no caption has that key)."""
    return caption(png.stem, png.parent.name) if png.stem in CAPTIONS else png.stem


def in_paper_order(pngs: Iterable[Path]) -> list[Path]:
    """Figures in the order of FIGURE_ORDER (others after them), then by dataset."""
    order = {key: i for i, key in enumerate(FIGURE_ORDER)}
    return sorted(pngs, key=lambda p: (order.get(p.stem, len(order)), p.parent.name, p.name))


def figures_html(results: Path, figures: list[Path] | None = None) -> str:
    """The given PNGs (default: every PNG under results/figures), in the paper's order, with captions."""
    found = figures if figures is not None else results.glob(paths.within_results(paths.figure("*", "*")))
    pngs = in_paper_order(found)
    if not pngs:
        return f'<p class="missing">No figures under {esc(results / "figures")}.</p>'
    blocks = []
    for p in pngs:
        name = f"{p.parent.name}/{p.name}"
        text = figure_caption(p)
        blocks.append(
            f"<figure>{embedded_png(p)}<figcaption>{esc(text)} <code>{esc(name)}</code></figcaption></figure>"
        )
    return "\n".join(blocks)


def figure_index(dataset: str, pngs: Iterable[Path]) -> str:
    """Markdown for results/figures/<dataset>/index.md: each figure under its caption's title (the
    caption up to its first colon), then the image, the rest of the caption and the PDF."""
    lines = [f"# Figures: {dataset_name(dataset)}", ""]
    for p in in_paper_order(pngs):
        pdf = p.with_suffix(".pdf").name
        title, _, text = figure_caption(p).partition(": ")
        body = text[:1].upper() + text[1:]
        lines += [f"## {title}", "", f"![{p.stem}]({p.name})", "", body, "", f"PDF: [{pdf}]({pdf})", ""]
    return "\n".join(lines)


def _figure_index_cli(args: argparse.Namespace) -> None:
    write_text(args.out, figure_index(args.dataset, args.figures))
    print(f"wrote {args.out}: {len(args.figures)} figures of {args.dataset}")


def read_optional(path: Path) -> dict[str, Any] | None:
    return read_json(path) if path.exists() else None


def table1_html(table: dict[str, Any] | None, results: Path) -> str:
    if table is None:
        where = esc(results / paths.within_results(paths.table1("json")))
        return f'<p class="missing">Table 1 has not been built ({where} is missing).</p>'
    notes = "".join(f"<li>{esc(n)}</li>" for n in table.get("notes", []))
    frame = to_frame(table).to_html(index=False, border=0, classes="table1")
    return f"<p>{esc(caption('table1'))}</p>{frame}<ul>{notes}</ul>"


def row_cells(table: dict[str, Any] | None, model: str) -> dict[str, dict]:
    """The cells of one of this reproduction's Table 1 rows ('gan', 'reference', 'kmeans'), by dataset."""
    rows = {r["model"]: r["cells"] for r in (table or {}).get("rows", [])}
    return rows.get(MODEL_LABELS[model], {})


def model_budget(table: dict[str, Any] | None) -> dict[str, list[str]]:
    """Per dataset, why the models' scores are not comparable with the paper (Table 1's budgets)."""
    return ((table or {}).get("budget") or {}).get("models", {})


def budget_html(table: dict[str, Any] | None, config: dict[str, Any] | None) -> str:
    """A box at the top of the report when any budget falls short of the paper's; else nothing."""
    reasons = model_budget(table)
    preset = (config or {}).get("preset", "paper")
    if not reasons and preset == "paper":
        return ""
    items = "".join(f"<li>{esc(dataset_name(ds))}: {esc(', '.join(r))}</li>" for ds, r in reasons.items())
    head = f"Reduced budgets ({esc(preset)} preset)" if preset != "paper" else "Reduced budgets"
    lo, hi, num = paper.PARZEN_SIGMA_LOG10
    protocol = (
        f"{paper.PARZEN_SAMPLES:,} samples, every test point, sigma from logspace({lo:g}, {hi:g}, {num}) "
        f"chosen on {paper.PARZEN_VALID_LIMIT:,} validation points"
    )
    return (
        f'<div class="budget"><strong>{head}: these results are not comparable with the paper.</strong> '
        f"The paper's protocol: {protocol}; models trained for the default length of params.yaml."
        f"<ul>{items}</ul></div>"
    )


def anchors_html() -> str:
    """The published scores the project quotes (ganrepro.paper), with their sources."""
    notes = "".join(f"<li>{esc(n)}</li>" for n in ANCHOR_NOTES)
    return anchors_frame().to_html(index=False, border=0) + f"<ul>{notes}</ul>"


def dataset_metrics(results: Path, datasets: list[str]) -> tuple[dict[str, dict], dict[str, str]]:
    """metrics.json of each dataset that ran, and for the others what happened ('not run: why')."""
    found = {p.parent.name for p in results.glob(paths.within_results(paths.metrics("*")))}
    metrics, missing = {}, {}
    for ds in dict.fromkeys([*datasets, *sorted(found)]):
        data = read_optional(results / paths.within_results(paths.metrics(ds)))
        if data is None:
            missing[ds] = f"no results yet ({results / paths.within_results(paths.metrics(ds))} is missing)"
        elif data.get("not_run"):
            missing[ds] = f"not run: {data['not_run']}"
        else:
            metrics[ds] = data
    return metrics, missing


def metrics_html(metrics: dict[str, dict], missing: dict[str, str]) -> str:
    parts = []
    if metrics:
        frame = pd.DataFrame({dataset_name(ds): {k: _fmt(v) for k, v in m.items()} for ds, m in metrics.items()})
        parts.append(frame.fillna("—").to_html(border=0))
    parts += [f'<p class="missing">{esc(dataset_name(ds))}: {esc(why)}</p>' for ds, why in missing.items()]
    return "\n".join(parts) or "<p>No datasets.</p>"


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def inference_results(results: Path) -> list[dict[str, Any]]:
    return [read_json(p) for p in sorted(results.glob(paths.within_results(paths.infer_result("*", "*"))))]


def inference_html(runs: list[dict[str, Any]]) -> str:
    if not runs:
        where = esc(paths.infer_result("<dataset>", "<seed>"))
        return f'<p class="missing">No inference results ({where}).</p>'
    frame = pd.DataFrame(
        [
            {
                "dataset": dataset_name(r["dataset"]),
                "seed": r["seed"],
                "z MSE": r["z_recovery"]["mse"],
                "z R² (mean over dims)": r["z_recovery"]["r2_mean"],
                "reconstruction MSE / pixel": r["reconstruction"]["encoder"]["mse_per_pixel"],
                "random-z MSE / pixel": r["reconstruction"]["random_z"]["mse_per_pixel"],
                "reconstruction L2": r["reconstruction"]["encoder"]["l2_mean"],
                "random-z L2": r["reconstruction"]["random_z"]["l2_mean"],
                "test images": r["reconstruction"]["n_test"],
                "training steps": r["config"]["steps"],
                "seconds": round(r["elapsed_seconds"], 1),
            }
            for r in runs
        ]
    )
    return frame.to_html(index=False, border=0, float_format=lambda v: f"{v:.4g}")


def per_class_frame(results: Path, dataset: str) -> pd.DataFrame | None:
    """Test log-likelihood per class: real training images (the reference row), each GAN seed, and
    the gap between the reference and the seeds' mean. None without per-class scores."""
    reference = read_optional(results / paths.within_results(paths.reference(dataset))) or {}
    columns = {"real images": reference.get("per_class")}
    for path in sorted(results.glob(paths.within_results(paths.parzen(dataset, "*")))):
        scores = read_json(path)
        columns[f"GAN seed {scores.get('seed')}"] = scores.get("per_class")
    if not all(columns.values()) or len(columns) < 2:
        return None
    frame = pd.DataFrame(
        {name: {int(c): v["log_likelihood"] for c, v in per_class.items()} for name, per_class in columns.items()}
    ).sort_index()
    frame["real − GAN (seed mean)"] = frame["real images"] - frame.drop(columns="real images").mean(axis=1)
    frame.index.name = "test class"
    return frame


def per_class_html(results: Path) -> str:
    parts = []
    for eval_dir in sorted(results.glob(paths.within_results(paths.eval_dir("*")))):
        dataset = eval_dir.parent.name
        frame = per_class_frame(results, dataset)
        if frame is not None:
            parts.append(
                f"<h3>{esc(dataset_name(dataset))}</h3>" + frame.to_html(border=0, float_format=lambda v: f"{v:.1f}")
            )
    if not parts:
        return '<p class="missing">No per-class Parzen scores (parzen.json files without per_class).</p>'
    return (
        "<p>Mean Parzen log-likelihood of the test points of each class (each column at its own "
        "protocol sigma): where the model falls short of real images.</p>" + "\n".join(parts)
    )


def findings(
    table: dict[str, Any] | None,
    missing: dict[str, str],
    ring: dict[str, Any] | None,
    runs: list[dict[str, Any]],
    requested: list[str] | None = None,
) -> list[str]:
    """Plain sentences: where the measurements agree with the paper, where they do not, what did not
    run (a dataset left out of the `requested` datasets list is not mentioned)."""
    gan, budget = row_cells(table, "gan"), model_budget(table)
    lines = []
    for p in (s for s in paper.TABLE1 if s.model == paper.GAN_MODEL):
        if requested is not None and p.dataset not in requested and p.dataset not in missing:
            continue
        lines.append(_paper_finding(p, gan.get(p.dataset, {}), budget.get(p.dataset), missing.get(p.dataset)))
        lines += _reference_findings(table, p.dataset)
    paper_sets = {p.dataset for p in paper.TABLE1}
    for ds, cell in gan.items():
        if ds not in paper_sets and "log_likelihood" in cell:
            lines.append(
                f"{dataset_name(ds)}: measured {cell['display']}; the paper gives no Parzen number for it "
                "(its figures only)."
            )
    if ring:
        lines.append(
            f"Ring of Gaussians (beyond the paper): {ring['modes_covered']} of {ring['modes']} modes covered, "
            f"{ring['high_quality_fraction']:.1%} of samples within 3 standard deviations of a mode."
        )
    for r in runs:
        rec = r["reconstruction"]
        lines.append(
            f"Approximate inference ({dataset_name(r['dataset'])}, seed {r['seed']}; the paper proposes it "
            f"without results): G(E(x)) has {rec['mse_ratio_encoder_to_random']:.0%} of the squared error "
            f"of the random-z baseline on test images; z is recovered from G(z) with mean R² "
            f"{r['z_recovery']['r2_mean']:.2f}."
        )
    lines += [f"{dataset_name(ds)}: {why}." for ds, why in missing.items() if ds not in paper_sets]
    return lines


def _paper_finding(p: paper.PaperScore, cell: dict[str, Any], budget: list[str] | None, missing: str | None) -> str:
    """The measured score against the paper's: a verdict only when the budgets are the paper's."""
    name, quoted = dataset_name(p.dataset), format_score(p.log_likelihood, p.error)
    if "log_likelihood" not in cell:
        return f"{name}: the paper reports {quoted}; {missing or cell.get('display') or 'no Parzen result'}."
    measured = format_score(cell["log_likelihood"], cell["error"])
    if budget:
        if is_aggregated(cell):
            measured += f" (mean ± {cell['error_kind']})"
        return (
            f"{name}: measured {measured} on a reduced budget ({', '.join(budget)}): not comparable with the "
            f"paper's {quoted}."
        )
    diff = cell["log_likelihood"] - p.log_likelihood
    spread = math.hypot(cell["error"], p.error)
    verdict = (
        "consistent with the paper (within 2 combined errors)"
        if abs(diff) <= 2 * spread
        else f"{'higher' if diff > 0 else 'lower'} than the paper"
    )
    return (
        f"{name}: measured {measured} against the paper's {quoted}: {verdict}, difference {diff:+.1f} nats "
        f"({abs(diff) / spread:.1f} combined errors; ± {cell.get('error_kind', 'as in Table 1')})."
    )


def _reference_findings(table: dict[str, Any] | None, dataset: str) -> list[str]:
    """What real images and k-means centres score under the same estimator (the estimator's own range)."""
    real = row_cells(table, "reference").get(dataset, {})
    centres = row_cells(table, "kmeans").get(dataset, {})
    if "log_likelihood" not in real:
        return []
    line = (
        f"{dataset_name(dataset)}: real training images in place of samples score "
        f"{format_score(real['log_likelihood'], real['error'])} under the same estimator"
    )
    if "log_likelihood" in centres:
        above = centres["log_likelihood"] > real["log_likelihood"]
        line += (
            f"; k-means centres of the training set (as many as samples) score "
            f"{format_score(centres['log_likelihood'], centres['error'])}"
            + (
                ", above the real images, as Theis et al. (2016) found: blurred averages of training images "
                "outscore the data itself under this estimator"
                if above
                else ""
            )
        )
    return [line + "."]


def versions(results: Path) -> dict[str, str]:
    """Python, the key packages (installed metadata), ganrepro, the devices the training runs used
    (their train.json) and the device 'auto' resolves to where the report is built."""
    found = {"python": platform.python_version(), "ganrepro": __version__}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    records = results.glob(paths.within_results(paths.train_record("*", "*", "*")))
    used = sorted({str(read_json(p).get("device")) for p in records})
    found["device of the training runs"] = ", ".join(used) or "no training runs found"
    from ganrepro.device import resolve_device  # torch: imported here only, the other commands need none

    found["device 'auto' here"] = str(resolve_device("auto"))
    return found


def plan_html(results: Path) -> str:
    """The training plan the workflow printed before its jobs: estimated time per model."""
    plan = read_optional(Path(paths.plan(str(results))))
    if not plan or not plan["models"]:
        return '<p class="missing">No training plan (results/plan.json is written when a run trains models).</p>'
    frame = pd.DataFrame(plan["models"]).rename(
        columns={"step_seconds": "seconds per step (timed)", "hours": "estimated hours"}
    )
    return (
        "<p>Estimated before training from a few timed steps of each model on its device, times its "
        "budget; validation and evaluation not included. Measured times: the per-dataset metrics "
        f"(train_seconds_total).</p>{frame.to_html(index=False, border=0, float_format=lambda v: f'{v:.3g}')}"
        f"<p>Total: about {plan['total_hours']:.2f} h one after another.</p>"
    )


def build_report(
    results: Path,
    params_path: Path,
    config: dict[str, Any] | None = None,
    figures: list[Path] | None = None,
    semisupervised_skipped: dict[str, str] | None = None,
) -> str:
    """The report as one HTML string. `config`: the parameters the workflow ran with (params.yaml
    merged with any --configfile overlay); without it, the params file is shown."""
    params = config if config is not None else load_params(params_path) if params_path.exists() else {}
    table = read_optional(results / paths.within_results(paths.table1("json")))
    requested = list(params["datasets"]) if "datasets" in params else None
    metrics, missing = dataset_metrics(results, requested or [])
    runs = inference_results(results)
    ring = read_optional(results / paths.within_results(paths.figure("ring", "modes", "json")))
    if config is not None:
        params_text = yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
    else:
        params_text = params_path.read_text() if params_path.exists() else f"{params_path} not found"
    version_rows = pd.DataFrame(versions(results).items(), columns=["component", "version"])
    sections = [
        (
            "What matches the paper",
            "<ul>" + "".join(f"<li>{esc(s)}</li>" for s in findings(table, missing, ring, runs, requested)) + "</ul>",
        ),
        ("Table 1", table1_html(table, results)),
        ("Training plan", plan_html(results)),
        ("Published MNIST scores under the same protocol (quoted, not measured)", anchors_html()),
        ("Figures", figures_html(results, figures)),
        ("Per-dataset metrics", metrics_html(metrics, missing)),
        ("Parzen per test class", per_class_html(results)),
        ("Learned approximate inference", inference_html(runs)),
        (
            "Inpainting: all conditionals p(x_S | x_not S) with one model",
            inpainting_html(results, params.get("inpaint", {}).get("datasets"), requested),
        ),
        (
            "Semi-supervised classification with the GAN's features",
            semisupervised_html(results, semisupervised_skipped),
        ),
        (
            "Table 2 of the paper (context)",
            "<p>Challenges in generative modeling, per approach (abridged from the "
            "paper).</p>" + TABLE2.to_html(border=0),
        ),
        ("Parameters", f"<pre>{esc(params_text)}</pre>"),
        ("Versions", version_rows.to_html(index=False, border=0)),
    ]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(f"<h2>{esc(title)}</h2>\n{content}" for title, content in sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>GAN reproduction report</title>'
        f"<style>{STYLE}</style></head><body>\n<h1>Generative Adversarial Nets: reproduction report</h1>\n"
        f"{budget_html(table, config)}\n"
        f"<p>{esc(paper.SOURCE.removesuffix(', Table 1'))}. Built {stamp} from <code>{esc(results)}</code>.</p>\n"
        f"{body}\n</body></html>\n"
    )


def run(args: argparse.Namespace) -> None:
    config = json_option(args.config_json) or None
    skipped = parse_skipped(args.semisupervised_skipped)
    text = build_report(args.results, args.params, config, args.figures, skipped)
    write_text(args.out, text)
    print(f"[report] wrote {args.out} ({len(text) / 1e6:.1f} MB)", file=sys.stderr)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="one self-contained HTML report of the results")
    p.add_argument("--results", type=Path, default=Path(paths.RESULTS), help="the results folder of the workflow")
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="parameters shown in the report")
    p.add_argument("--config-json", help="the parameters the workflow ran with, as JSON (shown instead of --params)")
    p.add_argument("--figures", type=Path, nargs="*", help="the PNGs to show (default: all under RESULTS/figures)")
    p.add_argument(
        "--semisupervised-skipped",
        nargs="*",
        default=[],
        metavar="DATASET=REASON",
        help="datasets the semi-supervised step does not run for, with the reason shown",
    )
    p.add_argument("--out", type=Path, required=True, help="output .html")
    p.set_defaults(func=run)
    q = subparsers.add_parser("figure-index", help="a dataset's figures with their captions, as Markdown")
    q.add_argument("--dataset", required=True, help="the dataset whose figures these are")
    q.add_argument("--figures", type=Path, nargs="+", required=True, help="the PNGs, all in one folder")
    q.add_argument("--out", type=Path, required=True, help="output .md (links are relative to its folder)")
    q.set_defaults(func=_figure_index_cli)


def semisupervised_html(results: Path, skipped: dict[str, str] | None) -> str:
    """The semi-supervised table of every dataset that ran it (on its first seed's model), and why
    the others did not."""
    found = [read_json(p) for p in sorted(results.glob(paths.within_results(paths.semisupervised("*", "*"))))]
    frame = semisupervised_frame(found)
    parts = [
        "<p>The paper's extension 4: do the GAN's features help a classifier that has few labels? Figures "
        "above; the baselines share the label subsets.</p>"
    ]
    if frame.empty:
        where = esc(paths.semisupervised("<dataset>", "<seed>"))
        parts.append(f'<p class="missing">No semi-supervised results ({where}).</p>')
        parts += [
            f'<p class="missing">{esc(dataset_name(r["dataset"]))}: not run: {esc(r["not_run"])}</p>' for r in found
        ]
    else:
        notes = "".join(f"<li>{esc(n)}</li>" for n in semisupervised_notes(found))
        parts.append(frame.to_html(index=False, border=0) + f"<ul>{notes}</ul>")
    parts += [
        f'<p class="missing">{esc(dataset_name(ds))}: not run: {esc(why)}</p>' for ds, why in (skipped or {}).items()
    ]
    return "\n".join(parts)


INPAINT_COLUMNS = {  # inpaint.json's score -> the report's column
    "mse_mean": "MSE, mean of k",
    "mse_best": "MSE, best of k",
    "mse_mean_fill": "MSE, mean fill",
    "mse_nn_fill": "MSE, nearest-neighbour fill",
    "accuracy": "accuracy on completions",
    "accuracy_mean_fill": "accuracy, mean fill",
    "accuracy_nn_fill": "accuracy, nearest-neighbour fill",
    "diversity": "diversity (pixel SD over k)",
}


def inpainting_html(results: Path, listed: list[str] | None = None, requested: list[str] | None = None) -> str:
    """Per dataset, the test scores of each mask kind (from inpaint.json), as an HTML table. `listed`:
    the parameters' `inpaint.datasets`; when it names none of the `requested` datasets, the section
    says the step was not asked for rather than that its results are missing."""
    found = sorted(results.glob(paths.within_results(paths.inpaint_metrics("*"))))
    if not found and listed is not None and requested is not None and not set(listed) & set(requested):
        return "<p>Not run: <code>inpaint.datasets</code> names none of the datasets of this run.</p>"
    if not found:
        where = esc(paths.inpaint_metrics("<dataset>"))
        return f'<p class="missing">No inpainting results ({where}).</p>'
    parts = []
    for path in found:
        result = read_json(path)
        frame = pd.DataFrame({**result["kinds"], "mean": result["mean"]}).T
        frame = frame[[c for c in INPAINT_COLUMNS if c in frame]].rename(columns=INPAINT_COLUMNS)
        truth = result.get("accuracy_truth")
        parts.append(
            f"<h3>{esc(dataset_name(result['dataset']))}</h3><p>{result['points']} test images, "
            f"k = {result['completions']} completions each; masked-region MSE (mean over the missing pixels). "
            f"The classifier's accuracy on the uncorrupted images: {truth if truth is None else f'{truth:.4f}'}.</p>"
            + frame.to_html(border=0, float_format=lambda v: f"{v:.4f}")
        )
    return "\n".join(parts)
