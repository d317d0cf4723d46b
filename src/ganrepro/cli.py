"""`ganrepro <step>`: one subcommand per workflow step.

Each step module defines `add_parser(subparsers)`, which registers its subcommand(s) and sets
`func` to a callable taking the parsed arguments. Errors meant for the user are raised as
`ganrepro.errors.UserError` and printed without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ganrepro import __version__
from ganrepro.errors import UserError

# Each step's module, so that a command imports only what it needs (torch and matplotlib take
# seconds to import, and the workflow runs one command per job). tests/test_cli.py checks that
# every module registers exactly the commands listed here.
COMMANDS: dict[str, str] = {
    "fetch": "ganrepro.data.cli",
    "prepare": "ganrepro.data.cli",
    "train": "ganrepro.training.command",
    "sample": "ganrepro.evaluation.sample",
    "parzen": "ganrepro.evaluation.parzen",
    "kmeans": "ganrepro.evaluation.parzen",
    "infer": "ganrepro.evaluation.infer",
    "classifier": "ganrepro.evaluation.classify",
    "class-metrics": "ganrepro.evaluation.classify",
    "semi-supervised": "ganrepro.evaluation.semisupervised",
    "conditional-figure": "ganrepro.reporting.figures",
    "toy-metrics": "ganrepro.evaluation.toy_metrics",
    "metrics": "ganrepro.evaluation.summary",
    "not-run": "ganrepro.evaluation.summary",
    "figure": "ganrepro.reporting.figures",
    "table": "ganrepro.reporting.tables",
    "report": "ganrepro.reporting.report",
    "figure-index": "ganrepro.reporting.report",
    "inpaint-train": "ganrepro.evaluation.inpainting",
    "inpaint-eval": "ganrepro.evaluation.inpainting",
    "inpaint-figure": "ganrepro.reporting.inpainting",
}
LOG_FORMAT = "%(asctime)s %(name)s: %(message)s"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every step, or only of the module that defines `command`."""
    parser = argparse.ArgumentParser(prog="ganrepro", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ganrepro {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="STEP")
    modules = [COMMANDS[command]] if command in COMMANDS else dict.fromkeys(COMMANDS.values())
    for name in modules:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    # Modules log to logging.getLogger(__name__); a step's messages go to the stderr of this call.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger("ganrepro")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        args.func(args)
    except UserError as err:
        print(f"ganrepro {args.command}: error: {err}", file=sys.stderr)
        return 2
    finally:
        logger.removeHandler(handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
