"""Figure 1's experiment: D trained with G fixed moves towards D* = p_data / (p_data + p_g)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganrepro.evaluation import toy1d_dynamics

from helpers import tiny_toy1d


def test_d_alone_approaches_the_optimal_discriminator_then_g_moves(tmp_path: Path) -> None:
    model, data = tiny_toy1d(tmp_path)
    schedule = toy1d_dynamics.Figure1Schedule(d_steps=300, g_steps=5, joint_steps=20, batch_size=64)
    result = toy1d_dynamics.run(model, data, schedule, seed=0, device="cpu")
    a, b, c, d = result.snaps
    support = result.p_data > 0.05 * result.p_data.max()
    gap_before = np.abs(a.d - result.p_data / (result.p_data + a.p_g))[support].max()
    gap_after = np.abs(b.d - b.d_star)[support].max()
    assert gap_after < 0.5 * gap_before, (gap_before, gap_after)
    assert np.array_equal(a.x_of_z, b.x_of_z)  # (b) updates D only: G maps each z where it did
    assert not np.array_equal(b.x_of_z, c.x_of_z)  # (c) moves G
    assert "max |D - D*| on the data" in b.title and "TV(p_g, p_data)" in d.title
