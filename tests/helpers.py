"""Helpers shared by tests in several folders: tiny models and files in the real formats, and runners
for real Snakemake / DVC in copies of the project."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import re
import shutil
import struct
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import torch

from ganrepro.gan_config import TrainConfig
from ganrepro.io import save_npz
from ganrepro.models.artifacts import load_model, save_model
from ganrepro.models.networks import build_models, sample_noise

REPO_ROOT = Path(__file__).resolve().parents[1]


# Read at import, before any test changes the environment.
SHARED_MIRROR = Path(os.environ.get("GANREPRO_MIRROR") or REPO_ROOT.parent / "shared" / "datasets")


def write_images(path: Path, n: int = 200, side: int = 6, seed: int = 0) -> Path:
    """A prepared-dataset file (the datasets module's format) of small random uint8 images."""
    rng = np.random.default_rng(seed)
    x = (rng.random((n, 1, side, side)) < 0.3).astype(np.uint8) * 255
    y = rng.integers(0, 10, n).astype(np.int64)
    meta = {
        "dataset": "tiny",
        "kind": "image",
        "example_shape": [1, side, side],
        "unit_scale": 255,
        "num_classes": 10,
        "n_train": n,
        "n_valid": n // 2,
        "n_test": n // 2,
    }
    save_npz(
        path,
        x_train=x,
        y_train=y,
        x_valid=x[: n // 2],
        y_valid=y[: n // 2],
        x_test=x[n // 2 :],
        y_test=y[n // 2 :],
        meta=np.array(json.dumps(meta)),
    )
    return path


SHAPE = (1, 6, 6)


FAST_INFER = ["--hidden", "32", "--steps", "300", "--batch-size", "64", "--lr", "0.003", "--n-eval", "200"]


def tiny_config(**overrides: Any) -> TrainConfig:
    """MNIST_LIKE with smaller networks and no dropout, then `overrides`."""
    tiny = {"z_dim": 4, "g_hidden": [16], "g_irange": 0.5, "d_units": [8], "d_pieces": 2, "d_irange": 0.05}
    return MNIST_LIKE.replace(**tiny, d_input_keep=1.0, d_hidden_keep=1.0, conditional=False).replace(**overrides)


def tiny_model(
    path: Path, shape: tuple[int, ...] = SHAPE, n_classes: int = 0, kind: str = "image", **overrides: object
) -> Path:
    """A small untrained G/D pair saved as model.pt (conditional when n_classes > 0)."""
    cfg = tiny_config(conditional=bool(n_classes), **overrides)
    torch.manual_seed(0)
    G, D = build_models(cfg, int(np.prod(shape)), n_classes)
    save_model(
        path,
        G,
        D,
        {
            "config": cfg.as_dict(),
            "data_dim": int(np.prod(shape)),
            "example_shape": list(shape),
            "n_classes": n_classes,
            "kind": kind,
            "dataset": "tiny",
            "seed": 0,
        },
    )
    return path


def tiny_dataset(
    path: Path, model: Path | None = None, shape: tuple[int, ...] = SHAPE, n: int = 120, n_classes: int = 3
) -> Path:
    """A prepared .npz of uint8 images: G's own outputs when `model` is given (so E can invert
    them), else random pixels; labels cycle over n_classes."""
    rng = np.random.default_rng(0)
    arrays = {}
    for k, split in enumerate(("train", "valid", "test")):
        y = np.arange(n) % n_classes
        if model is None:
            x = rng.random((n, *shape))
        else:
            G, _, meta = load_model(model, torch.device("cpu"))
            gen = torch.Generator().manual_seed(100 + k)  # not a seed the code under test uses
            with torch.no_grad():
                z = sample_noise(n, meta["config"].z_dim, meta["config"].noise, torch.device("cpu"), gen)
                x = G(z, torch.from_numpy(y)).numpy()
        arrays[f"x_{split}"] = np.round(np.asarray(x).reshape(n, *shape) * 255).astype(np.uint8)
        arrays[f"y_{split}"] = y.astype(np.int64)
    meta = {
        "dataset": "tiny",
        "kind": "image",
        "example_shape": list(shape),
        "unit_scale": 255,
        "num_classes": n_classes,
        "n_train": n,
        "n_valid": n,
        "n_test": n,
    }
    save_npz(path, meta=np.array(json.dumps(meta)), **arrays)
    return path


def write_tfd(path: Path, n: int = 60) -> dict[str, np.ndarray]:
    """TFD_48x48.mat: images N x 48 x 48 uint8, folds N x 5 in 0..3, labs_ex (0 = none, else 1..7), labs_id."""
    rng = np.random.default_rng(2)
    folds = rng.integers(0, 4, (n, 5))
    labs_ex = np.where(folds[:, :1] == 0, 0, rng.integers(1, 8, (n, 1)))
    mat = {
        "images": rng.integers(0, 256, (n, 48, 48), dtype=np.uint8),
        "folds": folds.astype(float),
        "labs_ex": labs_ex.astype(float),
        "labs_id": rng.integers(1, 100, (n, 1)).astype(float),
    }
    scipy.io.savemat(path, mat, do_compression=True)
    return mat


def leftovers(folder: Path) -> list[str]:
    """Temporary files left by an interrupted atomic write."""
    return [p.name for p in folder.rglob("*.tmp*")] if folder.exists() else []


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX of unsigned bytes: magic 0x0000 08 ndim, big-endian dimensions, then the data."""
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def cifar_batches(n: int = 6) -> dict[str, dict]:
    """The contents of the CIFAR-10 python batches: dicts with bytes keys, N x 3072 uint8 rows."""
    rng = np.random.default_rng(1)
    batches = {
        name: {
            b"batch_label": name.encode(),
            b"labels": rng.integers(0, 10, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"{name}_{i}.png".encode() for i in range(n)],
        }
        for name in CIFAR_BATCHES
    }
    batches["batches.meta"] = {
        b"label_names": [f"class{i}".encode() for i in range(10)],
        b"num_cases_per_batch": n,
        b"num_vis": 3072,
    }
    return batches


def write_cifar_tarball(
    path: Path, members: dict[str, bytes] | None = None
) -> tuple[dict[str, bytes], dict[str, dict]]:
    """cifar-10-python.tar.gz in the real layout, its members pickled with protocol 2 as the official
    ones are; data_batch_1 names numpy's array reconstruction as numpy before 2.0 (and the official
    files) do. `members` replaces members' pickled bytes."""
    batches = cifar_batches()
    pickled = {name: pickle.dumps(batch, protocol=2) for name, batch in batches.items()}
    pickled["data_batch_1"] = pickled["data_batch_1"].replace(
        b"cnumpy._core.multiarray\n_reconstruct\n", b"cnumpy.core.multiarray\n_reconstruct\n"
    )
    pickled.update(members or {})
    with tarfile.open(path, "w:gz") as tar:
        for name, data in {**pickled, "readme.html": b"<html></html>"}.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return pickled, batches


BIN = Path(sys.executable).parent


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}  # CI has no git identity


CORES = os.environ.get("GANREPRO_TEST_CORES", "2")  # 1 on a machine busy with other work


def project_copy(dest: Path) -> Path:
    """The project's tracked and untracked-but-not-ignored files, without data or results."""
    files = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = REPO_ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "GANREPRO_MIRROR": str(SHARED_MIRROR),
        **GIT_IDENTITY,
    }
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        )
    return result


def snakemake(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run([str(BIN / "snakemake"), *args], cwd, check)


def markdown_text(path: Path) -> str:
    """A Markdown file with the tables' cell padding squeezed, so rows read '| a | b |'."""
    return re.sub(r" {2,}", " ", path.read_text())


def assert_same_model(a: Path, b: Path) -> None:
    """The two model files hold bit-for-bit equal G and D tensors (reruns on the CPU are exact)."""
    Ga, Da, _ = load_model(a, torch.device("cpu"))
    Gb, Db, _ = load_model(b, torch.device("cpu"))
    for x, y in ((Ga, Gb), (Da, Db)):
        sx, sy = x.state_dict(), y.state_dict()
        assert sx.keys() == sy.keys()
        for name in sx:
            assert torch.equal(sx[name], sy[name]), f"{a} and {b} differ in {name}"


def assert_same_arrays(a: Path, b: Path) -> None:
    """The two .npz files hold the same arrays (their zip timestamps may differ)."""
    with np.load(a) as x, np.load(b) as y:
        assert sorted(x.files) == sorted(y.files)
        for name in x.files:
            assert np.array_equal(x[name], y[name]), f"{a} and {b} differ in {name}"


class CreatesFile:
    """Unpickled, opens (creates) `target`: the payload of a crafted torch file that would run code."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (open, (str(self.target), "w"))


def write_code_running_file(path: Path, blob: dict, target: Path) -> Path:
    """`blob` saved as a torch file at `path` with one more entry whose unpickling creates `target`."""
    torch.save({**blob, "payload": CreatesFile(target)}, path)
    return path


# A training configuration like MNIST's, on tiny models.
MNIST_LIKE = TrainConfig(
    arch="mlp",
    noise="uniform",
    z_dim=8,
    g_hidden=[32, 32],
    g_output="sigmoid",
    d_units=[16, 16],
    d_pieces=3,
    g_irange=0.05,
    d_irange=0.05,
    g_output_bias="marginals",
    max_col_norm=None,
    optimizer="sgd",
    lr=0.1,
    lr_decay=1.000004,
    lr_min=1e-6,
    momentum_start=0.5,
    momentum_end=0.7,
    momentum_saturate=250,
    adam_betas=[0.5, 0.999],
    k=1,
    update="simultaneous",
    g_loss="nonsaturating",
    d_input_keep=0.8,
    d_hidden_keep=0.5,
    batch_size=20,
    epochs=2,
    train_limit=0,
    checkpoint_every=10,
    log_every=5,
    valid_every=1,
    valid_samples=50,
    valid_points=40,
    valid_sigmas=[0.3],
    select="best_valid",
    conditional=False,
    device="cpu",
    seed=3,
)


def tiny_toy1d(folder: Path) -> tuple[Path, Path]:
    """An untrained 1-D G/D pair (model.pt, z of one dimension) and a toy1d-format file of 300 points."""
    from ganrepro.data.toy import TOY1D_MEAN, TOY1D_STD

    cfg = tiny_config(z_dim=1, g_output="linear", g_hidden=[8], d_units=[8], g_irange=0.5, d_irange=0.5)
    torch.manual_seed(0)
    G, D = build_models(cfg, 1)
    meta = {
        "config": cfg.as_dict(),
        "data_dim": 1,
        "example_shape": [1],
        "n_classes": 0,
        "kind": "vector",
        "dataset": "toy1d",
    }
    save_model(folder / "model.pt", G, D, meta | {"seed": 0})
    x = np.random.default_rng(0).normal(TOY1D_MEAN, TOY1D_STD, (300, 1)).astype(np.float32)
    info = {"dataset": "toy1d", "kind": "vector", "example_shape": [1], "unit_scale": 1}
    save_npz(folder / "toy1d.npz", meta=np.array(json.dumps(info)), x_train=x, y_train=-np.ones(300, np.int64))
    return folder / "model.pt", folder / "toy1d.npz"
