"""Datasets: sources, checksums, parsers and the paper's splits (`ganrepro fetch`, `ganrepro prepare`).

`fetch DATASET` copies the official files from a local mirror folder, or downloads them, verifies
them and writes `<raw-dir>/<dataset>/MANIFEST.json` last. A file already in `<raw-dir>/<dataset>/`
that fails verification is renamed `<file>.rejected-<why>`, never deleted. `prepare DATASET` turns them into one
compressed .npz: `x_<split>` / `y_<split>` for train, valid and test (images uint8 (N, C, H, W),
vectors float32 (N, d), labels int64 with -1 for none) and `meta`, a JSON string (see `_meta`).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import json
import os
import pickle
import shutil
import socket
import struct
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from tqdm import tqdm

from ganrepro.config import load_params
from ganrepro.errors import UserError
from ganrepro.io import atomic_path, save_npz, write_json

# The generated sets (Figure 1 draws the analytic density of toy1d from these constants).
TOY1D_MEAN = 4.0
TOY1D_STD = 0.5
RING_MODES = 8
RING_RADIUS = 2.0
RING_STD = 0.02
TOY_TRAIN_SIZE = 50_000  # default training examples of each generated set (params data.toy_size)
TOY_EVAL_SIZE = 10_000  # valid and test examples of each generated set

MNIST_TRAIN = 50_000  # the paper's split: train[0:50000], valid = train[50000:60000]
MANIFEST = "MANIFEST.json"
MIRROR_ENV = "GANREPRO_MIRROR"
TIMEOUT_SECONDS = 60.0
RETRIES = 3  # attempts per URL
BACKOFF_SECONDS = 2.0  # wait before retry i: BACKOFF_SECONDS * 2**i

# Official download locations, tried in order after the mirror (base URL + official file name).
URLS: dict[str, tuple[str, ...]] = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://yann.lecun.com/exdb/mnist/"),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",),
}

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# SHA-256 of the decompressed content: it holds for any faithful copy, however re-compressed.
SHA256: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

CIFAR10_FILE = "cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"  # of the official tarball's bytes
CIFAR10_DIR = "cifar-10-batches-py"
# SHA-256 of each member's bytes. None = not recorded yet: they cannot be computed offline. A
# maintainer with internet runs `ganrepro fetch cifar10` and copies the values from "members" in
# data/raw/cifar10/MANIFEST.json. Until then the MD5 protects downloads, and a re-packed mirror
# copy (other bytes, so another MD5) is refused because nothing can vouch for its content.
CIFAR10_MEMBER_SHA256: dict[str, str | None] = {
    "data_batch_1": None,
    "data_batch_2": None,
    "data_batch_3": None,
    "data_batch_4": None,
    "data_batch_5": None,
    "test_batch": None,
    "batches.meta": None,
}

TFD_FILE = "TFD_48x48.mat"
TFD_FOLDS = 5
TFD_SETS = {"unlabeled": 0, "train": 1, "valid": 2, "test": 3}  # values of the `folds` columns
TFD_CLASSES = 7  # labs_ex holds 1..7; stored as y = labs_ex - 1

CLASS_NAMES: dict[str, list[str]] = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
CHUNK = 1 << 20

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Settings:
    """Where the files are and how to generate the toy sets: CLI options over params over defaults."""

    raw_dir: Path = Path("data/raw")
    mirror: Path | None = None
    tfd_file: Path | None = None  # None: <raw_dir>/tfd/TFD_48x48.mat
    toy_size: int = TOY_TRAIN_SIZE
    seed: int = 0
    custom: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def tfd_path(self) -> Path:
        return self.tfd_file or self.raw_dir / "tfd" / TFD_FILE


@dataclass(frozen=True)
class Dataset:
    """How `fetch` obtains a dataset (returns the manifest body) and `prepare` builds its arrays."""

    kind: str  # "image" or "vector"
    fetch: Callable[[str, Settings, Mapping[str, str]], dict[str, Any]]
    build: Callable[[str, Settings], tuple[Arrays, dict[str, Any]]]
    files: tuple[str, ...] = ()


class _Unavailable(Exception):
    """A source could not deliver the file (not in the mirror, network error): try the next one."""


class _Rejected(UserError):
    """A file failed verification; `why` ("checksum", "corrupt" or "format") names the failed check."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(message)
        self.why = why


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def known_datasets(params: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """Built-in dataset names, then the custom ones declared under `data.custom` in `params`."""
    custom = ((params or {}).get("data") or {}).get("custom") or {}
    return KNOWN_DATASETS + tuple(name for name in custom if name not in DATASETS)


def fetch(name: str, settings: Settings) -> Path:
    """Obtain and verify `name`'s raw files; write and return <raw_dir>/<name>/MANIFEST.json.
    A failure removes the folders it created when they are still empty."""
    dataset = _lookup(name, settings)
    created = [d for d in (settings.raw_dir / name, settings.raw_dir) if not d.exists()]  # deepest first
    manifest_path = settings.raw_dir / name / MANIFEST
    previous = _previous_sources(manifest_path)
    manifest_path.unlink(missing_ok=True)
    try:
        body = dataset.fetch(name, settings, previous)
    except BaseException:
        _remove_empty(created)
        raise
    write_json(manifest_path, {"dataset": name, **body})
    return manifest_path


def fetch_unavailable_reason(name: str, settings: Settings, timeout: float = 2.0) -> str | None:
    """Why `fetch name` cannot work here, in one short line; None when it can: a MANIFEST.json
    already there, every file in the raw folder or the mirror, a generated or custom dataset, or
    an official host accepting a TCP connection within `timeout` seconds. Nothing is hashed."""
    dataset = _lookup(name, settings)
    if name == "tfd":
        path = settings.tfd_path
        return None if path.is_file() else f"{path} not found (TFD is licensed: place it yourself, docs/datasets.md)"
    if (settings.raw_dir / name / MANIFEST).is_file():
        return None
    mirror = settings.mirror
    missing = [
        f
        for f in dataset.files
        if not (settings.raw_dir / name / f).is_file() and not (mirror and (mirror / name / f).is_file())
    ]
    urls = URLS.get(name, ())
    if not missing or any(_reachable(url, timeout) for url in urls):
        return None
    files = missing[0] + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else "")
    hosts = _origin(urls[0]) + (f" and {len(urls) - 1} other host(s)" if len(urls) > 1 else "")
    where = f"no copy in the mirror {mirror}" if mirror else f"no mirror set (--mirror, ${MIRROR_ENV}, data.mirror)"
    return f"cannot fetch {files}: no network ({hosts} unreachable) and {where}"


