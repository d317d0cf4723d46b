"""CIFAR-10: the official tarball's MD5, the member hashes `prepare` checks, and batches that load
through a restricted unpickler (a crafted batch cannot run code)."""

from __future__ import annotations

import builtins
import gzip
import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from ganrepro.data import verify
from ganrepro.data.prepared import load_labels, load_split, read_meta
from ganrepro.data.sources import CIFAR10_FILE, CIFAR10_MD5

from helpers import CIFAR_BATCHES, leftovers, write_cifar_tarball


@pytest.fixture
def official(cifar_mirror, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, bytes], dict[str, dict]]:
    """The mirror's tarball taken as the official one: its MD5 is the recorded one."""
    mirror, members, batches = cifar_mirror
    tarball = (mirror / "cifar10" / CIFAR10_FILE).read_bytes()
    monkeypatch.setattr(verify, "CIFAR10_MD5", hashlib.md5(tarball).hexdigest())
    return mirror, members, batches


def test_cifar10_fetch_and_prepare(official, run_cli, tmp_path):
    mirror, members, batches = official
    result = run_cli("fetch", "cifar10", "--mirror", mirror, "--raw-dir", "raw")
    assert result.code == 0, result.err
    tarball = (mirror / "cifar10" / CIFAR10_FILE).read_bytes()
    (entry,) = json.loads((tmp_path / "raw/cifar10/MANIFEST.json").read_text())["files"]
    assert entry["members"] == {name: hashlib.sha256(data).hexdigest() for name, data in sorted(members.items())}
    assert entry["md5"] == hashlib.md5(tarball).hexdigest()
    assert entry["sha256"] == hashlib.sha256(gzip.decompress(tarball)).hexdigest()

    result = run_cli("prepare", "cifar10", "--raw-dir", "raw", "--out", "c.npz")
    assert result.code == 0, result.err

    def rows(*names: str) -> np.ndarray:
        return np.concatenate([batches[n][b"data"] for n in names])

    expected = {"train": CIFAR_BATCHES[:4], "valid": ["data_batch_5"], "test": ["test_batch"]}
    for split, names in expected.items():
        x = load_split("c.npz", split, unit=False)
        assert x.dtype == np.uint8 and x.shape == (6 * len(names), 3, 32, 32)
        assert np.array_equal(x.reshape(len(x), -1), rows(*names))
        assert x[0, 2, 5, 7] == rows(*names)[0, 2 * 1024 + 5 * 32 + 7]  # channel-major 32x32 planes
        assert load_labels("c.npz", split).tolist() == sum((batches[n][b"labels"] for n in names), [])
    meta = read_meta("c.npz")
    assert meta["class_names"] == [f"class{i}" for i in range(10)] and meta["example_shape"] == [3, 32, 32]


def test_cifar10_repacked_copy_is_refused(cifar_mirror, run_cli, tmp_path):
    mirror, _, _ = cifar_mirror
    result = run_cli("fetch", "cifar10", "--mirror", mirror, "--raw-dir", "raw")
    tarball = (mirror / "cifar10" / CIFAR10_FILE).read_bytes()
    assert result.code == 2 and CIFAR10_MD5 in result.err and hashlib.md5(tarball).hexdigest() in result.err
    assert "re-packed copy cannot be verified" in result.err
    assert list((tmp_path / "raw").rglob("*.*")) == []


def test_cifar10_truncated_tarball(cifar_mirror, run_cli, tmp_path):
    mirror, _, _ = cifar_mirror
    tarball = mirror / "cifar10" / CIFAR10_FILE
    tarball.write_bytes(tarball.read_bytes()[:-200])
    result = run_cli("fetch", "cifar10", "--mirror", mirror, "--raw-dir", "raw")
    assert result.code == 2 and "truncated or corrupt" in result.err and CIFAR10_FILE in result.err
    assert list((tmp_path / "raw").rglob("*.*")) == []


def test_cifar10_member_changed_after_fetch(official, run_cli, tmp_path):
    mirror, members, _ = official
    assert run_cli("fetch", "cifar10", "--mirror", mirror, "--raw-dir", "raw").code == 0
    other = pickle.dumps({b"data": np.zeros((6, 3072), np.uint8), b"labels": [0] * 6}, protocol=2)
    write_cifar_tarball(tmp_path / "raw/cifar10" / CIFAR10_FILE, {"data_batch_3": other})
    result = run_cli("prepare", "cifar10", "--raw-dir", "raw", "--out", "c.npz")
    assert result.code == 2 and "member data_batch_3 changed since it was fetched" in result.err
    assert not (tmp_path / "c.npz").exists()


class _Shell:
    """Unpickles as os.system(command): what a crafted batch would run."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return os.system, (self.command,)


class _Open:
    """Unpickles as open(path, "w"): a crafted batch creating a file without a shell."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return builtins.open, (self.path, "w")


@pytest.mark.parametrize(
    ("payload", "imported"),
    [
        (lambda target: _Shell(f"touch {target}"), os.system.__module__ + ".system"),
        (_Open, builtins.open.__module__ + ".open"),
    ],
)
def test_crafted_cifar10_batch_cannot_run_code(tmp_path, monkeypatch, run_cli, payload, imported):
    """A batch whose unpickling would create a file: refused, named, and the file never appears (even
    when its tarball passed fetch's checks)."""
    target = tmp_path / "created-by-the-batch"
    crafted = {b"data": np.zeros((6, 3072), np.uint8), b"labels": [0] * 6, b"batch_label": payload(str(target))}
    mirror = tmp_path / "mirror"
    (mirror / "cifar10").mkdir(parents=True)
    write_cifar_tarball(mirror / "cifar10" / CIFAR10_FILE, {"data_batch_2": pickle.dumps(crafted, protocol=2)})
    tarball = (mirror / "cifar10" / CIFAR10_FILE).read_bytes()
    monkeypatch.setattr(verify, "CIFAR10_MD5", hashlib.md5(tarball).hexdigest())
    assert run_cli("fetch", "cifar10", "--mirror", mirror, "--raw-dir", "raw").code == 0

    result = run_cli("prepare", "cifar10", "--raw-dir", "raw", "--out", "c.npz")
    assert result.code == 2
    assert f"raw/cifar10/{CIFAR10_FILE}: member data_batch_2 refuses to load: it would import {imported}" in result.err
    assert "ganrepro fetch cifar10" in result.err and len(result.err.strip().splitlines()) == 1
    assert not target.exists()
    assert not (tmp_path / "c.npz").exists() and leftovers(tmp_path) == []
