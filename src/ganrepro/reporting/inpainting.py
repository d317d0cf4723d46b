"""The inpainting figure (`ganrepro inpaint-figure`): for a few test images and each mask kind, the
masked input, five completions and the truth, one row per image and kind."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from ganrepro.config import step_params
from ganrepro.data.prepared import load_split
from ganrepro.device import add_device_argument, resolve_device
from ganrepro.models.inpainting import MASK_KINDS, completions, kind_masks, load_inpainter
from ganrepro.reporting.figures import as_images, image_grid, save_figure

SHOWN = 5  # completions per row
MISSING_COLOUR = (0.35, 0.55, 0.85)  # missing pixels of the masked input


def masked_input(x: np.ndarray, m: np.ndarray, shape: list[int]) -> np.ndarray:
    """Images (n, 3, H, W) with the missing pixels painted MISSING_COLOUR (grey images made RGB)."""
    images = as_images(x, shape)
    images = np.repeat(images, 3, axis=1) if images.shape[1] == 1 else images
    observed = as_images(m, shape)[:, :1]
    colour = np.asarray(MISSING_COLOUR, dtype=np.float32)[None, :, None, None]
    return observed * images + (1 - observed) * colour


def inpainting_figure(model: Path, data: Path, examples: int, seed: int, device: str) -> Figure:
    """Rows: `examples` test images x each mask kind; columns: masked input, SHOWN completions, truth.
    The images are the first test images, not selected; completions come from noise seeded by `seed`."""
    G, meta = load_inpainter(model, resolve_device(device))
    shape = meta["example_shape"]
    x = load_split(data, "test")[:examples].reshape(examples, -1)
    rows = []
    for i, kind in enumerate(MASK_KINDS):
        m = kind_masks(kind, examples, shape, seed + i)
        comps = completions(G, torch.from_numpy(x), m, SHOWN, meta["config"].noise, seed).numpy()
        for j in range(examples):
            cells = [x[j] * m[j].numpy(), *comps[:, j], x[j]]
            block = np.repeat(as_images(np.stack(cells), shape), 3 // shape[0], axis=1)
            block[0] = masked_input(x[j : j + 1], m[j : j + 1].numpy(), shape)[0]
            rows.append(block)
    grid = image_grid(np.concatenate(rows), SHOWN + 2)
    n_rows = len(rows)
    fig = Figure(figsize=(0.55 * (SHOWN + 2) + 1.4, 0.55 * n_rows + 0.8))
    ax = fig.subplots()
    ax.imshow(grid, interpolation="nearest")
    h, w = shape[1], shape[2]
    ax.set_yticks([(h + 1) * (r + 0.5) for r in range(n_rows)], [k for k in MASK_KINDS for _ in range(examples)])
    ax.set_xticks([(w + 1) * (c + 0.5) for c in range(SHOWN + 2)], ["input", *range(1, SHOWN + 1), "truth"])
    ax.tick_params(length=0, labelsize=8)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(
        f"{meta['dataset']}: one inpainting GAN for all masks\n"
        f"first {examples} test images per mask kind (missing pixels in blue), completions 1-{SHOWN} (not selected)",
        fontsize=9,
    )
    return fig


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    f = subparsers.add_parser("inpaint-figure", help="masked inputs, completions and truth per mask kind")
    f.add_argument("--model", type=Path, required=True, help="model.pt of `ganrepro inpaint-train`")
    f.add_argument("--data", type=Path, required=True, help="prepared dataset .npz (its test images are shown)")
    f.add_argument("--out", type=Path, required=True, help="writes OUT.png and OUT.pdf")
    f.add_argument("--examples", type=int, help="test images per mask kind (default: inpaint.figure_examples)")
    f.add_argument("--seed", type=int, help="seed of the masks and noise (default: inpaint.seed)")
    add_device_argument(f)
    f.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> None:
    step = step_params("inpaint", {"figure_examples": args.examples, "seed": args.seed})
    fig = inpainting_figure(args.model, args.data, step["figure_examples"], step["seed"], args.device)
    print("wrote " + ", ".join(map(str, save_figure(fig, args.out))))