def custom_source_files(spec: Mapping[str, Any]) -> list[Path]:
    """The files a custom dataset (a data.custom entry) is built from: its .npz, or the PNG/JPEG files
    of its folder, sorted. A path that does not exist is returned as is, for the caller to report."""
    path = _spec_path(spec, "data.custom")
    return _image_list(path) if path.is_dir() else [path]


def make_settings(
    data: Mapping[str, Any],
    raw_dir: Path = Path("data/raw"),
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


def prepare(name: str, settings: Settings, out: Path) -> dict[str, Any]:
    """Build the train/valid/test arrays of `name` into one .npz at `out`; return its meta."""
    dataset = _lookup(name, settings)
    arrays, fields = dataset.build(name, settings)
    meta = _meta(name, dataset.kind, arrays, fields)
    save_npz(out, meta=np.array(json.dumps(meta)), **arrays)
    return meta


def read_meta(path: str | Path) -> dict[str, Any]:
    """The `meta` dictionary of a prepared .npz."""
    with _open_prepared(path) as data:
        return json.loads(data["meta"].item())


def load_split(path: str | Path, split: str, unit: bool = True) -> np.ndarray:
    """`x_<split>` of a prepared .npz, as stored, or float32 divided by unit_scale when `unit`."""
    with _open_prepared(path) as data:
        x = _member(data, f"x_{split}", path)
        if not unit:
            return x
        scale = json.loads(data["meta"].item())["unit_scale"]
        return x.astype(np.float32) / np.float32(scale)


def load_labels(path: str | Path, split: str) -> np.ndarray:
    """`y_<split>` (int64, -1 where there is no label) of a prepared .npz."""
    with _open_prepared(path) as data:
        return _member(data, f"y_{split}", path)


def _open_prepared(path: str | Path) -> np.lib.npyio.NpzFile:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such prepared dataset (run `ganrepro prepare DATASET --out {path}`)")
    return np.load(path)


def _member(data: np.lib.npyio.NpzFile, key: str, path: str | Path) -> np.ndarray:
    if key not in data.files:
        splits = sorted(k[2:] for k in data.files if k.startswith("x_"))
        raise UserError(f"{path} has no '{key}'; its splits are {', '.join(splits)}")
    return data[key]


def _meta(name: str, kind: str, arrays: Arrays, fields: dict[str, Any]) -> dict[str, Any]:
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


def _lookup(name: str, settings: Settings) -> Dataset:
    if name in DATASETS:
        return DATASETS[name]
    if name in settings.custom:
        return CUSTOM
    known = KNOWN_DATASETS + tuple(settings.custom)
    raise UserError(
        f"unknown dataset '{name}'; known: {', '.join(known)} (declare your own under data.custom in params.yaml)"
    )


# ---------------------------------------------------------------------------------------------
# Fetching: mirror first, then the official URLs; verify, then rename into place
# ---------------------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _remove_empty(folders: list[Path]) -> None:
    """Remove each folder (deepest first) that exists and is empty."""
    for folder in folders:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _reachable(url: str, timeout: float) -> bool:
    """Whether a TCP connection to the URL's host and port opens within `timeout` seconds. The
    attempt runs in a daemon thread: name resolution ignores socket timeouts and can hang offline."""
    parts = urllib.parse.urlsplit(url)
    address = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    opened: list[bool] = []

    def attempt() -> None:
        try:
            socket.create_connection(address, timeout=timeout).close()
            opened.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(opened)


def _previous_sources(manifest_path: Path) -> dict[str, str]:
    """file name -> source recorded by an earlier fetch (kept when the file is reused)."""
    try:
        files = json.loads(manifest_path.read_text())["files"]
        return {f["name"]: f["source"] for f in files}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _fetch_official(name: str, settings: Settings, previous: Mapping[str, str]) -> dict[str, Any]:
    dest_dir = settings.raw_dir / name
    files = [_fetch_file(name, fname, dest_dir, settings.mirror, previous) for fname in DATASETS[name].files]
    return {"files": files}


def _fetch_file(
    name: str, fname: str, dest_dir: Path, mirror: Path | None, previous: Mapping[str, str]
) -> dict[str, Any]:
    """Keep a verified copy already in `dest_dir`, or obtain one; return its manifest entry. A copy
    there that fails verification may be the user's own: it is moved aside, never deleted."""
    dest = dest_dir / fname
    if not dest.exists():
        return _obtain(name, fname, dest, mirror)
    try:
        return {"name": fname, **_verify(name, fname, dest, str(dest)), "source": previous.get(fname, str(dest))}
    except _Rejected as err:
        aside = _move_aside(dest, err.why)
        note = (
            f"{dest} failed verification and was moved to {aside} (kept, not deleted). Put a verified "
            f"{fname} at {dest} or in the mirror and run fetch again; delete {aside.name} when you no longer "
            "need it."
        )
        _say(f"{err}\n{note}\nfetching {fname} again")
    try:
        return _obtain(name, fname, dest, mirror)
    except UserError as err:
        raise UserError(f"{err}\n{note}") from err


def _move_aside(path: Path, why: str) -> Path:
    """Rename `path` to <name>.rejected-<why> (-2, -3, ... when taken: an earlier one stays)."""
    aside = base = path.with_name(f"{path.name}.rejected-{why}")
    count = 1
    while aside.exists():
        count += 1
        aside = base.with_name(f"{base.name}-{count}")
    path.rename(aside)
    return aside


def _obtain(name: str, fname: str, dest: Path, mirror: Path | None) -> dict[str, Any]:
    """Copy `fname` from the mirror or download it, verified, to `dest`; return its manifest entry.
    A copy that fails verification is discarded (the mirror's file stays as it is)."""
    tried = [] if mirror else ["mirror: none configured"]
    for source in _sources(name, fname, mirror):
        try:
            with atomic_path(dest) as tmp:
                _retrieve(source, tmp)
                record = _verify(name, fname, tmp, f"{fname} from {source}")
        except _Unavailable as err:
            tried.append(f"{source}: {err}")
            continue
        except _Rejected as err:
            fix = (
                "The download was discarded: run fetch again, or put the official file in a mirror."
                if "://" in source
                else f"The copy was discarded. Replace {source} with the official file "
                "(or remove it to download it instead), then run fetch again."
            )
            raise UserError(f"{err}\n{fix}") from err
        _say(f"fetch {name}: {fname} from {source} (verified)")
        return {"name": fname, **record, "source": source}
    raise UserError(
        f"could not obtain {fname} of {name}. Tried:\n  " + "\n  ".join(tried) + "\n"
        f"Point a local mirror holding {name}/{fname} with --mirror DIR, the environment variable "
        f"{MIRROR_ENV} or data.mirror in params.yaml, or check the network connection."
    )


def _sources(name: str, fname: str, mirror: Path | None) -> list[str]:
    local = [str(mirror / name / fname)] if mirror else []
    return local + [base + fname for base in URLS.get(name, ())]


def _retrieve(source: str, dest: Path) -> None:
    """Copy a mirror file or download a URL to `dest`, or raise _Unavailable."""
    if "://" in source:
        _download(source, dest)
    elif Path(source).is_file():
        shutil.copyfile(source, dest)
    else:
        raise _Unavailable("not in the mirror")


def _download(url: str, dest: Path) -> None:
    """Download with a timeout and RETRIES attempts (exponential backoff); 4xx answers are final."""
    error: Exception | None = None
    for attempt in range(RETRIES):
        if attempt:
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
        try:
            _say(f"downloading {url}")
            with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response, open(dest, "wb") as out:
                _copy_with_progress(response, out, response.length, Path(url).name)
            return
        except urllib.error.HTTPError as err:
            if err.code < 500:
                raise _Unavailable(f"HTTP {err.code} {err.reason}") from err
            error = err
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            error = err
    raise _Unavailable(f"{error} ({RETRIES} attempts)")


def _copy_with_progress(src: Any, dest: Any, total: int | None, label: str) -> None:
    with tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=not sys.stderr.isatty()) as bar:
        while chunk := src.read(CHUNK):
            dest.write(chunk)
            bar.update(len(chunk))


