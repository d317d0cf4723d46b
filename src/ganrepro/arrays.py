"""Reading arrays named on the command line: `file.npy`, `file.npz` (its only array) or `file.npz:key`;
the digest of the arrays a network trains on."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from ganrepro.errors import UserError

# What numpy raises on a truncated, corrupted or pickled (object) .npy/.npz.
NUMPY_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile)


def data_digest(*arrays: np.ndarray) -> str:
    """The sha256 of the arrays a network trains on (dtypes, shapes and values), which checkpoints and
    the classifier's record keep. Not of the dataset file: its metadata (where the data was fetched
    from) may change while the data does not."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8))
    return h.hexdigest()


def load_array(spec: str | Path) -> np.ndarray:
    """Load the array named by `spec` as stored (any dtype and shape)."""
    spec = str(spec)
    path, _, key = spec.partition(":") if spec.count(":") == 1 and not Path(spec).exists() else (spec, "", "")
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.suffix not in (".npy", ".npz"):
        raise UserError(f"{path}: expected a .npy or .npz file")
    try:
        if path.suffix == ".npy":
            return np.load(path)
        with np.load(path) as archive:
            if not key:
                if len(archive.files) != 1:
                    raise UserError(f"{path} holds {sorted(archive.files)}; name one as {path}:KEY")
                key = archive.files[0]
            if key not in archive.files:
                raise UserError(f"{path} has no array '{key}'; it holds {sorted(archive.files)}")
            return archive[key]
    except NUMPY_READ_ERRORS as err:
        raise UserError(f"{path}: unreadable as numpy arrays ({err}); write it again") from err


def as_unit_matrix(array: np.ndarray) -> np.ndarray:
    """Flatten to (n, d) float32; uint8 pixel values are scaled to [0, 1]."""
    matrix = array.reshape(len(array), int(np.prod(array.shape[1:])))  # not -1: an empty array has rows of known size
    if matrix.dtype == np.uint8:
        return matrix.astype(np.float32) / np.float32(255.0)
    return matrix.astype(np.float32, copy=False)


def load_matrix(spec: str | Path) -> np.ndarray:
    """`load_array` then `as_unit_matrix`: the (n, d) float32 form the evaluation steps work on."""
    return as_unit_matrix(load_array(spec))
