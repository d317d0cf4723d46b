"""Atomic file writes (a killed step or a full disk never leaves a half-written output behind) and
torch files that are read as data only (loading a file never runs code)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ganrepro.errors import UserError

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class UnreadableFile(UserError):
    """A truncated or corrupted file (one that holds code is refused with a plain UserError)."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.
    A full disk is a UserError naming `path` (the previous file, if any, is left as it was)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    except OSError as err:
        if err.errno in NO_SPACE:
            raise _disk_full(path, err) from err
        raise
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as err:
        if err.errno in NO_SPACE:
            raise _disk_full(path, err) from err
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


def _disk_full(path: Path, err: OSError) -> UserError:
    kept = f"the previous {path.name} is unchanged" if path.exists() else f"no {path.name} was written"
    return UserError(
        f"{path}: the disk is full ({err.strerror}) while writing it; {kept}. Free space on {path.parent} "
        "and run the step again"
    )


def write_text(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8), atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def json_text(data: Any) -> str:
    """`data` as indented JSON (numpy scalars and arrays, paths and sets as plain values)."""
    return json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n"


def write_json(path: str | Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    write_text(path, json_text(data))


def read_json(path: str | Path) -> Any:
    """The JSON in `path`; a missing or malformed file is a UserError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file (run the step that writes it first)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UnreadableFile(f"{path}: not valid JSON ({err}); run the step that writes it again") from err


def save_npz(path: str | Path, **arrays: Any) -> None:
    """Write a compressed .npz atomically (numpy would otherwise append '.npz' to the temp name)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def save_torch(path: str | Path, obj: Any) -> None:
    """torch.save `obj` (tensors in plain containers, so that `load_torch` reads it) atomically.
    Through a Python file object: a full disk then raises ENOSPC, which atomic_path reports."""
    import torch  # here: torch takes seconds to import, and most steps never write a torch file

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def load_torch(path: str | Path, remedy: str, if_damaged: str = "", keys: tuple[str, ...] = ()) -> Any:
    """torch.load that only rebuilds tensors and plain containers (weights_only), so a crafted file
    cannot run code. A refused file is a UserError naming it, ending with `remedy`; a truncated or
    corrupted one an UnreadableFile, ending with `remedy` and `if_damaged`; a file whose dictionary
    lacks one of `keys` (another kind of torch file) a UserError."""
    import torch

    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        unsupported = [line.strip() for line in str(err).splitlines() if "Unsupported global" in line]
        if not unsupported:
            raise UnreadableFile(
                f"{path}: unreadable, truncated or corrupted (not a torch file); {remedy}{if_damaged}"
            ) from err
        what = unsupported[0].split("Unsupported global: ", 1)[1].split(" was not", 1)[0]
        raise UserError(
            f"{path}: refused: it holds objects other than tensors and plain containers ({what}), and "
            f"loading them could run code; {remedy}"
        ) from err
    except Exception as err:  # whatever a damaged file makes the zip reader or the unpickler raise
        first = str(err).split(". ")[0].splitlines()[0][:120] if str(err) else type(err).__name__
        raise UnreadableFile(f"{path}: unreadable, truncated or corrupted ({first}); {remedy}{if_damaged}") from err
    missing = [key for key in keys if not isinstance(blob, dict) or key not in blob]
    if missing:
        raise UserError(f"{path}: not the file expected here (it has no {', '.join(missing)}); {remedy}")
    return blob


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