def _verify(name: str, fname: str, path: Path, label: str) -> dict[str, Any]:
    """Hash `path` and compare with the recorded values; return the hashes for the manifest."""
    if fname == CIFAR10_FILE:
        record = _cifar_record(path, label)
        _check_cifar(record, label)
        return record
    actual = _gzip_sha256(path, label)
    expected = SHA256[name][fname]
    if actual != expected:
        raise _Rejected(
            f"{label}: checksum mismatch: SHA-256 of the decompressed content is {actual}, "
            f"expected {expected}: the file is corrupt or not the official one.",
            "checksum",
        )
    return {"sha256": actual}


def _gzip_sha256(path: Path, label: str) -> str:
    try:
        with gzip.open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except (OSError, EOFError, zlib.error) as err:
        raise _Rejected(_corrupt(label, err), "corrupt") from err


def _corrupt(label: str, err: Exception) -> str:
    return f"{label}: truncated or corrupt archive ({err})."


def _cifar_record(path: Path, label: str) -> dict[str, Any]:
    """MD5 of the tarball, SHA-256 of its decompressed stream and of each CIFAR-10 member."""
    wanted = {f"{CIFAR10_DIR}/{member}": member for member in CIFAR10_MEMBER_SHA256}
    members = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for info in tar:
                if info.name in wanted and info.isfile():
                    members[wanted[info.name]] = hashlib.file_digest(tar.extractfile(info), "sha256").hexdigest()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise _Rejected(_corrupt(label, err), "corrupt") from err
    missing = [m for m in wanted if wanted[m] not in members]
    if missing:
        raise _Rejected(f"{label}: not the CIFAR-10 python archive: it lacks {', '.join(missing)}.", "format")
    with open(path, "rb") as f:
        md5 = hashlib.file_digest(f, "md5").hexdigest()
    return {"sha256": _gzip_sha256(path, label), "md5": md5, "members": dict(sorted(members.items()))}


