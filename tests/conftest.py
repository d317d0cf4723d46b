"""Shared fixtures: the repository root, the local dataset mirror and a runner for `ganrepro` commands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ganrepro.cli import main

from helpers import REPO_ROOT, SHARED_MIRROR


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (the end-to-end module, then the fault and SLURM tests): under `make test`'s
    two workers the longest chain starts at once on one of them while the other runs the rest."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def shared_mirror() -> Path:
    """The verified MNIST / Fashion-MNIST mirror ($GANREPRO_MIRROR, else ../shared/datasets)."""
    if not SHARED_MIRROR.is_dir():
        pytest.skip(f"no dataset mirror: set GANREPRO_MIRROR or provide {SHARED_MIRROR}")
    return SHARED_MIRROR


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `ganrepro ARGS...` in-process; return the exit code and what it printed."""

    def run(*args: object) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run
