"""`ganrepro train DATASET`: one model from the merged train.common + train.<dataset> parameters,
resumed from the checkpoint in its output folder."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ganrepro import paths
from ganrepro.config import check_train_overrides, json_option, resolve, train_config
from ganrepro.training.loop import train

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a GAN (resumes from OUT/checkpoint.pt)")
    p.add_argument("dataset", help="dataset name: its train.<name> section in params")
    p.add_argument("--data", type=Path, help=f"prepared .npz (default: {paths.prepared('DATASET')})")
    p.add_argument(
        "--out",
        type=Path,
        help=f"output folder, resumed from its checkpoint.pt (default: {paths.train_dir('DATASET', 'SEED')}, "
        "the workflow's)",
    )
    p.add_argument(
        "--params",
        type=Path,
        default=None,
        help="params file whose train.common + train.<dataset> are the defaults (default: params.yaml)",
    )
    p.add_argument("--config-json", help="training keys as JSON merged over those defaults (any subset)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the initialisation, noise, dropout and minibatch order (default: 0)",
    )
    p.add_argument("--epochs", type=int, help="override the epoch budget")
    p.add_argument(
        "--if-changed",
        choices=["error", "restart"],
        default="error",
        help="what to do with a checkpoint made with other parameters, or that cannot be read: "
        "stop with an error, or discard it and train from step 0",
    )
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> None:
    data = args.data or Path(paths.prepared(args.dataset))
    out = args.out or Path(paths.train_dir(args.dataset, args.seed))
    overrides = json_option(args.config_json)
    check_train_overrides(overrides, "--config-json")
    if args.epochs is not None:
        check_train_overrides({"epochs": args.epochs}, "--epochs")
        overrides["epochs"] = args.epochs
    cfg = train_config(resolve(args.params), args.dataset, overrides).replace(seed=args.seed)
    summary = train(cfg, args.dataset, data, out, args.if_changed)
    log.info(
        f"done: {summary['steps']} steps, selected {summary['selection']} ({summary['selected']}) -> {out / 'model.pt'}"
    )