def _check_cifar(record: dict[str, Any], label: str) -> None:
    """Accept the official bytes (MD5), or a re-packed copy whose every member hash is recorded."""
    members = record["members"]
    for member, expected in CIFAR10_MEMBER_SHA256.items():
        if expected is not None and members[member] != expected:
            raise _Rejected(
                f"{label}: checksum mismatch in member {member}: SHA-256 {members[member]}, expected {expected}.",
                "checksum",
            )
    if record["md5"] != CIFAR10_MD5 and None in CIFAR10_MEMBER_SHA256.values():
        raise _Rejected(
            f"{label}: checksum mismatch: MD5 {record['md5']}, expected {CIFAR10_MD5} (the official "
            "tarball). The per-member SHA-256 values are not recorded in "
            "ganrepro.data.datasets.CIFAR10_MEMBER_SHA256, so a re-packed copy cannot be verified: use the "
            f"official {CIFAR10_FILE}.",
            "checksum",
        )


def _fetch_tfd(name: str, settings: Settings, previous: Mapping[str, str]) -> dict[str, Any]:
    path = settings.tfd_path
    _load_tfd(path)
    return {
        "files": [
            {
                "name": path.name,
                "path": str(path),
                "sha256": _file_sha256(path),
                "source": "user-supplied (licensed, never downloaded)",
            }
        ]
    }


