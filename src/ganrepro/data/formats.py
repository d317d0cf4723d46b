"""Parsers of the raw files: IDX (MNIST, Fashion-MNIST), the CIFAR-10 python batches, TFD's .mat.

CIFAR-10 batches are pickles: they load through `_BatchUnpickler`, which builds numpy arrays,
lists, dicts and bytes and refuses any other import, so a crafted batch cannot run code.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import pickle
import struct
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from numpy._core.multiarray import _reconstruct

from ganrepro.data.sources import CIFAR10_DIR, CIFAR10_MEMBERS, TFD_FILE, TFD_FOLDS, TFD_SETS
from ganrepro.errors import UserError


def corrupt(label: str, err: Exception) -> str:
    return f"{label}: truncated or corrupt archive ({err})."


def gunzip(path: Path) -> bytes:
    """The decompressed content of a raw .gz file, or an error saying to fetch it again."""
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f"{corrupt(str(path), err)} Run `ganrepro fetch {path.parent.name}` again.") from err


def parse_idx(data: bytes, path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (`data`, read from `path`) as an array of its declared shape."""
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise UserError(f"{path}: not an IDX file of unsigned bytes (magic {data[:4].hex()})")
    ndim = data[3]
    offset = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", data[4:offset])
    if len(data) - offset != int(np.prod(dims)):
        raise UserError(f"{path}: IDX header declares shape {dims} but {len(data) - offset} bytes follow")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


def read_cifar_members(path: Path, recorded: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Unpickle the CIFAR-10 members after checking each against its `recorded` SHA-256."""
    wanted = {f"{CIFAR10_DIR}/{member}": member for member in CIFAR10_MEMBERS}
    batches = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for info in tar:
                if info.name in wanted and info.isfile():
                    member = wanted[info.name]
                    data = tar.extractfile(info).read()
                    if hashlib.sha256(data).hexdigest() != recorded.get(member):
                        raise UserError(
                            f"{path}: member {member} changed since it was fetched: run `ganrepro fetch cifar10` again"
                        )
                    batches[member] = _unpickle(data, f"{path}: member {member}")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise UserError(f"{corrupt(str(path), err)} Run `ganrepro fetch cifar10` again.") from err
    missing = sorted(set(CIFAR10_MEMBERS) - set(batches))
    if missing:
        raise UserError(f"{path}: not the CIFAR-10 python archive: it lacks {', '.join(missing)}")
    return batches


def _latin1(text: str, encoding: str) -> bytes:
    """`_codecs.encode` as protocol-2 pickles of bytes call it, and for nothing else."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"bytes encoded as {encoding!r}, expected 'latin1'")
    return codecs.encode(text, encoding)


# Every global a CIFAR-10 batch refers to: numpy's array reconstruction (numpy.core before numpy 2)
# and, in batches pickled by Python 3 with protocol 2, the latin-1 encoding of bytes.
_BATCH_GLOBALS: dict[tuple[str, str], Callable[..., Any] | type] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1,
}


class _BatchUnpickler(pickle.Unpickler):
    """Resolves only `_BATCH_GLOBALS`: any other import (os.system, builtins.open, ...) is refused
    before it happens."""

    def __init__(self, data: bytes, label: str) -> None:
        super().__init__(io.BytesIO(data), encoding="bytes")
        self.label = label

    def find_class(self, module: str, name: str) -> Any:
        found = _BATCH_GLOBALS.get((module, name))
        if found is None:
            raise UserError(
                f"{self.label} refuses to load: it would import {module}.{name}, which a CIFAR-10 batch "
                "never needs (only numpy arrays, lists, dicts and bytes). The file is not the official one: "
                "delete it and run `ganrepro fetch cifar10` again."
            )
        return found


