"""`ganrepro fetch` and `ganrepro prepare`: options, the params file's data: section, the output line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ganrepro import paths
from ganrepro.config import json_option, load_params
from ganrepro.data.custom import spec_path
from ganrepro.data.fetch import fetch
from ganrepro.data.prepare import prepare
from ganrepro.data.settings import Settings, make_settings
from ganrepro.data.sources import KNOWN_DATASETS, MIRROR_ENV
from ganrepro.data.toy import TOY_TRAIN_SIZE
from ganrepro.io import write_json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `ganrepro fetch` and `ganrepro prepare`."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "dataset",
        metavar="DATASET",
        help=f"{', '.join(KNOWN_DATASETS)}, or a name under data.custom in the params file",
    )
    common.add_argument(
        "--raw-dir", type=Path, default=Path(paths.RAW), help=f"raw files go to RAW_DIR/DATASET/ (default: {paths.RAW})"
    )
    common.add_argument(
        "--params",
        type=Path,
        default=None,
        help="params file whose data: section is read (default: params.yaml if present)",
    )
    common.add_argument(
        "--tfd-file",
        type=Path,
        default=None,
        help="TFD_48x48.mat (default: data.tfd_file, else RAW_DIR/tfd/TFD_48x48.mat)",
    )
    common.add_argument(
        "--custom-json",
        default=None,
        metavar="JSON",
        help='DATASET\'s data.custom entry as JSON, e.g. \'{"path": "my_images.npz", '
        "\"valid_fraction\": 0.1}' (the workflow passes it; replaces the params file's entry)",
    )

    fetch_parser = subparsers.add_parser(
        "fetch", parents=[common], help="copy (mirror) or download a dataset, verify it, write MANIFEST.json"
    )
    fetch_parser.add_argument(
        "--mirror",
        type=Path,
        default=None,
        help=f"local mirror folder holding DATASET/<file> (default: ${MIRROR_ENV}, else data.mirror)",
    )
    fetch_parser.set_defaults(func=_fetch_command)

    prepare_parser = subparsers.add_parser(
        "prepare", parents=[common], help="build the paper's train/valid/test splits into one .npz"
    )
    prepare_parser.add_argument(
        "--out", type=Path, default=None, help=f"output .npz (default: {paths.prepared('DATASET')})"
    )
    prepare_parser.add_argument(
        "--info-out",
        type=Path,
        default=None,
        help="also write the dataset's metadata (splits, shapes, sources) as json",
    )
    prepare_parser.add_argument(
        "--toy-size",
        type=int,
        default=None,
        help=f"training examples of toy1d/ring (default: data.toy_size, else {TOY_TRAIN_SIZE})",
    )
    prepare_parser.add_argument("--seed", type=int, default=0, help="seed of the toy sets (default: 0)")
    prepare_parser.set_defaults(func=_prepare_command)


def _settings(args: argparse.Namespace) -> Settings:
    """CLI options over the params file's data: section over built-in defaults."""
    params_path = args.params or (Path("params.yaml") if Path("params.yaml").is_file() else None)
    data = (load_params(params_path).get("data") or {}) if params_path else {}
    custom = {args.dataset: _parse_custom_json(args.custom_json)} if args.custom_json is not None else {}
    return make_settings(
        data,
        raw_dir=args.raw_dir,
        mirror=getattr(args, "mirror", None),
        tfd_file=args.tfd_file,
        toy_size=getattr(args, "toy_size", None),
        seed=getattr(args, "seed", 0),
        custom=custom,
    )


def _parse_custom_json(text: str) -> dict[str, Any]:
    spec = json_option(text, "--custom-json")
    spec_path(spec, "--custom-json")
    return spec


def _fetch_command(args: argparse.Namespace) -> None:
    print(f"wrote {fetch(args.dataset, _settings(args))}")


def _prepare_command(args: argparse.Namespace) -> None:
    out = args.out or Path(paths.prepared(args.dataset))
    meta = prepare(args.dataset, _settings(args), out)
    if args.info_out:
        write_json(args.info_out, meta)
    print(
        f"wrote {out}: train {meta['n_train']}, valid {meta['n_valid']}, test {meta['n_test']} "
        f"examples of shape {tuple(meta['example_shape'])}"
    )
