"""`ganrepro <step>`: every step registered where the command table says, every option explained, and
the package's layers importing only downwards."""

from __future__ import annotations

import argparse
import ast
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ganrepro.cli import COMMANDS, build_parser

PACKAGE = Path(importlib.import_module("ganrepro").__file__).parent
# Lower layers never import higher ones (a module may import its own layer and those below).
LAYERS = {
    "base": 0,
    "config": 1,
    "data": 1,
    "models": 1,
    "training": 2,
    "evaluation": 3,
    "reporting": 4,
    "cli": 5,
    "__main__": 5,
}
BASE = {"errors", "io", "arrays", "device", "paper", "paths", "density", "gan_config", "__init__"}


def subcommand_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every (sub)command's parser below `parser`, nested ones included (`ganrepro figure curves`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from subcommand_parsers(sub)


SUBCOMMANDS = {sub.prog: sub for sub in subcommand_parsers(build_parser())}


@pytest.mark.parametrize("prog", SUBCOMMANDS)
def test_every_option_of_every_subcommand_has_a_help_text(prog: str) -> None:
    undocumented = [
        action.option_strings or [action.dest]
        for action in SUBCOMMANDS[prog]._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert undocumented == [], f"{prog}: options without help text"


def test_each_module_registers_exactly_its_commands_in_the_table() -> None:
    for module in set(COMMANDS.values()):
        parser = argparse.ArgumentParser()
        importlib.import_module(module).add_parser(parser.add_subparsers())
        (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        assert set(action.choices) == {c for c, m in COMMANDS.items() if m == module}, module


def layer(module: str) -> int:
    parts = module.removeprefix("ganrepro.").split(".")
    return LAYERS["base"] if parts[0] in BASE else LAYERS[parts[0]]


def test_lower_layers_never_import_higher_ones() -> None:
    upward = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ganrepro."):
                targets = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.module == "ganrepro":
                targets = [f"ganrepro.{alias.name}" for alias in node.names if alias.name != "__version__"]
            else:
                continue
            upward += [(module, t) for t in targets if layer(t) > layer(module)]
    assert upward == []


@pytest.mark.parametrize("command", ["fetch", "metrics", "table", "report", "figure-index"])
def test_steps_that_handle_only_files_import_neither_torch_nor_seaborn(command: str) -> None:
    """Each workflow job is one process: these steps start in under a second instead of about five."""
    check = (
        "import sys; from ganrepro.cli import build_parser; build_parser(sys.argv[1]); "
        "print(sorted(m for m in ('torch', 'seaborn', 'matplotlib') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", check, command], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", f"ganrepro {command} imports {loaded.stdout.strip()}"