def _unpickle(data: bytes, label: str) -> dict[str, Any]:
    """A CIFAR-10 batch (pickled by Python 2) as a dict with str keys."""
    try:
        obj = _BatchUnpickler(data, label).load()
    except (pickle.UnpicklingError, ValueError, TypeError, EOFError) as err:
        raise UserError(f"{label}: not a CIFAR-10 batch ({err}); run `ganrepro fetch cifar10` again") from err
    if not isinstance(obj, dict):
        raise UserError(f"{label}: not a CIFAR-10 batch (a {type(obj).__name__}, expected a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def cifar_batch(batch: dict[str, Any], member: str) -> tuple[np.ndarray, np.ndarray]:
    """The images (N, 3, 32, 32) and labels of one batch."""
    x = np.asarray(batch.get("data"))
    y = np.asarray(batch.get("labels"), dtype=np.int64)
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or len(y) != len(x):
        raise UserError(
            f"CIFAR-10 member {member}: expected uint8 data of shape (N, 3072) and N labels, "
            f"found data {x.dtype} {x.shape} and {len(y)} labels"
        )
    return x.reshape(-1, 3, 32, 32), y


def load_tfd(path: Path) -> dict[str, np.ndarray]:
    """Read TFD_48x48.mat and check its layout: images (N, 48, 48), folds (N, 5), labs_ex, labs_id."""
    if not path.is_file():
        raise UserError(
            f"{path} not found. The Toronto Face Database (TFD) is licensed and cannot be downloaded "
            f"automatically: obtain {TFD_FILE} from its maintainers under their licence and place it "
            "at that path (or set data.tfd_file in params.yaml, or pass --tfd-file). Without it the "
            "TFD jobs are skipped."
        )
    keys = ("images", "folds", "labs_ex", "labs_id")
    try:
        mat = scipy.io.loadmat(path, variable_names=keys)
    except (
        scipy.io.matlab.MatReadError,
        ValueError,
        TypeError,
        LookupError,
        OSError,
        EOFError,
        NotImplementedError,
        zlib.error,
    ) as err:
        raise UserError(f"{path}: cannot be read as a MATLAB file ({err}); expected {TFD_FILE}") from err
    missing = [k for k in keys if k not in mat]
    if missing:
        raise UserError(f"{path}: lacks {', '.join(missing)}; expected {TFD_FILE} holding {', '.join(keys)}")
    images, folds = mat["images"], mat["folds"]
    n = len(images)
    problems = []
    if images.ndim != 3 or images.shape[1:] != (48, 48):
        problems.append(f"images has shape {images.shape}, expected (N, 48, 48)")
    if folds.shape != (n, TFD_FOLDS):
        problems.append(f"folds has shape {folds.shape}, expected ({n}, {TFD_FOLDS})")
    elif not np.isin(folds, list(TFD_SETS.values())).all():
        problems.append(f"folds holds values other than {sorted(TFD_SETS.values())}")
    problems += [f"{k} has {mat[k].size} entries, expected {n}" for k in ("labs_ex", "labs_id") if mat[k].size != n]
    if problems:
        raise UserError(f"{path}: unexpected layout: {'; '.join(problems)}; expected {TFD_FILE}")
    return {
        "images": to_uint8(images, str(path)),
        "folds": folds.astype(np.int64),
        "labs_ex": mat["labs_ex"].reshape(-1).astype(np.int64),
    }


def to_uint8(images: np.ndarray, where: str) -> np.ndarray:
    """uint8 as is; integers in 0..255 cast; floats in [0, 1] become round(x * 255)."""
    if images.dtype == np.uint8:
        return images
    if np.issubdtype(images.dtype, np.integer) and images.size and 0 <= images.min() and images.max() <= 255:
        return images.astype(np.uint8)
    if np.issubdtype(images.dtype, np.floating) and images.size and 0 <= images.min() and images.max() <= 1:
        return np.rint(images * 255).astype(np.uint8)
    lo, hi = (images.min(), images.max()) if images.size else (None, None)
    raise UserError(
        f"{where}: pixel values must be uint8 0..255 or floats in [0, 1]; found {images.dtype} in [{lo}, {hi}]"
    )
