"""`ganrepro <step>`: one subcommand per workflow step.

Each step module defines `add_parser(subparsers)`, which registers its subcommand(s) and sets
`func` to a callable taking the parsed arguments. Errors meant for the user are raised as
`ganrepro.errors.UserError` and printed without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ganrepro import __version__
from ganrepro.errors import UserError

STEP_MODULES = (
    "ganrepro.datasets",
    "ganrepro.train",
    "ganrepro.sample",
    "ganrepro.parzen",
    "ganrepro.infer",
    "ganrepro.figures",
    "ganrepro.tables",
    "ganrepro.report",
    "ganrepro.summary",
    "ganrepro.classify",
    "ganrepro.toy_metrics",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganrepro", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ganrepro {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="STEP")
    for name in STEP_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # step not built yet
                continue
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as err:
        print(f"ganrepro {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
