"""Short MNIST runs that change one factor of the paper's setup at a time (30 epochs each), compared
by the validation Parzen estimate logged during training (params.yaml's valid_samples and
valid_points: the protocol on the validation images; the factor study in docs/results.md used an earlier,
cheaper estimate of 2,000 samples against 2,000 validation images).

Usage: python bench/mnist_factors.py [--epochs 30] [--out results/factors] [factor ...]
Run `baseline` in the same invocation: the factors are compared with it, same seed and schedule.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganrepro.config import load_params, train_config
from ganrepro.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
FACTORS = {
    "baseline": {},
    "gaussian_noise": {"noise": "normal"},
    "alternating_update": {"update": "alternating"},
    "minimax_loss": {"g_loss": "minimax"},
    "adam": {"optimizer": "adam", "lr": 0.0002},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("factors", nargs="*", default=[f for f in FACTORS if f != "baseline"])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", type=Path, default=ROOT / "results/factors")
    args = ap.parse_args()
    params = load_params(ROOT / "params.yaml")
    for name in args.factors:
        cfg = train_config(params, "mnist").replace(**FACTORS[name], epochs=args.epochs, seed=0)
        summary = train(cfg, "mnist", ROOT / "data/prepared/mnist/dataset.npz", args.out / name)
        history = {h["epoch"]: round(h["log_likelihood"], 1) for h in summary["valid_history"]}
        print(json.dumps({"factor": name, "change": FACTORS[name], "valid_parzen_by_epoch": history}), flush=True)


if __name__ == "__main__":
    main()