def _fetch_generated(name: str, settings: Settings, previous: Mapping[str, str]) -> dict[str, Any]:
    return {"files": [], "source": "generated by `ganrepro prepare` from a seed; nothing to download"}


def _fetch_custom(name: str, settings: Settings, previous: Mapping[str, str]) -> dict[str, Any]:
    path = _custom_path(name, settings)
    return {
        "files": [
            {
                "name": path.name,
                "path": str(path),
                "sha256": _source_digest(path),
                "source": "user-supplied (data.custom)",
            }
        ]
    }


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# ---------------------------------------------------------------------------------------------
# Preparing: parse the verified raw files into the paper's splits
# ---------------------------------------------------------------------------------------------


def _read_manifest(name: str, settings: Settings) -> dict[str, Any]:
    path = settings.raw_dir / name / MANIFEST
    if not path.is_file():
        raise UserError(f"{path} not found: run `ganrepro fetch {name} --raw-dir {settings.raw_dir}` first")
    return json.loads(path.read_text())


def _check_unchanged(manifest: dict[str, Any], fname: str, actual: str, path: Path) -> None:
    recorded = {f["name"]: f["sha256"] for f in manifest["files"]}.get(fname)
    if recorded != actual:
        raise UserError(
            f"{path} changed since it was fetched (SHA-256 {actual}, MANIFEST.json says "
            f"{recorded}): run `ganrepro fetch` again"
        )


def _raw_file(name: str, settings: Settings, fname: str) -> Path:
    path = settings.raw_dir / name / fname
    if not path.is_file():
        raise UserError(f"{path} not found: run `ganrepro fetch {name} --raw-dir {settings.raw_dir}` again")
    return path


