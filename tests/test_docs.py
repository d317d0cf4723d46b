"""The commands the README and docs show work: every fenced ```sh block marked `<!-- doctest -->` runs,
in order, in a temporary clone on the fast preset with the local mirror."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO_ROOT, SHARED_MIRROR
from test_workflow import project_copy, run

MARKED_BLOCK = re.compile(r"<!-- doctest -->\s*\n```sh\n(.*?)```", re.S)
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def documented_commands(text: str) -> list[str]:
    """Shell commands of the marked blocks: comments dropped, backslash continuations joined."""
    commands = []
    for block in MARKED_BLOCK.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return commands


def test_marked_blocks_are_found_and_joined() -> None:
    text = "x\n<!-- doctest -->\n```sh\n# a comment\nsnakemake -n \\\n  --config a=1\ndvc exp show\n```\n```sh\nnot run\n```\n"
    assert documented_commands(text) == ["snakemake -n --config a=1", "dvc exp show"]


@pytest.mark.slow
def test_documented_commands_run_on_the_fast_preset(tmp_path: Path) -> None:
    if not SHARED_MIRROR.is_dir():
        pytest.skip("needs the MNIST mirror")
    pages = {page: documented_commands(page.read_text()) for page in PAGES}
    assert pages[REPO_ROOT / "README.md"], "the README marks no command for this test"
    project = project_copy(tmp_path / "project")
    params = project / "params.yaml"
    params.write_text(re.sub(r"^preset: paper\b", "preset: fast", params.read_text(), count=1, flags=re.M))
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "fast preset"]):
        run(command, project)
    for page, commands in pages.items():
        for command in commands:
            result = run(["bash", "-c", command], project, check=False)
            assert result.returncode == 0, (f"{page.relative_to(REPO_ROOT)}: `{command}` failed:\n"
                                            f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
