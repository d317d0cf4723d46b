"""`prepare`: parse a dataset's verified raw files (or generate it) into the paper's train/valid/test
splits, written as one prepared .npz (the format is in `prepared`)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ganrepro.data.custom import build_custom, custom_path, source_digest
from ganrepro.data.formats import cifar_batch, gunzip, load_tfd, parse_idx, read_cifar_members
from ganrepro.data.manifest import check_unchanged, read_manifest
from ganrepro.data.prepared import Arrays, make_meta, write_prepared
from ganrepro.data.settings import Settings, lookup
from ganrepro.data.sources import (
    CIFAR10_FILE,
    CIFAR10_MEMBERS,
    CLASS_NAMES,
    IDX_FILES,
    MANIFEST,
    MNIST_TRAIN,
    TFD_CLASSES,
    TFD_FOLDS,
    TFD_SETS,
    mnist_split,
)
from ganrepro.data.toy import build_ring, build_toy1d
from ganrepro.data.verify import file_sha256
from ganrepro.errors import UserError


def prepare(name: str, settings: Settings, out: Path) -> dict[str, Any]:
    """Build the train/valid/test arrays of `name` into one .npz at `out`; return its meta."""
    dataset = lookup(name, settings)
    if dataset.origin == "generated":
        arrays, fields = _GENERATORS[name](settings.toy_size, settings.seed)
    else:
        manifest = read_manifest(settings.raw_dir / name / MANIFEST, name, settings.raw_dir)
        arrays, fields = _BUILDERS.get(name, _build_custom)(name, settings, manifest)
        fields["source"] = manifest
    meta = make_meta(name, dataset.kind, arrays, fields)
    write_prepared(out, meta, arrays)
    return meta


def _raw_file(name: str, settings: Settings, fname: str) -> Path:
    path = settings.raw_dir / name / fname
    if not path.is_file():
        raise UserError(f"{path} not found: run `ganrepro fetch {name} --raw-dir {settings.raw_dir}` again")
    return path


def _read_idx(path: Path, manifest: dict[str, Any]) -> np.ndarray:
    """Decompress and parse an IDX file, checking it against the manifest first."""
    data = gunzip(path)
    check_unchanged(manifest, path.name, hashlib.sha256(data).hexdigest(), path)
    return parse_idx(data, path)


def _build_idx(name: str, settings: Settings, manifest: dict[str, Any]) -> tuple[Arrays, dict[str, Any]]:
    x_train, y_train, x_test, y_test = (_read_idx(_raw_file(name, settings, f), manifest) for f in IDX_FILES)
    if x_train.ndim != 3 or x_test.ndim != 3 or len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise UserError(
            f"{settings.raw_dir / name}: image and label files do not match "
            f"({x_train.shape}, {y_train.shape}, {x_test.shape}, {y_test.shape})"
        )
    x_train, x_test = x_train[:, None], x_test[:, None]
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    arrays = mnist_split(x_train, y_train, x_test, y_test)
    return arrays, {
        "num_classes": len(CLASS_NAMES[name]),
        "class_names": CLASS_NAMES[name],
        "splits": f"train = official train[0:{MNIST_TRAIN}], valid = official train[{MNIST_TRAIN}:], "
        "test = official test set",
    }


def _build_cifar10(name: str, settings: Settings, manifest: dict[str, Any]) -> tuple[Arrays, dict[str, Any]]:
    path = _raw_file(name, settings, CIFAR10_FILE)
    recorded = {f["name"]: f for f in manifest["files"]}[CIFAR10_FILE]["members"]
    batches = read_cifar_members(path, recorded)
    parts = {key: cifar_batch(batches[key], key) for key in CIFAR10_MEMBERS if key != "batches.meta"}
    train = [parts[f"data_batch_{i}"] for i in range(1, 5)]
    arrays = {
        "x_train": np.concatenate([x for x, _ in train]),
        "y_train": np.concatenate([y for _, y in train]),
        "x_valid": parts["data_batch_5"][0],
        "y_valid": parts["data_batch_5"][1],
        "x_test": parts["test_batch"][0],
        "y_test": parts["test_batch"][1],
    }
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in batches["batches.meta"]["label_names"]]
    return arrays, {
        "num_classes": len(names),
        "class_names": names,
        "splits": "train = data_batch_1..4 (train[0:40000]), valid = data_batch_5 (train[40000:50000]), "
        "test = test_batch; uint8 [0, 255], no contrast normalisation",
    }


def _build_tfd(name: str, settings: Settings, manifest: dict[str, Any]) -> tuple[Arrays, dict[str, Any]]:
    path = settings.tfd_path
    tfd = load_tfd(path)
    check_unchanged(manifest, path.name, file_sha256(path), path)
    x, folds, labs = tfd["images"][:, None], tfd["folds"], tfd["labs_ex"]
    y = np.where((labs >= 1) & (labs <= TFD_CLASSES), labs - 1, -1)
    arrays = {}
    for k in range(TFD_FOLDS):
        for split in ("valid", "test"):
            chosen = folds[:, k] == TFD_SETS[split]
            arrays[f"x_{split}_fold{k}"], arrays[f"y_{split}_fold{k}"] = x[chosen], y[chosen]
    unlabeled = folds[:, 0] == TFD_SETS["unlabeled"]
    arrays = {
        "x_train": x[unlabeled],
        "y_train": y[unlabeled],
        "x_valid": arrays["x_valid_fold0"],
        "y_valid": arrays["y_valid_fold0"],
        "x_test": arrays["x_test_fold0"],
        "y_test": arrays["y_test_fold0"],
        **arrays,
    }
    return arrays, {
        "num_classes": TFD_CLASSES,
        "class_names": None,
        "splits": "train = unlabeled set of fold 0, valid/test = fold 0's valid/test sets; "
        "x_valid_fold{k}, x_test_fold{k} (k = 0..4) for every fold; y = labs_ex - 1",
    }


def _build_custom(name: str, settings: Settings, manifest: dict[str, Any]) -> tuple[Arrays, dict[str, Any]]:
    spec = settings.custom[name]
    path = custom_path(name, spec)
    check_unchanged(manifest, path.name, source_digest(path), path)
    return build_custom(name, path, spec)


_GENERATORS = {"toy1d": build_toy1d, "ring": build_ring}
_BUILDERS = {"mnist": _build_idx, "fashion-mnist": _build_idx, "cifar10": _build_cifar10, "tfd": _build_tfd}