def _read_idx(path: Path, manifest: dict[str, Any]) -> np.ndarray:
    """Decompress and parse an IDX file of unsigned bytes, checking it against the manifest."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f"{_corrupt(str(path), err)} Run `ganrepro fetch {path.parent.name}` again.") from err
    _check_unchanged(manifest, path.name, hashlib.sha256(data).hexdigest(), path)
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise UserError(f"{path}: not an IDX file of unsigned bytes (magic {data[:4].hex()})")
    ndim = data[3]
    offset = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", data[4:offset])
    if len(data) - offset != int(np.prod(dims)):
        raise UserError(f"{path}: IDX header declares shape {dims} but {len(data) - offset} bytes follow")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


def _build_idx(name: str, settings: Settings) -> tuple[Arrays, dict[str, Any]]:
    manifest = _read_manifest(name, settings)
    x_train, y_train, x_test, y_test = (_read_idx(_raw_file(name, settings, f), manifest) for f in IDX_FILES)
    if x_train.ndim != 3 or x_test.ndim != 3 or len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise UserError(
            f"{settings.raw_dir / name}: image and label files do not match "
            f"({x_train.shape}, {y_train.shape}, {x_test.shape}, {y_test.shape})"
        )
    x_train, x_test = x_train[:, None], x_test[:, None]
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    arrays = {
        "x_train": x_train[:MNIST_TRAIN],
        "y_train": y_train[:MNIST_TRAIN],
        "x_valid": x_train[MNIST_TRAIN:],
        "y_valid": y_train[MNIST_TRAIN:],
        "x_test": x_test,
        "y_test": y_test,
    }
    return arrays, {
        "num_classes": len(CLASS_NAMES[name]),
        "class_names": CLASS_NAMES[name],
        "splits": f"train = official train[0:{MNIST_TRAIN}], valid = official train[{MNIST_TRAIN}:], "
        "test = official test set",
        "source": manifest,
    }


def _build_cifar10(name: str, settings: Settings) -> tuple[Arrays, dict[str, Any]]:
    manifest = _read_manifest(name, settings)
    batches = _read_cifar_members(_raw_file(name, settings, CIFAR10_FILE), manifest)
    parts = {key: _cifar_batch(batches[key], key) for key in CIFAR10_MEMBER_SHA256 if key != "batches.meta"}
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
        "source": manifest,
    }


def _read_cifar_members(path: Path, manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Unpickle the CIFAR-10 members after checking each against the manifest's member hashes."""
    recorded = {f["name"]: f for f in manifest["files"]}[CIFAR10_FILE]["members"]
    wanted = {f"{CIFAR10_DIR}/{member}": member for member in CIFAR10_MEMBER_SHA256}
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
                    batches[member] = _unpickle(data)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise UserError(f"{_corrupt(str(path), err)} Run `ganrepro fetch cifar10` again.") from err
    missing = sorted(set(CIFAR10_MEMBER_SHA256) - set(batches))
    if missing:
        raise UserError(f"{path}: not the CIFAR-10 python archive: it lacks {', '.join(missing)}")
    return batches


def _unpickle(data: bytes) -> dict[str, Any]:
    """A CIFAR-10 batch (pickled by Python 2) as a dict with str keys."""
    obj = pickle.loads(data, encoding="bytes")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_batch(batch: dict[str, Any], member: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(batch.get("data"))
    y = np.asarray(batch.get("labels"), dtype=np.int64)
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or len(y) != len(x):
        raise UserError(
            f"CIFAR-10 member {member}: expected uint8 data of shape (N, 3072) and N labels, "
            f"found data {x.dtype} {x.shape} and {len(y)} labels"
        )
    return x.reshape(-1, 3, 32, 32), y


def _load_tfd(path: Path) -> dict[str, np.ndarray]:
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
        "images": _to_uint8(images, str(path)),
        "folds": folds.astype(np.int64),
        "labs_ex": mat["labs_ex"].reshape(-1).astype(np.int64),
    }


def _build_tfd(name: str, settings: Settings) -> tuple[Arrays, dict[str, Any]]:
    manifest = _read_manifest(name, settings)
    path = settings.tfd_path
    tfd = _load_tfd(path)
    _check_unchanged(manifest, path.name, _file_sha256(path), path)
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
        "source": manifest,
    }


def _toy_streams(settings: Settings) -> list[np.random.Generator]:
    """Independent generators for train, valid and test: valid/test do not depend on toy_size."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(settings.seed).spawn(3)]


def _toy_sizes(settings: Settings) -> list[int]:
    if settings.toy_size < 1:
        raise UserError(f"data.toy_size / --toy-size must be positive, got {settings.toy_size}")
    return [settings.toy_size, TOY_EVAL_SIZE, TOY_EVAL_SIZE]


def _split_dict(parts: list[tuple[np.ndarray, np.ndarray]]) -> Arrays:
    arrays = {}
    for split, (x, y) in zip(("train", "valid", "test"), parts):
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    return arrays


def _build_toy1d(name: str, settings: Settings) -> tuple[Arrays, dict[str, Any]]:
    parts = [
        (rng.normal(TOY1D_MEAN, TOY1D_STD, (n, 1)).astype(np.float32), np.full(n, -1, np.int64))
        for rng, n in zip(_toy_streams(settings), _toy_sizes(settings))
    ]
    return _split_dict(parts), {
        "splits": f"independent draws: train {settings.toy_size}, valid {TOY_EVAL_SIZE}, test {TOY_EVAL_SIZE}",
        "source": {"generator": "normal", "mean": TOY1D_MEAN, "std": TOY1D_STD, "seed": settings.seed},
    }


def ring_centres(modes: int = RING_MODES, radius: float = RING_RADIUS) -> np.ndarray:
    """The (modes, 2) centres of the ring's Gaussians, evenly spaced on a circle."""
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _ring_sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    modes = rng.integers(0, RING_MODES, n)
    centres = ring_centres()[modes]
    return (centres + RING_STD * rng.standard_normal((n, 2))).astype(np.float32), modes.astype(np.int64)


