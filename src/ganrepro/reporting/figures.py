"""Figures 1-3 of the paper, the ring's mode coverage, reconstructions G(E(x)), training curves and the
Parzen sigma sweep: `ganrepro figure KIND ... --out PREFIX` writes PREFIX.png and PREFIX.pdf, each
atomically."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from matplotlib.ticker import FuncFormatter, NullFormatter
from torch import nn

from ganrepro.arrays import load_array
from ganrepro.config import step_params
from ganrepro.data.prepared import load_labels, load_split
from ganrepro.data.sources import CLASS_NAMES
from ganrepro.density import nearest_indices
from ganrepro.device import add_device_argument, resolve_device
from ganrepro.errors import UserError
from ganrepro.evaluation import toy1d_dynamics
from ganrepro.evaluation.infer import load_encoder, reconstruct
from ganrepro.evaluation.toy1d_dynamics import Dynamics, Figure1Schedule, Snapshot
from ganrepro.evaluation.toy_metrics import ring_geometry, ring_metrics
from ganrepro.gan_config import TrainConfig
from ganrepro.io import atomic_path, read_json, write_json
from ganrepro.models.artifacts import load_model
from ganrepro.models.networks import condition_classes, generate, sample_noise

NEIGHBOUR_COLOUR = "#d62728"
CELL_INCHES = 0.6  # size of one image in a grid figure
DPI = 150


# ---------------------------------------------------------------------------------------------
# Shared helpers: saving, image grids, loading
# ---------------------------------------------------------------------------------------------


def save_figure(fig: Figure, prefix: Path) -> list[Path]:
    """Write PREFIX.png and PREFIX.pdf atomically; return the two paths. Figures are plain
    matplotlib `Figure` objects (no pyplot state, no GUI backend)."""
    paths = [Path(f"{prefix}.{fmt}") for fmt in ("png", "pdf")]
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix[1:], dpi=DPI, bbox_inches="tight")
    print(f"[figure] wrote {paths[0]} and {paths[1].name}", file=sys.stderr)
    return paths


def as_images(x: np.ndarray, shape: list[int]) -> np.ndarray:
    """Flat rows to (n, C, H, W) images, clipped to [0, 1]."""
    return np.clip(np.asarray(x, dtype=np.float32).reshape(len(x), *shape), 0.0, 1.0)


def image_grid(images: np.ndarray, cols: int, pad: int = 1) -> np.ndarray:
    """(n, C, H, W) images tiled row by row into one (H', W') or (H', W', 3) array on white."""
    n, c, h, w = images.shape
    rows = math.ceil(n / cols)
    grid = np.ones((c, rows * (h + pad) - pad, cols * (w + pad) - pad), dtype=np.float32)
    for i, img in enumerate(images):
        r, k = divmod(i, cols)
        grid[:, r * (h + pad) : r * (h + pad) + h, k * (w + pad) : k * (w + pad) + w] = img
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def show_grid(ax: Axes, images: np.ndarray, cols: int, title: str = "") -> None:
    """Draw an image grid (grayscale or colour) on `ax`, without ticks."""
    ax.imshow(image_grid(images, cols), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def grid_figure(widths: list[int], rows: int) -> tuple[Figure, list[Axes]]:
    """A row of grid panels, `widths` image columns each, sized to CELL_INCHES per image."""
    fig = Figure(figsize=(CELL_INCHES * (sum(widths) + len(widths)), CELL_INCHES * rows + 0.6))
    axes = fig.subplots(
        1, len(widths), squeeze=False, gridspec_kw={"width_ratios": widths, "wspace": 0.04 * len(widths)}
    )
    return fig, list(axes[0])


def load_image_model(path: Path, device_name: str) -> tuple[nn.Module, dict[str, Any]]:
    """The generator of a model file whose data are images, with its meta."""
    G, _, meta = load_model(path, resolve_device(device_name))
    if meta.get("kind") != "image":
        raise UserError(f"{path}: this figure needs an image model; {meta.get('dataset')} is {meta.get('kind')!r} data")
    return G, meta


def check_dim(x: np.ndarray, meta: dict[str, Any], where: Path) -> np.ndarray:
    """x as flat rows; an error names the file when they do not fit the model."""
    flat = x.reshape(len(x), -1)
    if flat.shape[1] != meta["data_dim"]:
        raise UserError(
            f"{where}: examples have {flat.shape[1]} values, the model {meta['data_dim']} "
            f"({meta.get('dataset')}): use the model's own dataset"
        )
    return flat


# ---------------------------------------------------------------------------------------------
# Figure 2: fair samples, and the nearest training example of the neighbouring sample
# ---------------------------------------------------------------------------------------------


def neighbour_column(samples: np.ndarray, train: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples 0.. laid out as `rows` rows of cols-1 (flat rows), and for each row the index in
    `train` of the nearest training example (pixel distance) of the row's last sample."""
    shown = samples[: rows * (cols - 1)]
    last = shown.reshape(rows, cols - 1, -1)[:, -1]
    return shown, nearest_indices(last, train.reshape(len(train), -1))


