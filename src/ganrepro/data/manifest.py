"""<raw-dir>/<dataset>/MANIFEST.json: what `fetch` verified, which `prepare` checks the raw files against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ganrepro.errors import UserError


def previous_sources(manifest_path: Path) -> dict[str, str]:
    """file name -> source recorded by an earlier fetch (kept when the file is reused)."""
    try:
        files = json.loads(manifest_path.read_text())["files"]
        return {f["name"]: f["source"] for f in files}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def read_manifest(path: Path, name: str, raw_dir: Path) -> dict[str, Any]:
    """The manifest at `path`, or an error saying to fetch `name` first."""
    if not path.is_file():
        raise UserError(f"{path} not found: run `ganrepro fetch {name} --raw-dir {raw_dir}` first")
    return json.loads(path.read_text())


def check_unchanged(manifest: dict[str, Any], fname: str, actual: str, path: Path) -> None:
    """Refuse a raw file whose hash is not the one the manifest recorded."""
    recorded = {f["name"]: f["sha256"] for f in manifest["files"]}.get(fname)
    if recorded != actual:
        raise UserError(
            f"{path} changed since it was fetched (SHA-256 {actual}, MANIFEST.json says "
            f"{recorded}): run `ganrepro fetch` again"
        )
