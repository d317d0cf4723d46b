"""The built-in datasets: names, kinds, official files, download locations, checksums, class names.

Facts only (no I/O), so that every other data module, the workflow and the training plan can read
them cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

MANIFEST = "MANIFEST.json"
MIRROR_ENV = "GANREPRO_MIRROR"
MNIST_TRAIN = 50_000  # the paper's split: train[0:50000], valid = train[50000:60000]

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
CIFAR10_MEMBERS = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")

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


@dataclass(frozen=True)
class Dataset:
    """What `fetch` and `prepare` need to know of a dataset before reading any file."""

    kind: str  # "image" or "vector"
    origin: str  # "official" (mirror or download), "tfd" (user-supplied, licensed), "generated" or "custom"
    files: tuple[str, ...] = ()  # the official files, for "official"


DATASETS: dict[str, Dataset] = {
    "mnist": Dataset("image", "official", IDX_FILES),
    "fashion-mnist": Dataset("image", "official", IDX_FILES),
    "cifar10": Dataset("image", "official", (CIFAR10_FILE,)),
    "tfd": Dataset("image", "tfd"),
    "toy1d": Dataset("vector", "generated"),
    "ring": Dataset("vector", "generated"),
}
CUSTOM = Dataset("image", "custom")
KNOWN_DATASETS: tuple[str, ...] = tuple(DATASETS)


def known_datasets(params: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """Built-in dataset names, then the custom ones declared under `data.custom` in `params`."""
    custom = ((params or {}).get("data") or {}).get("custom") or {}
    return KNOWN_DATASETS + tuple(name for name in custom if name not in DATASETS)


def mnist_split(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> dict[str, np.ndarray]:
    """The paper's split of the official MNIST-format files: train[:MNIST_TRAIN], valid = the rest of
    the official training set, test = the official test set."""
    return {
        "x_train": x[:MNIST_TRAIN],
        "y_train": y[:MNIST_TRAIN],
        "x_valid": x[MNIST_TRAIN:],
        "y_valid": y[MNIST_TRAIN:],
        "x_test": x_test,
        "y_test": y_test,
    }
