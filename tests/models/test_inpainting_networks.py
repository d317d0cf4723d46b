"""The inpainting networks: the mask family, completions that keep the observed pixels, model files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganrepro.errors import UserError
from ganrepro.models.inpainting import (
    MASK_KINDS,
    build_inpainting_models,
    completions,
    draw_masks,
    kind_masks,
    load_inpainter,
    save_inpainter,
)

from helpers import tiny_config

SHAPE = [1, 28, 28]


def missing(kind: str, shape: list[int] = SHAPE, n: int = 4, seed: int = 0) -> torch.Tensor:
    """(n, C, H, W) booleans: True where the pixel is missing."""
    return kind_masks(kind, n, shape, seed).view(n, *shape) == 0


def test_each_fixed_mask_kind_hides_its_region_and_nothing_else() -> None:
    rows, cols = torch.meshgrid(torch.arange(28), torch.arange(28), indexing="ij")
    expected = {
        "left": cols < 14,
        "right": cols >= 14,
        "top": rows < 14,
        "bottom": rows >= 14,
        "centre": (rows >= 7) & (rows < 21) & (cols >= 7) & (cols < 21),
    }
    for kind, region in expected.items():
        m = missing(kind)
        assert m.shape == (4, 1, 28, 28)
        assert torch.equal(m, region.expand(4, 1, 28, 28)), kind
    assert missing("centre").float().mean() == 0.25


def test_random_masks_hide_half_the_pixels_and_are_deterministic_by_seed() -> None:
    m = missing("random", n=200, seed=3)
    assert abs(m.float().mean().item() - 0.5) < 0.01
    assert m.float().mean((1, 2, 3)).std() > 0  # each image its own mask
    assert torch.equal(m, missing("random", n=200, seed=3))
    assert not torch.equal(m, missing("random", n=200, seed=4))


def test_a_mask_covers_all_channels_of_a_pixel_alike() -> None:
    m = kind_masks("random", 5, [3, 8, 8], seed=0).view(5, 3, 8, 8)
    assert torch.equal(m[:, 0], m[:, 1]) and torch.equal(m[:, 0], m[:, 2])
    assert kind_masks("left", 1, [3, 8, 8], 0).sum() == 3 * 8 * 4


def test_masks_drawn_for_training_use_every_kind_and_repeat_with_the_seed() -> None:
    a = draw_masks(600, SHAPE, torch.Generator().manual_seed(1))
    b = draw_masks(600, SHAPE, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    fixed = {kind: kind_masks(kind, 1, SHAPE, 0)[0] for kind in MASK_KINDS[:-1]}
    counts = {kind: int((a == m).all(1).sum()) for kind, m in fixed.items()}
    assert all(60 < c < 140 for c in counts.values()), counts  # 100 expected of each


def test_bad_kinds_and_shapes_are_refused_by_name() -> None:
    with pytest.raises(UserError, match="unknown mask kind 'diagonal'"):
        kind_masks("diagonal", 1, SHAPE, 0)
    with pytest.raises(UserError, match="needs images"):
        kind_masks("left", 1, [2], 0)


def test_completions_keep_the_observed_pixels_exactly_and_vary_the_missing_ones(tmp_path: Path) -> None:
    cfg = tiny_config(g_output_bias="none")
    torch.manual_seed(0)
    G, D = build_inpainting_models(cfg, 36)
    x = torch.rand(8, 36)
    m = kind_masks("random", 8, [1, 6, 6], seed=2)
    comps = completions(G, x, m, 3, "uniform", seed=5)
    observed = m.bool().expand_as(comps)
    assert torch.equal(comps[observed], x.expand_as(comps)[observed])
    assert (comps[~observed] != x.expand_as(comps)[~observed]).all()
    assert comps[0].ne(comps[1])[~m.bool()].all()  # other noise, other fill
    assert D(comps[0], m).shape == (8,)
    save_inpainter(tmp_path / "model.pt", G, {"config": cfg.as_dict(), "data_dim": 36})
    loaded, meta = load_inpainter(tmp_path / "model.pt", torch.device("cpu"))
    assert meta["data_dim"] == 36
    assert torch.equal(completions(loaded, x, m, 3, "uniform", seed=5), comps)
