"""Inpainting, the paper's third extension: one conditional GAN for every conditional p(x_S | x_not S)
of a family of masks, with shared parameters.

G(z, m * x, m) fills the missing pixels; the completion keeps the observed ones exactly,
x_hat = m * x + (1 - m) * G(...). D judges a completed image given its mask. Both are the paper's MLP
networks (models.MLPGenerator, models.MaxoutDiscriminator) with the observed pixels and the mask as
extra inputs. A mask is 1 on observed pixels and 0 on missing ones, one value per pixel location
shared by all channels, flattened like the images (N, C*H*W).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganrepro.errors import UserError
from ganrepro.gan_config import TrainConfig
from ganrepro.io import load_torch, save_torch
from ganrepro.models.artifacts import cpu_state_dict
from ganrepro.models.networks import MaxoutDiscriminator, MLPGenerator, bias_from_marginals, sample_noise

# The family: one half missing (left, right, top, bottom), the centre square of half the side
# missing, or each pixel missing with probability RANDOM_MISSING.
MASK_KINDS = ("left", "right", "top", "bottom", "centre", "random")
RANDOM_MISSING = 0.5
MODEL_FORMAT = 1


def mask_kind_index(kind: str) -> int:
    if kind not in MASK_KINDS:
        raise UserError(f"unknown mask kind {kind!r}; the family is {', '.join(MASK_KINDS)}")
    return MASK_KINDS.index(kind)


def make_masks(kinds: torch.Tensor, example_shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """Masks (N, C*H*W) float32, 1 = observed, for the kinds (N,) (indices into MASK_KINDS); the
    random kind draws from `generator`, so masks are deterministic given its seed."""
    c, h, w = _image_shape(example_shape)
    rows, cols = torch.arange(h)[:, None], torch.arange(w)[None, :]
    top, left = (h - h // 2) // 2, (w - w // 2) // 2
    missing = torch.stack(
        [
            (cols < w // 2).expand(h, w),
            (cols >= w - w // 2).expand(h, w),
            (rows < h // 2).expand(h, w),
            (rows >= h - h // 2).expand(h, w),
            (rows >= top) & (rows < top + h // 2) & (cols >= left) & (cols < left + w // 2),
        ]
    )
    kinds = kinds.long().cpu()
    fixed = kinds < len(missing)
    masks = torch.empty(len(kinds), h, w)
    masks[fixed] = (~missing[kinds[fixed]]).float()
    n_random = int((~fixed).sum())
    masks[~fixed] = (torch.rand(n_random, h, w, generator=generator) >= RANDOM_MISSING).float()
    return masks[:, None].expand(-1, c, h, w).reshape(len(kinds), c * h * w).contiguous()


def draw_masks(n: int, example_shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """n masks, each of a kind drawn uniformly from the family."""
    kinds = torch.randint(len(MASK_KINDS), (n,), generator=generator)
    return make_masks(kinds, example_shape, generator)


def kind_masks(kind: str, n: int, example_shape: Sequence[int], seed: int) -> torch.Tensor:
    """n masks of one kind (the evaluation's), seeded."""
    kinds = torch.full((n,), mask_kind_index(kind))
    return make_masks(kinds, example_shape, torch.Generator().manual_seed(seed))


def _image_shape(example_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(example_shape) != 3:
        shape = "x".join(map(str, example_shape))
        raise UserError(f"inpainting needs images (C, H, W); this dataset's examples have shape {shape}")
    c, h, w = (int(s) for s in example_shape)
    return c, h, w


class InpaintingGenerator(nn.Module):
    """z, x, m -> the completion m * x + (1 - m) * MLP(z, m * x, m): observed pixels kept exactly."""

    def __init__(
        self, z_dim: int, hidden: Sequence[int], data_dim: int, irange: float, activations: Sequence[str] | None = None
    ) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.net = MLPGenerator(z_dim + 2 * data_dim, hidden, data_dim, irange, "sigmoid", 0, activations)

    def fill(self, z: torch.Tensor, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """G's proposal for every pixel (only the missing ones are used)."""
        return self.net(torch.cat([z, x * m, m], dim=1))

    def forward(self, z: torch.Tensor, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(x * m, 1 - m, self.fill(z, x, m))


class InpaintingDiscriminator(MaxoutDiscriminator):
    """The paper's maxout D on (completed image, mask)."""

    def __init__(self, data_dim: int, units: Sequence[int], pieces: int, irange: float, **keep: float) -> None:
        super().__init__(2 * data_dim, units, pieces, irange, **keep)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(torch.cat([x, m], dim=1))


def build_inpainting_models(
    cfg: TrainConfig, data_dim: int, pixel_means: torch.Tensor | None = None
) -> tuple[InpaintingGenerator, InpaintingDiscriminator]:
    """G and D for one training config (a dataset's merged train section with the inpaint overrides);
    G's output bias from the pixel marginals when the config says so."""
    if cfg.arch != "mlp":
        raise UserError(f"inpaint: needs the fully connected networks (arch: mlp); got arch: {cfg.arch}")
    G = InpaintingGenerator(cfg.z_dim, cfg.g_hidden, data_dim, cfg.g_irange, cfg.g_activations)
    D = InpaintingDiscriminator(
        data_dim,
        cfg.d_units,
        cfg.d_pieces,
        cfg.d_irange,
        input_keep=cfg.d_input_keep,
        hidden_keep=cfg.d_hidden_keep,
    )
    if cfg.g_output_bias == "marginals" and pixel_means is not None:
        with torch.no_grad():
            G.net.out.bias.copy_(bias_from_marginals(pixel_means.cpu()))
    return G, D


def save_inpainter(path: str | Path, G: InpaintingGenerator, meta: dict[str, Any]) -> None:
    """The generator and what rebuilds it (meta: config, data_dim, example_shape, dataset, ...)."""
    save_torch(path, {"format": MODEL_FORMAT, "meta": meta, "G": cpu_state_dict(G)})


RETRAIN = "train it again with this version (`ganrepro inpaint-train`)"


def load_inpainter(path: str | Path, device: torch.device) -> tuple[InpaintingGenerator, dict[str, Any]]:
    """The generator saved by `save_inpainter`, in eval mode on `device`, and its meta."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: inpainting model not found (run `ganrepro inpaint-train` first)")
    blob = load_torch(path, RETRAIN, keys=("meta", "G"))
    if blob.get("format") != MODEL_FORMAT:
        raise UserError(f"{path}: an inpainting model of another format; {RETRAIN}")
    meta = {**blob["meta"], "config": TrainConfig.from_mapping(blob["meta"]["config"], str(path))}
    G, _ = build_inpainting_models(meta["config"], meta["data_dim"])
    G.load_state_dict(blob["G"])
    return G.to(device).eval(), meta


@torch.no_grad()
def completions(
    G: InpaintingGenerator, x: torch.Tensor, m: torch.Tensor, k: int, noise: str, seed: int, batch: int = 500
) -> torch.Tensor:
    """k completions (k, N, d) of the images x (N, d) under masks m, from a private RNG seeded by
    `seed` (the caller's RNG stream is left untouched)."""
    was_training = G.training
    G.eval()
    device = next(G.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    out = torch.empty(k, *x.shape)
    for j in range(k):
        for start in range(0, len(x), batch):
            xb, mb = x[start : start + batch].to(device), m[start : start + batch].to(device)
            z = sample_noise(len(xb), G.z_dim, noise, device, gen)
            out[j, start : start + len(xb)] = G(z, xb, mb).cpu()
    G.train(was_training)
    return out