def _build_ring(name: str, settings: Settings) -> tuple[Arrays, dict[str, Any]]:
    parts = [_ring_sample(rng, n) for rng, n in zip(_toy_streams(settings), _toy_sizes(settings))]
    return _split_dict(parts), {
        "num_classes": RING_MODES,
        "splits": f"independent draws: train {settings.toy_size}, valid {TOY_EVAL_SIZE}, test {TOY_EVAL_SIZE}",
        "source": {
            "generator": "ring",
            "modes": RING_MODES,
            "radius": RING_RADIUS,
            "std": RING_STD,
            "seed": settings.seed,
        },
    }


# ---------------------------------------------------------------------------------------------
# A user's own data: data.custom.<name> = {path, valid_fraction, test_fraction, seed}
# ---------------------------------------------------------------------------------------------


def _spec_path(spec: Any, where: str) -> Path:
    """The `path` of a data.custom entry (`where` names it in messages)."""
    if not isinstance(spec, Mapping) or "path" not in spec:
        raise UserError(
            f"{where}: expected a mapping with 'path' (an .npz with images, or a folder of "
            f"PNG/JPEG files), got {spec!r}"
        )
    return Path(spec["path"])


def _custom_path(name: str, settings: Settings) -> Path:
    where = f"data.custom.{name} (params or --custom-json)"
    path = _spec_path(settings.custom[name], where)
    if not path.exists():
        raise UserError(f"{where}: path {path} does not exist")
    return path


