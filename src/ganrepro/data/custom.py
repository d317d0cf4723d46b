"""A user's own data: data.custom.<name> = {path, valid_fraction, test_fraction, seed}, where `path` is
an .npz of images or a folder of PNG/JPEG files (labelled by first-level subfolder)."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ganrepro.data.formats import to_uint8
from ganrepro.data.prepared import Arrays, split_arrays
from ganrepro.data.verify import file_sha256
from ganrepro.errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def custom_source_files(spec: Mapping[str, Any]) -> list[Path]:
    """The files a custom dataset (a data.custom entry) is built from: its .npz, or the PNG/JPEG files
    of its folder, sorted. A path that does not exist is returned as is, for the caller to report."""
    path = spec_path(spec, "data.custom")
    return _image_list(path) if path.is_dir() else [path]


def spec_path(spec: Any, where: str) -> Path:
    """The `path` of a data.custom entry (`where` names it in messages)."""
    if not isinstance(spec, Mapping) or "path" not in spec:
        raise UserError(
            f"{where}: expected a mapping with 'path' (an .npz with images, or a folder of "
            f"PNG/JPEG files), got {spec!r}"
        )
    return Path(spec["path"])


def custom_path(name: str, spec: Any) -> Path:
    """The existing `path` of data.custom.<name>."""
    where = f"data.custom.{name} (params or --custom-json)"
    path = spec_path(spec, where)
    if not path.exists():
        raise UserError(f"{where}: path {path} does not exist")
    return path


def source_digest(path: Path) -> str:
    """SHA-256 of an .npz, or of a folder's image files (relative names and contents, sorted)."""
    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in _image_files(path):
        digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def build_custom(name: str, path: Path, spec: Mapping[str, Any]) -> tuple[Arrays, dict[str, Any]]:
    """The arrays of data.custom.<name> (read from `path`) in a seeded random split."""
    images, labels, class_names = _load_folder(path) if path.is_dir() else _load_npz(path)
    valid_fraction, test_fraction = spec.get("valid_fraction", 0.1), spec.get("test_fraction", 0.1)
    seed = spec.get("seed", 0)
    parts = [(images[i], labels[i]) for i in _random_split(len(images), valid_fraction, test_fraction, seed, name)]
    labelled = labels[labels >= 0]
    return split_arrays(parts), {
        "num_classes": int(labelled.max()) + 1 if len(labelled) else None,
        "class_names": class_names,
        "splits": f"seeded random split (seed {seed}): valid {valid_fraction}, test {test_fraction}, train the rest",
    }


def _image_list(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _image_files(folder: Path) -> list[Path]:
    files = _image_list(folder)
    if not files:
        raise UserError(f"{folder}: no PNG or JPEG files found")
    return files


def _random_split(n: int, valid_fraction: float, test_fraction: float, seed: int, name: str) -> list[np.ndarray]:
    """Sorted index arrays of train, valid and test, drawn with a seeded permutation."""
    n_valid, n_test = round(n * valid_fraction), round(n * test_fraction)
    if not (0 <= valid_fraction < 1 and 0 <= test_fraction < 1) or n_valid + n_test >= n:
        raise UserError(
            f"data.custom.{name}: valid_fraction {valid_fraction} and test_fraction "
            f"{test_fraction} must lie in [0, 1) and leave training examples out of {n}"
        )
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[n_valid + n_test :]), np.sort(order[:n_valid]), np.sort(order[n_valid : n_valid + n_test])]


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray, None]:
    """`images` (or `x`) and optional `labels` (or `y`) of a user's .npz."""
    try:
        with np.load(path) as data:
            key = next((k for k in ("images", "x") if k in data.files), None)
            if key is None:
                raise UserError(f"{path}: expected an array named 'images' or 'x'; found {', '.join(data.files)}")
            images = data[key]
            label_key = next((k for k in ("labels", "y") if k in data.files), None)
            labels = data[label_key] if label_key else None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise UserError(f"{path}: cannot be read as an .npz file ({err})") from err
    images = to_uint8(_to_nchw(images, str(path)), str(path))
    if labels is None:
        return images, np.full(len(images), -1, np.int64), None
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer) or (labels < -1).any():
        raise UserError(
            f"{path}: labels must be integers >= -1, one per image ({len(images)}); found {labels.dtype} {labels.shape}"
        )
    return images, labels.astype(np.int64), None


def _to_nchw(images: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W) -> (N, 1, H, W); (N, H, W, C) -> (N, C, H, W); channels first when dim 1 is 1, 3 or 4."""
    if images.ndim == 3:
        return images[:, None]
    if images.ndim == 4 and images.shape[1] in (1, 3, 4):
        return images
    if images.ndim == 4 and images.shape[3] in (1, 3, 4):
        return images.transpose(0, 3, 1, 2)
    raise UserError(
        f"{where}: images of shape {images.shape}; expected (N, H, W), (N, H, W, C) or (N, C, H, W) with C in 1, 3, 4"
    )


def _load_folder(folder: Path) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """Images of one size; grayscale stays 1 channel, otherwise RGB. Labels from first-level subfolders."""
    from PIL import Image

    files = _image_files(folder)
    pictures = []
    for file in files:
        with Image.open(file) as im:
            im.load()
            pictures.append(im)
    sizes: dict[tuple[int, int], list[Path]] = {}
    for file, im in zip(files, pictures):
        sizes.setdefault(im.size, []).append(file)
    if len(sizes) > 1:
        found = "; ".join(f"{w}x{h}: {len(fs)} file(s), e.g. {fs[0]}" for (w, h), fs in sizes.items())
        raise UserError(f"{folder}: images differ in size ({found}); resize them all to one size")
    mode = "L" if all(im.mode in ("1", "L") for im in pictures) else "RGB"
    images = _to_nchw(np.stack([np.asarray(im.convert(mode)) for im in pictures]), str(folder))
    classes = [f.relative_to(folder).parts[0] if f.parent != folder else None for f in files]
    class_names = sorted({c for c in classes if c is not None}) or None
    index = {c: i for i, c in enumerate(class_names or [])}
    labels = np.array([index.get(c, -1) for c in classes], dtype=np.int64)
    return images, labels, class_names
