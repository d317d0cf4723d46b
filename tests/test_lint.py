"""The code is formatted and linted (ruff, configured in pyproject.toml) and the workflow passes
Snakemake's linter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import REPO_ROOT

BIN = Path(sys.executable).parent
SOURCES = ["src", "tests", "bench"]


def test_ruff_lint_and_format_are_clean() -> None:
    for args in (["check", *SOURCES], ["format", "--check", *SOURCES]):
        result = subprocess.run([str(BIN / "ruff"), *args], cwd=REPO_ROOT, capture_output=True, text=True)
        assert result.returncode == 0, f"ruff {' '.join(args)}:\n{result.stdout}{result.stderr}"


def test_snakemake_lint_is_clean() -> None:
    result = subprocess.run([str(BIN / "snakemake"), "--lint"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr, (
        result.stdout[-3000:] + result.stderr[-3000:]
    )
