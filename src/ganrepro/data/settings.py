"""Where the files are and how to generate the toy sets: CLI options over params over defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganrepro import paths
from ganrepro.data.sources import CUSTOM, DATASETS, KNOWN_DATASETS, MIRROR_ENV, TFD_FILE, Dataset
from ganrepro.data.toy import TOY_TRAIN_SIZE
from ganrepro.errors import UserError


@dataclass(frozen=True)
class Settings:
    """The inputs of `fetch` and `prepare` besides the dataset's name."""

    raw_dir: Path = Path(paths.RAW)
    mirror: Path | None = None
    tfd_file: Path | None = None  # None: <raw_dir>/tfd/TFD_48x48.mat
    toy_size: int = TOY_TRAIN_SIZE
    seed: int = 0
    custom: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def tfd_path(self) -> Path:
        return self.tfd_file or self.raw_dir / "tfd" / TFD_FILE


def make_settings(
    data: Mapping[str, Any],
    raw_dir: Path = Path(paths.RAW),
    mirror: Path | None = None,
    tfd_file: Path | None = None,
    toy_size: int | None = None,
    seed: int = 0,
    custom: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Settings from explicit values (the CLI's options) over a params `data:` section; the mirror
    is `mirror`, else $GANREPRO_MIRROR, else data.mirror; `custom` entries replace data.custom's."""
    custom = {**(data.get("custom") or {}), **(custom or {})}
    clashes = sorted(set(custom) & set(DATASETS))
    if clashes:
        raise UserError(f"data.custom / --custom-json may not reuse built-in names ({', '.join(clashes)})")
    mirror = mirror or os.environ.get(MIRROR_ENV) or data.get("mirror") or None
    tfd_file = tfd_file or data.get("tfd_file") or None
    return Settings(
        raw_dir=raw_dir,
        mirror=Path(mirror) if mirror else None,
        tfd_file=Path(tfd_file) if tfd_file else None,
        toy_size=int(data.get("toy_size", TOY_TRAIN_SIZE) if toy_size is None else toy_size),
        seed=seed,
        custom=custom,
    )


def lookup(name: str, settings: Settings) -> Dataset:
    """The dataset called `name`: built-in, or declared in `settings.custom`."""
    if name in DATASETS:
        return DATASETS[name]
    if name in settings.custom:
        return CUSTOM
    known = KNOWN_DATASETS + tuple(settings.custom)
    raise UserError(
        f"unknown dataset '{name}'; known: {', '.join(known)} (declare your own under data.custom in params.yaml)"
    )