def figure_samples(model: Path, data: Path, rows: int, cols: int, out: Path, seed: int, device: str) -> None:
    if cols < 2 or rows < 1:
        raise UserError("figure samples: --cols must be >= 2 (the last column holds neighbours) and --rows >= 1")
    G, meta = load_image_model(model, device)
    train = check_dim(load_split(data, "train"), meta, data)
    x = generate(G, meta["config"], rows * (cols - 1), seed)["x"]
    shown, idx = neighbour_column(x, train, rows, cols)
    fig, (ax_s, ax_n) = grid_figure([cols - 1, 1], rows)
    show_grid(
        ax_s,
        as_images(shown, meta["example_shape"]),
        cols - 1,
        f"{meta.get('dataset')}: samples 0..{len(shown) - 1} of seed {seed}",
    )
    show_grid(ax_n, as_images(train[idx], meta["example_shape"]), 1, "nearest\ntraining")
    for spine in ax_n.spines.values():
        spine.set(edgecolor=NEIGHBOUR_COLOUR, linewidth=2.5)
    save_figure(fig, out)


# ---------------------------------------------------------------------------------------------
# Figure 3: linear interpolation in z
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def interpolate(G: nn.Module, cfg: TrainConfig, rows: int, steps: int, seed: int) -> np.ndarray:
    """G along `rows` straight lines between two random z's, `steps` points each (c fixed per row)."""
    device = next(G.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    ends = sample_noise(2 * rows, cfg.z_dim, cfg.noise, device, gen).view(2, rows, 1, -1)
    t = torch.linspace(0.0, 1.0, steps, device=device).view(1, steps, 1)
    z = ((1 - t) * ends[0] + t * ends[1]).reshape(rows * steps, -1)
    n_cls = condition_classes(G)
    c = (torch.arange(rows, device=device) % n_cls).repeat_interleave(steps) if n_cls else None
    return G(z, c).cpu().numpy()


def figure_interp(model: Path, rows: int, steps: int, out: Path, seed: int, device: str) -> None:
    if rows < 1 or steps < 2:
        raise UserError("figure interp: --rows must be >= 1 and --steps >= 2")
    G, meta = load_image_model(model, device)
    x = interpolate(G, meta["config"], rows, steps, seed)
    fig, (ax,) = grid_figure([steps], rows)
    show_grid(
        ax,
        as_images(x, meta["example_shape"]),
        steps,
        f"{meta.get('dataset')}: G((1 - t) z0 + t z1), t = 0 .. 1 along each row (seed {seed})",
    )
    save_figure(fig, out)


# ---------------------------------------------------------------------------------------------
# Approximate inference: test images beside G(E(x))
# ---------------------------------------------------------------------------------------------


def figure_reconstruct(model: Path, encoder: Path, data: Path, rows: int, cols: int, out: Path, device: str) -> None:
    G, meta = load_image_model(model, device)
    dev = next(G.parameters()).device
    E, _ = load_encoder(encoder, dev)
    n = rows * cols
    x = check_dim(load_split(data, "test"), meta, data)[:n]
    c = torch.from_numpy(load_labels(data, "test")[:n]).to(dev) if condition_classes(G) else None
    x_hat = reconstruct(G, E, torch.from_numpy(x).to(dev), c).cpu().numpy()
    fig, axes = grid_figure([cols, cols], rows)
    show_grid(axes[0], as_images(x, meta["example_shape"]), cols, f"{meta.get('dataset')}: test images x")
    show_grid(axes[1], as_images(x_hat, meta["example_shape"]), cols, "G(E(x))")
    save_figure(fig, out)


# ---------------------------------------------------------------------------------------------
# The ring of Gaussians: mode coverage
# ---------------------------------------------------------------------------------------------


def figure_ring(samples: Path, data: Path, out: Path, metrics_out: Path | None) -> dict[str, Any]:
    x = load_array(f"{samples}:x")
    if x.ndim != 2 or x.shape[1] != 2:
        raise UserError(f"{samples}: expected 2-D samples of the ring dataset, got shape {x.shape}")
    centres, std = ring_geometry(data)
    metrics = {"samples": str(samples), **ring_metrics(x, centres, std)}
    real = load_split(data, "test")[: len(x)]
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.scatter(real[:, 0], real[:, 1], s=2, c="0.7", label="data (test split)", rasterized=True)
    ax.scatter(x[:, 0], x[:, 1], s=2, c="tab:green", alpha=0.4, label="samples of G", rasterized=True)
    for (cx, cy), count in zip(centres, metrics["per_mode_counts"]):
        ax.add_patch(Circle((cx, cy), 3 * std, fill=False, color="k", lw=0.8))
        ax.annotate(str(count), (cx, cy), xytext=(cx * 1.18, cy * 1.18), ha="center", va="center", fontsize=8)
    lim = 1.4 * np.abs(centres).max()
    ax.set(
        xlim=(-lim, lim),
        ylim=(-lim, lim),
        aspect="equal",
        title=f"{metrics['modes_covered']}/{len(centres)} modes covered; "
        f"{metrics['high_quality_fraction']:.1%} of samples within 3 std of a mode",
    )
    ax.legend(loc="center", fontsize=8, markerscale=4)
    save_figure(fig, out)
    if metrics_out:
        write_json(metrics_out, metrics)
    return metrics


# ---------------------------------------------------------------------------------------------
# Figure 1: the 1-D illustration, from a real toy1d run
# ---------------------------------------------------------------------------------------------


def draw_panel(
    ax: Axes, ax_map: Axes, snap: Snapshot, grid: np.ndarray, p_data: np.ndarray, z_pos: np.ndarray | None
) -> None:
    """Densities and D on top; the z -> x mapping below (z evenly spaced in probability)."""
    ax.plot(grid, p_data, "k:", lw=1.5, label="p_data")
    ax.plot(grid, snap.p_g, "g-", lw=1.5, label="p_g")
    ax.plot(grid, snap.d, "b--", lw=1.5, label="D(x)")
    if snap.d_star is not None:
        ax.plot(grid, snap.d_star, color="b", alpha=0.3, lw=3, label="D* = p_data/(p_data+p_g)")
    ax.set_title(snap.title, fontsize=9)
    ax.set_ylim(0, max(1.05, 1.05 * max(p_data.max(), snap.p_g.max())))
    ax.tick_params(labelbottom=False)
    ax_map.set(ylim=(-0.15, 1.15), yticks=[0, 1], yticklabels=["z", "x"])
    ax_map.axhline(0, color="k", lw=0.8)
    ax_map.axhline(1, color="k", lw=0.8)
    if snap.x_of_z is None or z_pos is None:
        ax_map.text(
            0.5,
            0.5,
            "z has more than one dimension: mapping not drawn",
            transform=ax_map.transAxes,
            ha="center",
            va="center",
            fontsize=7,
        )
        return
    for zp, xg in zip(z_pos, np.clip(snap.x_of_z, grid[0], grid[-1])):
        ax_map.annotate("", xy=(xg, 1), xytext=(zp, 0), arrowprops={"arrowstyle": "->", "lw": 0.6, "color": "0.3"})


def figure_toy1d(model: Path, data: Path, out: Path, schedule: Figure1Schedule, seed: int, device: str) -> Dynamics:
    """Figure 1: p_data, p_g and D at the four moments of evaluation.toy1d_dynamics."""
    result = toy1d_dynamics.run(model, data, schedule, seed, device)
    fig = Figure(figsize=(16, 4.6))
    axes = fig.subplots(2, 4, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
    for k, snap in enumerate(result.snaps):
        draw_panel(axes[0, k], axes[1, k], snap, result.grid, result.p_data, result.z_pos)
    axes[0, 1].legend(fontsize=7, loc="upper left")
    axes[1, 0].set_xlabel("x (above), z placed by its quantile under p_z (below)", fontsize=8)
    save_figure(fig, out)
    return result


# ---------------------------------------------------------------------------------------------
# Training curves
# ---------------------------------------------------------------------------------------------


def run_label(path: Path, data: dict[str, Any] | None = None) -> str:
    """'s0' from results/runs/<ds>/train/s0/train_log.csv; for Parzen files, seed and fold from the json."""
    if data is None:
        return path.parent.name
    fold = data.get("fold")
    return f"seed {data.get('seed')}" + (f" fold {fold}" if fold is not None else "")


def read_logs(paths: list[Path]) -> pd.DataFrame:
    """train_log.csv files stacked, with a `run` column."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise UserError(f"training log(s) not found: {', '.join(map(str, missing))}")
    return pd.concat([pd.read_csv(p).assign(run=run_label(p)) for p in paths], ignore_index=True)


def _panel_losses(ax: Axes, logs: pd.DataFrame) -> None:
    long = logs.melt(id_vars=["epoch", "run"], value_vars=["d_loss", "g_loss"], var_name="loss")
    sns.lineplot(long, x="epoch", y="value", hue="loss", style="run", errorbar=None, ax=ax)
    ax.set(title="losses", ylabel="loss")


def _panel_d(ax: Axes, logs: pd.DataFrame) -> None:
    long = logs.rename(columns={"d_real": "D(x)", "d_fake": "D(G(z))"}).melt(
        id_vars=["epoch", "run"], value_vars=["D(x)", "D(G(z))"], var_name="output"
    )
    sns.lineplot(long, x="epoch", y="value", hue="output", style="run", errorbar=None, ax=ax)
    ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
    ax.set(title="discriminator outputs (mean over the batch)", ylabel="D", ylim=(0, 1))


def _panel_sigma(ax: Axes, parzen: list[tuple[Path, dict[str, Any]]]) -> None:
    for path, data in parzen:
        scores = pd.DataFrame(data["valid_scores"])
        (line,) = ax.plot(scores["sigma"], scores["log_likelihood"], "o-", ms=3, label=run_label(path, data))
        best = scores.loc[scores["sigma"].sub(data["sigma"]).abs().idxmin()]
        ax.plot(best["sigma"], best["log_likelihood"], "*", ms=12, color=line.get_color())
    ax.set(
        xscale="log",
        xlabel="sigma",
        ylabel="validation log-likelihood",
        title="Parzen sigma selection (star: chosen sigma)",
    )
    ax.legend(fontsize=7)


def _panel_history(ax: Axes, summaries: list[tuple[Path, dict[str, Any]]]) -> None:
    for path, data in summaries:
        hist = pd.DataFrame(data["valid_history"])
        if len(hist):
            ax.plot(hist["epoch"], hist["log_likelihood"], "o-", ms=3, label=run_label(path))
    ax.set(xlabel="epoch", ylabel="validation log-likelihood", title="validation Parzen estimate during training")
    ax.legend(fontsize=7)


def figure_curves(logs: list[Path], summaries: list[Path], parzen: list[Path], out: Path) -> Figure:
    """Losses and D's outputs over training per run; with Parzen results, their sigma selection; with
    validation checks in the training summaries, the estimate over epochs. Returns the figure drawn."""
    frame = read_logs(logs)
    runs = [(p, read_json(p)) for p in summaries]
    scores = [(p, read_json(p)) for p in parzen]
    panels: list[Callable[[Axes], None]] = [lambda ax: _panel_losses(ax, frame), lambda ax: _panel_d(ax, frame)]
    if scores:
        panels.append(lambda ax: _panel_sigma(ax, scores))
    if any(data.get("valid_history") for _, data in runs):
        panels.append(lambda ax: _panel_history(ax, runs))
    fig = Figure(figsize=(4.8 * len(panels), 3.6), layout="tight")
    for panel, ax in zip(panels, fig.subplots(1, len(panels), squeeze=False)[0]):
        panel(ax)
    save_figure(fig, out)
    return fig


# ---------------------------------------------------------------------------------------------
# Parzen sigma sweep: how much of a score the sigma grid decides
# ---------------------------------------------------------------------------------------------

SWEEP_NAMES = {"gan": "GAN", "reference": "training images", "kmeans": "k-means centres"}


def sweep_label(data: dict[str, Any]) -> str:
    """'GAN seed 0', 'training images', 'k-means centres fold 2' for a parzen json."""
    model = data.get("model") or "gan"
    name = data.get("label") or SWEEP_NAMES.get(model, model)
    seed, fold = data.get("seed"), data.get("fold")
    return name + (f" seed {seed}" if seed is not None else "") + (f" fold {fold}" if fold is not None else "")


def validation_curve(data: dict[str, Any]) -> pd.Series:
    """Every mean validation log-likelihood a parzen json holds (paper grid, fine grid, sweep), by sigma."""
    points = {v["sigma"]: v["log_likelihood"] for v in data["valid_scores"]}
    if data.get("fine"):
        points.update({v["sigma"]: v["log_likelihood"] for v in data["fine"]["valid_scores"]})
    if data.get("sweep"):
        points.update(zip(data["sweep"]["sigmas"], data["sweep"]["valid_log_likelihoods"]))
    return pd.Series(points).sort_index()


def grid_loss(data: dict[str, Any]) -> float:
    """Nats of validation log-likelihood between the best sigma found anywhere (sweep, fine grid) and
    the paper grid's choice: what the grid's coarseness costs this model."""
    curve = validation_curve(data)
    return float(curve.max() - curve[data["sigma"]])


def _draw_sweep(ax: Axes, ax_loss: Axes, data: dict[str, Any]) -> None:
    """One json's curve on both panels, with its grid points and its chosen sigmas marked."""
    curve = validation_curve(data)
    grid = pd.DataFrame(data["valid_scores"]).set_index("sigma")["log_likelihood"]
    label = f"{sweep_label(data)} (grid loses {grid_loss(data):.1f} nats)"
    for target, shift in ((ax, 0.0), (ax_loss, curve.max())):
        (line,) = target.plot(curve.index, curve - shift, "-", lw=1.2, label=label if target is ax else None)
        colour = line.get_color()
        target.plot(grid.index, grid - shift, "o", ms=4, mfc="none", color=colour)
        target.plot(data["sigma"], curve[data["sigma"]] - shift, "*", ms=13, color=colour, mec="k", mew=0.5)
        if data.get("fine"):
            fine = data["fine"]["sigma"]
            target.plot(fine, curve[fine] - shift, "D", ms=6, color=colour, mec="k", mew=0.5)


def figure_sigma_sweep(parzen: list[Path], out: Path) -> dict[str, float]:
    """Validation log-likelihood against sigma for each parzen json (left), and less each curve's best
    (right, zoomed to the grid's losses); returns each json's grid loss by its label."""
    runs = [read_json(p) for p in parzen]
    if not runs:
        raise UserError("figure sigma-sweep: give at least one parzen json (--parzen)")
    fig = Figure(figsize=(11, 4.2), layout="tight")
    ax, ax_loss = fig.subplots(1, 2)
    for data in runs:
        _draw_sweep(ax, ax_loss, data)
    floor = -max(20.0, 3 * max(grid_loss(d) for d in runs))
    shown = [s for d in runs for s, v in (validation_curve(d) - validation_curve(d).max()).items() if v >= floor]
    dataset = runs[0].get("dataset") or ""
    ax.set(
        xscale="log",
        xlabel="sigma",
        ylabel="mean validation log-likelihood (nats)",
        title=f"{dataset}: Parzen window score against sigma",
    )
    ax.legend(fontsize=7, title="o paper grid  * its choice  \u25c6 fine grid", title_fontsize=7)
    ax_loss.set(
        xscale="log",
        xlabel="sigma",
        ylabel="less the curve's best (nats)",
        xlim=(min(shown) / 1.15, max(shown) * 1.15),
        ylim=(floor, -0.05 * floor),
        title="what the sigma grid decides (zoomed on the optima)",
    )
    ax_loss.axhline(0, color="0.6", lw=0.8, ls=":")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 0.2, not 2 x 10^-1, on the zoomed log axis
    ax_loss.xaxis.set_major_formatter(plain)
    ax_loss.xaxis.set_minor_formatter(plain)
    ax_loss.tick_params(axis="x", which="minor", labelsize=7)
    save_figure(fig, out)
    return {sweep_label(d): grid_loss(d) for d in runs}


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _figure_params(**given: int | None) -> list[int]:
    """The given figure sizes, each missing one from params.yaml's figures section."""
    values = step_params("figures", given)
    return [values[key] for key in given]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `ganrepro figure <kind>` and `ganrepro conditional-figure`."""
    add_conditional_parser(subparsers)
    p = subparsers.add_parser(
        "figure",
        help="draw a figure as PNG and PDF: toy1d, samples, interp, reconstruct, ring, sigma-sweep, curves "
        "or semi-supervised",
    )
    kinds = p.add_subparsers(dest="figure", required=True, metavar="KIND")

    def kind(
        name: str, help_text: str, func: Callable[[argparse.Namespace], Any], *, model: bool = True, device: bool = True
    ) -> argparse.ArgumentParser:
        k = kinds.add_parser(name, help=help_text)
        if model:
            k.add_argument("--model", type=Path, required=True, help="model.pt written by `ganrepro train`")
        k.add_argument("--out", type=Path, required=True, help="output prefix: writes PREFIX.png and PREFIX.pdf")
        if device:
            add_device_argument(k)
        k.set_defaults(func=func)
        return k

    k = kind(
        "toy1d",
        "Figure 1: p_data, p_g and D on toy1d at four moments of training",
        lambda a: figure_toy1d(
            a.model,
            a.data,
            a.out,
            Figure1Schedule(**{f: getattr(a, f) for f in Figure1Schedule.__dataclass_fields__}),
            a.seed,
            a.device,
        ),
    )
    k.add_argument("--data", type=Path, required=True, help="prepared toy1d .npz (real batches from its train split)")
    defaults = Figure1Schedule()
    for field_name, help_text in (
        ("d_steps", "D updates towards D* for panel (b)"),
        ("g_steps", "G updates against that D for panel (c)"),
        ("joint_steps", "alternating D and G updates for panel (d)"),
        ("d_lr", "D's Adam learning rate in (b), decaying linearly to 0"),
        ("g_lr", "G's Adam learning rate in (c) and (d)"),
        ("joint_d_lr", "D's Adam learning rate in (d), decaying linearly to 0"),
        ("batch_size", "data and noise examples per update"),
    ):
        value = getattr(defaults, field_name)
        k.add_argument(
            "--" + field_name.replace("_", "-"), type=type(value), default=value, help=f"{help_text} (default {value})"
        )
    k.add_argument("--seed", type=int, default=0, help="seed of the noise and the batches (default 0)")

    k = kind(
        "samples",
        "Figure 2: random samples with the nearest training example of the last sample per row",
        lambda a: figure_samples(
            a.model, a.data, *_figure_params(grid_rows=a.rows, grid_cols=a.cols), a.out, a.seed, a.device
        ),
    )
    k.add_argument("--data", type=Path, required=True, help="prepared .npz: neighbours come from its train split")
    k.add_argument("--rows", type=int, help="rows of samples (default: params.yaml's figures.grid_rows)")
    k.add_argument("--cols", type=int, help="columns including the neighbour column (default: figures.grid_cols)")
    k.add_argument("--seed", type=int, default=0, help="samples 0.. of this seed are shown (no selection)")

    k = kind(
        "interp",
        "Figure 3: linear interpolations between random points in z space",
        lambda a: figure_interp(
            a.model, *_figure_params(interp_rows=a.rows, interp_steps=a.steps), a.out, a.seed, a.device
        ),
    )
    k.add_argument("--rows", type=int, help="interpolations, one per row (default: figures.interp_rows)")
    k.add_argument("--steps", type=int, help="points along each line, ends included (default: figures.interp_steps)")
    k.add_argument("--seed", type=int, default=0, help="seed of the end points z0, z1 (default 0)")

    k = kind(
        "reconstruct",
        "test images beside G(E(x)) (learned approximate inference)",
        lambda a: figure_reconstruct(a.model, a.encoder, a.data, a.rows, a.cols, a.out, a.device),
    )
    k.add_argument("--encoder", type=Path, required=True, help="encoder.pt written by `ganrepro infer`")
    k.add_argument("--data", type=Path, required=True, help="prepared .npz: the first test examples are shown")
    k.add_argument("--rows", type=int, default=5, help="rows of test images (default 5)")
    k.add_argument("--cols", type=int, default=8, help="test images per row (default 8)")

    k = kind(
        "ring",
        "samples over the 8 modes of the ring, and mode coverage",
        lambda a: figure_ring(a.samples, a.data, a.out, a.metrics_out),
        model=False,
        device=False,
    )
    k.add_argument("--samples", type=Path, required=True, help="samples.npz written by `ganrepro sample`")
    k.add_argument("--data", type=Path, required=True, help="prepared ring .npz (mode layout, data drawn in grey)")
    k.add_argument("--metrics-out", type=Path, help="json: modes covered, high-quality fraction, per-mode counts")

    k = kind(
        "sigma-sweep",
        "Parzen validation log-likelihood against sigma: the paper's grid, its choice, the fine grid",
        lambda a: figure_sigma_sweep(a.parzen, a.out),
        model=False,
        device=False,
    )
    k.add_argument(
        "--parzen",
        type=Path,
        nargs="+",
        required=True,
        help="parzen json files (models and reference rows) written with --sweep-num",
    )

    k = kind(
        "curves",
        "training curves, Parzen sigma selection and validation history",
        lambda a: figure_curves(a.logs, a.summaries, a.parzen, a.out),
        model=False,
        device=False,
    )
    k.add_argument("--logs", type=Path, nargs="+", required=True, help="train_log.csv of each seed")
    k.add_argument("--summaries", type=Path, nargs="*", default=[], help="train.json of each seed (valid_history)")
    k.add_argument("--parzen", type=Path, nargs="*", default=[], help="parzen json files (none for the toy sets)")
    add_semisupervised_kind(kinds)


# ---------------------------------------------------------------------------------------------
# Conditional samples figure
# ---------------------------------------------------------------------------------------------


def conditional_samples_figure(model_path: Path, per_class: int = 10, seed: int = 0, device: str = "auto") -> Figure:
    """One row per class of samples from a conditional generator (sample i asks for class i % k),
    titled with what it shows."""
    G, _, meta = load_model(model_path, resolve_device(device))
    k, shape = condition_classes(G), tuple(meta["example_shape"])
    if not k:
        raise UserError(
            f"{model_path}: the model is unconditional; list {meta['dataset']} under "
            "class_metrics.conditional in params.yaml to train a conditional GAN"
        )
    if len(shape) != 3:
        raise UserError(
            f"{model_path}: conditional-figure draws images; {meta['dataset']} has examples of shape {shape}"
        )
    x = generate(G, meta["config"], k * per_class, seed)["x"]
    rows = np.clip(x.reshape(per_class, k, *shape).swapaxes(0, 1), 0.0, 1.0).reshape(k * per_class, *shape)
    names = CLASS_NAMES.get(meta["dataset"]) or [str(c) for c in range(k)]
    fig = Figure(figsize=(0.5 * per_class + 1.2, 0.5 * k + 0.5))
    ax = fig.subplots()
    ax.imshow(image_grid(rows, per_class), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([(shape[1] + 1) * (r + 0.5) for r in range(k)], names[:k])
    ax.set_xticks([])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(
        f"{meta['dataset']}: conditional GAN p(x | c), one row per class c\n"
        f"samples 0..{per_class - 1} of each class, seed {seed} (not selected)",
        fontsize=9,
    )
    return fig


def conditional_figure(
    model_path: Path, out: Path, per_class: int = 10, seed: int = 0, device: str = "auto"
) -> list[Path]:
    """`conditional_samples_figure` written as OUT.png and OUT.pdf."""
    return save_figure(conditional_samples_figure(model_path, per_class, seed, device), out)


def add_conditional_parser(subparsers: argparse._SubParsersAction) -> None:
    f = subparsers.add_parser("conditional-figure", help="one row of samples per class from a conditional model")
    f.add_argument("--model", type=Path, required=True, help="model.pt of a conditional `ganrepro train`")
    f.add_argument("--out", type=Path, required=True, help="writes OUT.png and OUT.pdf")
    f.add_argument("--per-class", type=int, default=10, help="samples per class, one row per class (default 10)")
    f.add_argument("--seed", type=int, default=0, help="seed of the noise z (default 0)")
    add_device_argument(f)
    f.set_defaults(
        func=lambda a: print(
            "wrote " + ", ".join(map(str, conditional_figure(a.model, a.out, a.per_class, a.seed, a.device)))
        )
    )


# ---------------------------------------------------------------------------------------------
# Semi-supervised classification (extension 4)
# ---------------------------------------------------------------------------------------------


def figure_semisupervised(result: Path, out: Path) -> list[Path]:
    """Test errors against labelled images (log x), one line per method with the SD over label subsets
    as error bars, and the published figure marked as quoted; a dataset that did not run shows why."""
    data = read_json(result)
    fig = Figure(figsize=(6.4, 4.4), layout="tight")
    ax = fig.subplots()
    dataset = data.get("dataset") or ""
    if "not_run" in data:
        ax.text(0.5, 0.5, f"{dataset}: not run ({data['not_run']})", ha="center", va="center", wrap=True)
        ax.set_axis_off()
        return save_figure(fig, out)
    for method, by_n in data["results"].items():
        counts = sorted(by_n, key=int)
        ax.errorbar(
            [int(n) for n in counts],
            [by_n[n]["mean"] for n in counts],
            yerr=[by_n[n]["sd"] for n in counts],
            marker="o",
            capsize=3,
            label=data["methods"].get(method, method),
        )
    quoted = data.get("quoted")
    if quoted:
        ax.errorbar(
            [quoted["labels"]],
            [quoted["errors"]],
            yerr=[quoted["sd"]],
            marker="*",
            markersize=10,
            color="0.3",
            ls="none",
            capsize=3,
            label=f"{quoted['model']}, {quoted['source'].split(',')[0]} (quoted, not measured)",
        )
    subsets = data["config"]["subsets"]
    ax.set(
        xscale="log",
        xlabel="labelled training images",
        ylabel=f"test errors (out of {data['n_test']:,})",
        title=f"{dataset}: few-label classification, mean ± SD over {subsets} label subsets",
    )
    ax.set_xticks(sorted({int(n) for by_n in data["results"].values() for n in by_n}))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())  # within one decade the log axis labels its minor ticks too
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2))  # below the axes, off the curves
    return save_figure(fig, out)


def add_semisupervised_kind(kinds: argparse._SubParsersAction) -> None:
    k = kinds.add_parser("semi-supervised", help="test errors against labels per method (extension 4)")
    k.add_argument("--result", type=Path, required=True, help="semisupervised.json of `ganrepro semi-supervised`")
    k.add_argument("--out", type=Path, required=True, help="output prefix: writes PREFIX.png and PREFIX.pdf")
    k.set_defaults(func=lambda a: figure_semisupervised(a.result, a.out))
