"""The prepared .npz, the contract between `prepare` and every later step: `x_<split>` / `y_<split>`
for train, valid and test (images uint8 (N, C, H, W), vectors float32 (N, d), labels int64 with -1
for none) and `meta`, a JSON string (see `make_meta`). Writing and reading both live here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ganrepro.arrays import NUMPY_READ_ERRORS
from ganrepro.errors import UserError
from ganrepro.io import save_npz

Arrays = dict[str, np.ndarray]


def split_arrays(parts: list[tuple[np.ndarray, np.ndarray]]) -> Arrays:
    """{x_train, y_train, x_valid, ...} from (x, y) of train, valid and test."""
    arrays = {}
    for split, (x, y) in zip(("train", "valid", "test"), parts):
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    return arrays


def make_meta(name: str, kind: str, arrays: Arrays, fields: dict[str, Any]) -> dict[str, Any]:
    """The contract's `meta`: fields common to every dataset, then the dataset's own."""
    xs = [v for k, v in arrays.items() if k.startswith("x_") and len(v)]
    if kind == "image":
        value_range, unit_scale = [0, 255], 255
    else:
        value_range, unit_scale = [float(min(x.min() for x in xs)), float(max(x.max() for x in xs))], 1
    return {
        "dataset": name,
        "kind": kind,
        "example_shape": list(arrays["x_train"].shape[1:]),
        "value_range": value_range,
        "unit_scale": unit_scale,
        "n_train": len(arrays["x_train"]),
        "n_valid": len(arrays["x_valid"]),
        "n_test": len(arrays["x_test"]),
        "num_classes": fields.get("num_classes"),
        "class_names": fields.get("class_names"),
        "splits": fields["splits"],
        "source": fields["source"],
    }


def write_prepared(out: Path, meta: dict[str, Any], arrays: Arrays) -> None:
    save_npz(out, meta=np.array(json.dumps(meta)), **arrays)


def read_meta(path: str | Path) -> dict[str, Any]:
    """The `meta` dictionary of a prepared .npz."""
    with _open_prepared(path) as data:
        return _meta(data)


def load_split(path: str | Path, split: str, unit: bool = True) -> np.ndarray:
    """`x_<split>` of a prepared .npz, as stored, or float32 divided by unit_scale when `unit`."""
    with _open_prepared(path) as data:
        x = _member(data, f"x_{split}", path)
        if not unit:
            return x
        scale = _meta(data)["unit_scale"]
        return x.astype(np.float32) / np.float32(scale)


def load_labels(path: str | Path, split: str) -> np.ndarray:
    """`y_<split>` (int64, -1 where there is no label) of a prepared .npz."""
    with _open_prepared(path) as data:
        return _member(data, f"y_{split}", path)


def _open_prepared(path: str | Path) -> np.lib.npyio.NpzFile:
    path = Path(path)
    remedy = f"run `ganrepro prepare DATASET --out {path}`"
    if not path.is_file():
        raise UserError(f"{path}: no such prepared dataset ({remedy})")
    try:
        data = np.load(path)
    except NUMPY_READ_ERRORS as err:
        raise UserError(f"{path}: unreadable, not a prepared dataset ({err}); {remedy}") from err
    if isinstance(data, np.lib.npyio.NpzFile) and "meta" in data.files:
        return data
    if isinstance(data, np.lib.npyio.NpzFile):
        data.close()
    raise UserError(f"{path}: not a prepared dataset (it has no 'meta'); {remedy}")


def _meta(data: np.lib.npyio.NpzFile) -> dict[str, Any]:
    return json.loads(data["meta"].item())


def _member(data: np.lib.npyio.NpzFile, key: str, path: str | Path) -> np.ndarray:
    if key not in data.files:
        splits = sorted(k[2:] for k in data.files if k.startswith("x_"))
        raise UserError(f"{path} has no '{key}'; its splits are {', '.join(splits)}")
    return data[key]
