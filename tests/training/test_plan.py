"""The training plan: budgets in steps, one timing per model shared by its seeds, the printed lines."""

from __future__ import annotations

from ganrepro.config import resolve, train_config
from ganrepro.training import plan
from ganrepro.training.plan import Job, format_plan, make_plan

from helpers import REPO_ROOT


def test_plan_counts_steps_from_the_budget_and_times_each_model_once(monkeypatch) -> None:
    cfg = train_config(resolve(REPO_ROOT / "params.yaml"), "toy1d").replace(device="cpu", epochs=3)
    calls = []
    monkeypatch.setattr(plan, "step_seconds", lambda *args: calls.append(args) or 0.002)
    estimates = make_plan([Job("toy1d", "", seed, cfg) for seed in (0, 1, 2)], toy_size=1000)
    assert len(calls) == 1  # the seeds share the model
    assert [e.steps for e in estimates] == [3 * (1000 // cfg.batch_size)] * 3
    assert estimates[0].hours == estimates[0].steps * 0.002 / 3600
    text = format_plan(estimates)
    assert "toy1d seed 2" in text and "30 steps x 2.0 ms" in text


def test_step_time_of_a_real_model_is_positive() -> None:
    cfg = train_config(resolve(REPO_ROOT / "params.yaml"), "ring").replace(device="cpu")
    assert 0 < plan.step_seconds(cfg, 2, 0, plan.resolve_device("cpu")) < 1