def _image_list(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _image_files(folder: Path) -> list[Path]:
    files = _image_list(folder)
    if not files:
        raise UserError(f"{folder}: no PNG or JPEG files found")
    return files


def _source_digest(path: Path) -> str:
    """SHA-256 of an .npz, or of a folder's image files (relative names and contents, sorted)."""
    if path.is_file():
        return _file_sha256(path)
    digest = hashlib.sha256()
    for file in _image_files(path):
        digest.update(f"{file.relative_to(path).as_posix()}\0{_file_sha256(file)}\n".encode())
    return digest.hexdigest()


def _build_custom(name: str, settings: Settings) -> tuple[Arrays, dict[str, Any]]:
    manifest = _read_manifest(name, settings)
    path = _custom_path(name, settings)
    _check_unchanged(manifest, path.name, _source_digest(path), path)
    images, labels, class_names = _load_folder(path) if path.is_dir() else _load_npz(path)
    spec = settings.custom[name]
    valid_fraction, test_fraction = spec.get("valid_fraction", 0.1), spec.get("test_fraction", 0.1)
    seed = spec.get("seed", 0)
    parts = [(images[i], labels[i]) for i in _random_split(len(images), valid_fraction, test_fraction, seed, name)]
    labelled = labels[labels >= 0]
    return _split_dict(parts), {
        "num_classes": int(labelled.max()) + 1 if len(labelled) else None,
        "class_names": class_names,
        "splits": f"seeded random split (seed {seed}): valid {valid_fraction}, test {test_fraction}, train the rest",
        "source": manifest,
    }


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
    images = _to_uint8(_to_nchw(images, str(path)), str(path))
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


def _to_uint8(images: np.ndarray, where: str) -> np.ndarray:
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


DATASETS: dict[str, Dataset] = {
    "mnist": Dataset("image", _fetch_official, _build_idx, IDX_FILES),
    "fashion-mnist": Dataset("image", _fetch_official, _build_idx, IDX_FILES),
    "cifar10": Dataset("image", _fetch_official, _build_cifar10, (CIFAR10_FILE,)),
    "tfd": Dataset("image", _fetch_tfd, _build_tfd),
    "toy1d": Dataset("vector", _fetch_generated, _build_toy1d),
    "ring": Dataset("vector", _fetch_generated, _build_ring),
}
CUSTOM = Dataset("image", _fetch_custom, _build_custom)
KNOWN_DATASETS: tuple[str, ...] = tuple(DATASETS)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `ganrepro fetch` and `ganrepro prepare`."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "dataset",
        metavar="DATASET",
        help=f"{', '.join(KNOWN_DATASETS)}, or a name under data.custom in the params file",
    )
    common.add_argument(
        "--raw-dir", type=Path, default=Path("data/raw"), help="raw files go to RAW_DIR/DATASET/ (default: data/raw)"
    )
    common.add_argument(
        "--params",
        type=Path,
        default=None,
        help="params file whose data: section is read (default: params.yaml if present)",
    )
    common.add_argument(
        "--tfd-file",
        type=Path,
        default=None,
        help="TFD_48x48.mat (default: data.tfd_file, else RAW_DIR/tfd/TFD_48x48.mat)",
    )
    common.add_argument(
        "--custom-json",
        default=None,
        metavar="JSON",
        help='DATASET\'s data.custom entry as JSON, e.g. \'{"path": "my_images.npz", '
        "\"valid_fraction\": 0.1}' (the workflow passes it; replaces the params file's entry)",
    )

    fetch_parser = subparsers.add_parser(
        "fetch", parents=[common], help="copy (mirror) or download a dataset, verify it, write MANIFEST.json"
    )
    fetch_parser.add_argument(
        "--mirror",
        type=Path,
        default=None,
        help=f"local mirror folder holding DATASET/<file> (default: ${MIRROR_ENV}, else data.mirror)",
    )
    fetch_parser.set_defaults(func=_fetch_command)

    prepare_parser = subparsers.add_parser(
        "prepare", parents=[common], help="build the paper's train/valid/test splits into one .npz"
    )
    prepare_parser.add_argument(
        "--out", type=Path, default=None, help="output .npz (default: data/prepared/DATASET/dataset.npz)"
    )
    prepare_parser.add_argument(
        "--info-out",
        type=Path,
        default=None,
        help="also write the dataset's metadata (splits, shapes, sources) as json",
    )
    prepare_parser.add_argument(
        "--toy-size",
        type=int,
        default=None,
        help="training examples of toy1d/ring (default: data.toy_size, else 50000)",
    )
    prepare_parser.add_argument("--seed", type=int, default=0, help="seed of the toy sets (default: 0)")
    prepare_parser.set_defaults(func=_prepare_command)


def _settings(args: argparse.Namespace) -> Settings:
    """CLI options over the params file's data: section over built-in defaults."""
    params_path = args.params or (Path("params.yaml") if Path("params.yaml").is_file() else None)
    data = (load_params(params_path).get("data") or {}) if params_path else {}
    custom = {args.dataset: _parse_custom_json(args.custom_json)} if args.custom_json is not None else {}
    return make_settings(
        data,
        raw_dir=args.raw_dir,
        mirror=getattr(args, "mirror", None),
        tfd_file=args.tfd_file,
        toy_size=getattr(args, "toy_size", None),
        seed=getattr(args, "seed", 0),
        custom=custom,
    )


def _parse_custom_json(text: str) -> dict[str, Any]:
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"--custom-json is not valid JSON ({err}): {text}") from err
    _spec_path(spec, "--custom-json")
    return spec


def _fetch_command(args: argparse.Namespace) -> None:
    print(f"wrote {fetch(args.dataset, _settings(args))}")


def _prepare_command(args: argparse.Namespace) -> None:
    out = args.out or Path("data/prepared") / args.dataset / "dataset.npz"
    meta = prepare(args.dataset, _settings(args), out)
    if args.info_out:
        write_json(args.info_out, meta)
    print(
        f"wrote {out}: train {meta['n_train']}, valid {meta['n_valid']}, test {meta['n_test']} "
        f"examples of shape {tuple(meta['example_shape'])}"
    )
