"""ganrepro.data.datasets: small files written in the real formats, read back through the real loaders."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import pickle
import socket
import struct
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from ganrepro.data import datasets
from ganrepro.errors import UserError
from ganrepro.io import save_npz

from helpers import write_tfd


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder (no params.yaml) without retry waits."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(datasets, "BACKOFF_SECONDS", 0.0)


def leftovers(folder: Path) -> list[str]:
    """Temporary files left by an interrupted atomic write."""
    return [p.name for p in folder.rglob("*.tmp*")] if folder.exists() else []


# -- IDX (MNIST, Fashion-MNIST) ----------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX of unsigned bytes: magic 0x0000 08 ndim, big-endian dimensions, then the data."""
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@pytest.fixture
def idx_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, np.ndarray]]:
    """A mirror holding mnist/*.gz: 60,000 train and 10 test images of 2x2 pixels."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (60_000, 2, 2), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 60_000, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (10, 2, 2), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 10, dtype=np.uint8),
    }
    mirror = tmp_path / "mirror"
    (mirror / "mnist").mkdir(parents=True)
    for name, array in arrays.items():
        content = idx_bytes(array)
        (mirror / "mnist" / name).write_bytes(gzip.compress(content))
        monkeypatch.setitem(datasets.SHA256["mnist"], name, hashlib.sha256(content).hexdigest())
    return mirror, arrays


def test_idx_fetch_and_prepare_from_mirror(idx_mirror, run_cli, tmp_path):
    mirror, arrays = idx_mirror
    result = run_cli("fetch", "mnist", "--mirror", mirror, "--raw-dir", "raw")
    assert result.code == 0, result.err
    manifest = json.loads((tmp_path / "raw/mnist/MANIFEST.json").read_text())
    assert [f["name"] for f in manifest["files"]] == list(datasets.IDX_FILES)
    for entry in manifest["files"]:
        assert entry["sha256"] == datasets.SHA256["mnist"][entry["name"]]
        assert entry["source"] == str(mirror / "mnist" / entry["name"])
        assert (tmp_path / "raw/mnist" / entry["name"]).read_bytes() == Path(entry["source"]).read_bytes()

    assert run_cli("prepare", "mnist", "--raw-dir", "raw").code == 0
    out = tmp_path / "data/prepared/mnist/dataset.npz"
    images, labels = arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"]
    raw = {
        "train": (images[:50_000], labels[:50_000]),
        "valid": (images[50_000:], labels[50_000:]),
        "test": (arrays["t10k-images-idx3-ubyte.gz"], arrays["t10k-labels-idx1-ubyte.gz"]),
    }
    for split, (x, y) in raw.items():
        stored = datasets.load_split(out, split, unit=False)
        assert stored.dtype == np.uint8 and np.array_equal(stored, x[:, None])
        assert np.array_equal(datasets.load_split(out, split), x[:, None].astype(np.float32) / 255)
        labels_out = datasets.load_labels(out, split)
        assert labels_out.dtype == np.int64 and np.array_equal(labels_out, y)
    meta = datasets.read_meta(out)
    assert meta["kind"] == "image" and meta["example_shape"] == [1, 2, 2] and meta["unit_scale"] == 255
    assert (meta["n_train"], meta["n_valid"], meta["n_test"]) == (50_000, 10_000, 10)
    assert meta["num_classes"] == 10 and meta["class_names"][3] == "3"
    assert meta["source"] == manifest
    assert leftovers(tmp_path / "raw") == [] and leftovers(tmp_path / "data") == []


def flip_content(gz: bytes) -> bytes:
    """A valid gzip of different content: a checksum mismatch."""
    content = bytearray(gzip.decompress(gz))
    content[-1] ^= 0xFF
    return gzip.compress(bytes(content))


def flip_bytes(gz: bytes) -> bytes:
    """Damage the compressed stream itself."""
    damaged = bytearray(gz)
    for i in range(len(gz) // 2, len(gz) // 2 + 8):
        damaged[i] ^= 0xFF
    return bytes(damaged)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (flip_content, "checksum mismatch"),
        (flip_bytes, "truncated or corrupt"),
        (lambda gz: gz[: len(gz) // 2], "truncated or corrupt"),
    ],
)
def test_idx_damaged_mirror_file_is_refused(idx_mirror, run_cli, tmp_path, damage, message):
    mirror, _ = idx_mirror
    bad = mirror / "mnist/train-labels-idx1-ubyte.gz"
    bad.write_bytes(damage(bad.read_bytes()))
    result = run_cli("fetch", "mnist", "--mirror", mirror, "--raw-dir", "raw")
    assert result.code == 2
    assert "train-labels-idx1-ubyte.gz" in result.err and message in result.err
    if message == "checksum mismatch":
        expected = datasets.SHA256["mnist"]["train-labels-idx1-ubyte.gz"]
        actual = hashlib.sha256(gzip.decompress(bad.read_bytes())).hexdigest()
        assert expected in result.err and actual in result.err
    raw = tmp_path / "raw/mnist"
    assert not (raw / "train-labels-idx1-ubyte.gz").exists() and not (raw / "MANIFEST.json").exists()
    assert leftovers(raw) == []


def test_idx_damaged_raw_file_is_moved_aside_and_fetched_again(idx_mirror, run_cli, tmp_path):
    mirror, _ = idx_mirror
    assert run_cli("fetch", "mnist", "--mirror", mirror, "--raw-dir", "raw").code == 0
    raw_file = tmp_path / "raw/mnist/t10k-images-idx3-ubyte.gz"
    damaged = raw_file.read_bytes()[:20]
    raw_file.write_bytes(damaged)
    result = run_cli("fetch", "mnist", "--mirror", mirror, "--raw-dir", "raw")
    assert result.code == 0 and "fetching t10k-images-idx3-ubyte.gz again" in result.err
    assert raw_file.read_bytes() == (mirror / "mnist/t10k-images-idx3-ubyte.gz").read_bytes()
    aside = tmp_path / "raw/mnist/t10k-images-idx3-ubyte.gz.rejected-corrupt"
    assert aside.read_bytes() == damaged and f"moved to {aside.relative_to(tmp_path)}" in result.err


def test_prepare_refuses_raw_file_changed_after_fetch(idx_mirror, run_cli, tmp_path):
    mirror, arrays = idx_mirror
    assert run_cli("fetch", "mnist", "--mirror", mirror, "--raw-dir", "raw").code == 0
    labels = arrays["t10k-labels-idx1-ubyte.gz"]
    (tmp_path / "raw/mnist/t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels[::-1].copy())))
    result = run_cli("prepare", "mnist", "--raw-dir", "raw", "--out", "prep/mnist.npz")
    assert result.code == 2 and "changed since it was fetched" in result.err
    assert not (tmp_path / "prep/mnist.npz").exists() and leftovers(tmp_path / "prep") == []


def test_prepare_before_fetch_says_what_to_run(run_cli):
    result = run_cli("prepare", "mnist", "--raw-dir", "raw")
    assert result.code == 2 and "ganrepro fetch mnist" in result.err


# -- Sources: unreachable network, retries, fallback URL ---------------------------------------


def test_no_network_and_no_mirror(run_cli, tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.MIRROR_ENV, raising=False)
    monkeypatch.setitem(datasets.URLS, "mnist", ("http://127.0.0.1:9/",))
    (tmp_path / "empty").mkdir()
    result = run_cli("fetch", "mnist", "--raw-dir", "raw")
    assert result.code == 2
    assert "mirror: none configured" in result.err
    assert "http://127.0.0.1:9/train-images-idx3-ubyte.gz" in result.err
    assert f"({datasets.RETRIES} attempts)" in result.err
    assert "--mirror" in result.err and "GANREPRO_MIRROR" in result.err and "network" in result.err
    result = run_cli("fetch", "mnist", "--raw-dir", "raw", "--mirror", tmp_path / "empty")
    assert (
        result.code == 2 and f"{tmp_path / 'empty/mnist/train-images-idx3-ubyte.gz'}: not in the mirror" in result.err
    )
    assert not any((tmp_path / "raw").rglob("*.*"))


@pytest.fixture
def http_server(idx_mirror) -> Iterator[tuple[str, set[str]]]:
    """Serves the mirror's mnist files under /flaky/ (each answers 503 once) and 404 elsewhere."""
    mirror, _ = idx_mirror
    failed: set[str] = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.rsplit("/", 1)[-1]
            if not self.path.startswith("/flaky/") or not (mirror / "mnist" / name).is_file():
                self.send_error(404)
            elif name not in failed:
                failed.add(name)
                self.send_error(503)
            else:
                body = (mirror / "mnist" / name).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", failed
    server.shutdown()
    server.server_close()


def test_download_retries_and_falls_back_to_next_url(http_server, run_cli, tmp_path, monkeypatch):
    base, failed = http_server
    monkeypatch.delenv(datasets.MIRROR_ENV, raising=False)
    monkeypatch.setitem(datasets.URLS, "mnist", (f"{base}/missing/", f"{base}/flaky/"))
    result = run_cli("fetch", "mnist", "--raw-dir", "raw")
    assert result.code == 0, result.err
    manifest = json.loads((tmp_path / "raw/mnist/MANIFEST.json").read_text())
    assert [f["source"] for f in manifest["files"]] == [f"{base}/flaky/{name}" for name in datasets.IDX_FILES]
    assert failed == set(datasets.IDX_FILES)  # every file needed a retry


# -- CIFAR-10 ----------------------------------------------------------------------------------


CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def write_cifar_tarball(path: Path, n: int = 6) -> tuple[dict[str, bytes], dict[str, dict]]:
    """cifar-10-python.tar.gz in the real layout: pickled dicts with bytes keys, N x 3072 uint8 rows."""
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
    members = {name: pickle.dumps(batch, protocol=2) for name, batch in batches.items()}
    with tarfile.open(path, "w:gz") as tar:
        for name, data in {**members, "readme.html": b"<html></html>"}.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return members, batches


@pytest.fixture
def cifar_mirror(tmp_path: Path) -> tuple[Path, dict[str, bytes], dict[str, dict]]:
    mirror = tmp_path / "mirror"
    (mirror / "cifar10").mkdir(parents=True)
    members, batches = write_cifar_tarball(mirror / "cifar10" / datasets.CIFAR10_FILE)
    return mirror, members, batches


def test_cifar10_member_hashes_verify_a_repacked_copy(cifar_mirror, run_cli, tmp_path, monkeypatch):
    mirror, members, batches = cifar_mirror
    member_sha = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
    for name, sha in member_sha.items():
        monkeypatch.setitem(datasets.CIFAR10_MEMBER_SHA256, name, sha)
    result = run_cli("fetch", "cifar10", "--mirror", mirror, "--raw-dir", "raw")
    assert result.code == 0, result.err
    tarball = (mirror / "cifar10" / datasets.CIFAR10_FILE).read_bytes()
    (entry,) = json.loads((tmp_path / "raw/cifar10/MANIFEST.json").read_text())["files"]
    assert entry["members"] == member_sha
    assert entry["md5"] == hashlib.md5(tarball).hexdigest()
    assert entry["sha256"] == hashlib.sha256(gzip.decompress(tarball)).hexdigest()

    assert run_cli("prepare", "cifar10", "--raw-dir", "raw", "--out", "c.npz").code == 0

    def rows(*names: str) -> np.ndarray:
        return np.concatenate([batches[n][b"data"] for n in names])

    expected = {"train": CIFAR_BATCHES[:4], "valid": ["data_batch_5"], "test": ["test_batch"]}
    for split, names in expected.items():
        x = datasets.load_split("c.npz", split, unit=False)
        assert x.dtype == np.uint8 and x.shape == (6 * len(names), 3, 32, 32)
        assert np.array_equal(x.reshape(len(x), -1), rows(*names))
        assert x[0, 2, 5, 7] == rows(*names)[0, 2 * 1024 + 5 * 32 + 7]  # channel-major 32x32 planes
        assert datasets.load_labels("c.npz", split).tolist() == sum((batches[n][b"labels"] for n in names), [])
    meta = datasets.read_meta("c.npz")
    assert meta["class_names"] == [f"class{i}" for i in range(10)] and meta["example_shape"] == [3, 32, 32]


def test_cifar10_official_md5_is_enough_while_member_hashes_are_unknown(cifar_mirror, run_cli, monkeypatch):
    mirror, _, _ = cifar_mirror
    tarball = (mirror / "cifar10" / datasets.CIFAR10_FILE).read_bytes()
    monkeypatch.setattr(datasets, "CIFAR10_MD5", hashlib.md5(tarball).hexdigest())
    assert run_cli("fetch", "cifar10", "--mirror", mirror, "--raw-dir", "raw").code == 0


def test_cifar10_refused_without_md5_or_member_hashes(cifar_mirror, run_cli, tmp_path):
    mirror, _, _ = cifar_mirror
    result = run_cli("fetch", "cifar10", "--mirror", mirror, "--raw-dir", "raw")
    assert result.code == 2 and datasets.CIFAR10_MD5 in result.err and "CIFAR10_MEMBER_SHA256" in result.err
    assert list((tmp_path / "raw").rglob("*.*")) == []


def test_cifar10_wrong_member_hash_names_the_member(cifar_mirror, run_cli, tmp_path, monkeypatch):
    mirror, members, _ = cifar_mirror
    monkeypatch.setitem(datasets.CIFAR10_MEMBER_SHA256, "data_batch_3", "0" * 64)
    result = run_cli("fetch", "cifar10", "--mirror", mirror, "--raw-dir", "raw")
    assert result.code == 2 and "data_batch_3" in result.err and "0" * 64 in result.err
    assert hashlib.sha256(members["data_batch_3"]).hexdigest() in result.err
    assert list((tmp_path / "raw").rglob("*.*")) == []


def test_cifar10_truncated_tarball(cifar_mirror, run_cli, tmp_path):
    mirror, _, _ = cifar_mirror
    tarball = mirror / "cifar10" / datasets.CIFAR10_FILE
    tarball.write_bytes(tarball.read_bytes()[:-200])
    result = run_cli("fetch", "cifar10", "--mirror", mirror, "--raw-dir", "raw")
    assert result.code == 2 and "truncated or corrupt" in result.err and datasets.CIFAR10_FILE in result.err
    assert list((tmp_path / "raw").rglob("*.*")) == []


def test_users_repacked_cifar10_is_moved_aside_never_deleted(run_cli, tmp_path, monkeypatch):
    """A re-packed tarball placed in data/raw (other bytes, so not the official MD5) is renamed to say
    why; the error names it, its new name and what to do; a second bad copy does not overwrite it."""
    monkeypatch.delenv(datasets.MIRROR_ENV, raising=False)
    monkeypatch.setitem(datasets.URLS, "cifar10", ("http://127.0.0.1:9/",))
    placed = tmp_path / "raw/cifar10" / datasets.CIFAR10_FILE
    placed.parent.mkdir(parents=True)
    write_cifar_tarball(placed)
    users_bytes = placed.read_bytes()
    result = run_cli("fetch", "cifar10", "--raw-dir", "raw")
    assert result.code == 2
    aside = placed.with_name(f"{datasets.CIFAR10_FILE}.rejected-checksum")
    assert not placed.exists() and aside.read_bytes() == users_bytes
    error = result.err.split("error:", 1)[1]
    assert f"raw/cifar10/{datasets.CIFAR10_FILE} failed verification and was moved to raw/cifar10/{aside.name}" in error
    assert "not deleted" in error and f"Put a verified {datasets.CIFAR10_FILE} at raw/cifar10/" in error
    assert "http://127.0.0.1:9/" in error  # the sources tried

    placed.write_bytes(users_bytes[:-200])  # a truncated copy, placed again
    result = run_cli("fetch", "cifar10", "--raw-dir", "raw")
    assert result.code == 2 and f"moved to raw/cifar10/{datasets.CIFAR10_FILE}.rejected-corrupt" in result.err
    write_cifar_tarball(placed)
    assert run_cli("fetch", "cifar10", "--raw-dir", "raw").code == 2
    assert sorted(p.name for p in placed.parent.iterdir()) == [
        f"{datasets.CIFAR10_FILE}.rejected-{why}" for why in ("checksum", "checksum-2", "corrupt")
    ]
    assert aside.read_bytes() == users_bytes


def test_failed_fetch_removes_the_folders_it_created(run_cli, tmp_path, monkeypatch):
    monkeypatch.setitem(datasets.URLS, "cifar10", ("http://127.0.0.1:9/",))
    (tmp_path / "mirror").mkdir()
    assert run_cli("fetch", "cifar10", "--raw-dir", "raw", "--mirror", "mirror").code == 2
    assert not (tmp_path / "raw").exists()
    (tmp_path / "raw").mkdir()  # a folder that was there before stays
    assert run_cli("fetch", "cifar10", "--raw-dir", "raw", "--mirror", "mirror").code == 2
    assert list((tmp_path / "raw").iterdir()) == []


# -- Can a dataset be fetched here? (the workflow leaves out those that cannot) -----------------


def test_fetch_unavailable_reason(shared_mirror, tmp_path, monkeypatch):
    settings = datasets.Settings(raw_dir=tmp_path / "raw", mirror=shared_mirror)
    assert datasets.fetch_unavailable_reason("mnist", settings) is None  # every file in the mirror
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    monkeypatch.setitem(datasets.URLS, "cifar10", ("http://127.0.0.1:9/~kriz/",))  # nothing listens there
    offline = datasets.Settings(raw_dir=tmp_path / "raw", mirror=empty)
    began = time.perf_counter()
    reason = datasets.fetch_unavailable_reason("cifar10", offline, timeout=1.0)
    assert time.perf_counter() - began < 1.5
    assert reason == (
        f"cannot fetch {datasets.CIFAR10_FILE}: no network (http://127.0.0.1:9 unreachable) "
        f"and no copy in the mirror {empty}"
    )
    assert "\n" not in reason and len(reason) < 200
    assert "no mirror set" in datasets.fetch_unavailable_reason("cifar10", datasets.Settings(raw_dir=tmp_path / "raw"))
    for name in ("toy1d", "ring"):
        assert datasets.fetch_unavailable_reason(name, offline) is None
    custom = datasets.Settings(raw_dir=tmp_path / "raw", custom={"mine": {"path": "own.npz"}})
    assert datasets.fetch_unavailable_reason("mine", custom) is None
    assert f"{tmp_path / 'raw/tfd/TFD_48x48.mat'} not found" in datasets.fetch_unavailable_reason("tfd", offline)

    placed = tmp_path / "raw/cifar10" / datasets.CIFAR10_FILE  # the user's own copy: fetch verifies it
    placed.parent.mkdir(parents=True)
    placed.write_bytes(b"")
    assert datasets.fetch_unavailable_reason("cifar10", offline) is None
    placed.unlink()
    (placed.parent / datasets.MANIFEST).write_text("{}")  # fetched before
    assert datasets.fetch_unavailable_reason("cifar10", offline) is None


def test_fetch_unavailable_reason_is_none_when_the_host_answers(tmp_path, monkeypatch):
    with socket.create_server(("127.0.0.1", 0)) as server:
        monkeypatch.setitem(datasets.URLS, "cifar10", (f"http://127.0.0.1:{server.getsockname()[1]}/",))
        assert datasets.fetch_unavailable_reason("cifar10", datasets.Settings(raw_dir=tmp_path)) is None


# -- TFD ---------------------------------------------------------------------------------------


def test_tfd_missing_file_explains_where_and_why(run_cli, tmp_path):
    result = run_cli("fetch", "tfd", "--raw-dir", "raw")
    assert result.code == 2
    assert "raw/tfd/TFD_48x48.mat not found" in result.err
    assert "licensed" in result.err and "--tfd-file" in result.err and "data.tfd_file" in result.err
    assert not (tmp_path / "raw/tfd/MANIFEST.json").exists()


def test_tfd_folds_and_labels(run_cli, tmp_path):
    mat = write_tfd(tmp_path / "TFD_48x48.mat")
    assert run_cli("fetch", "tfd", "--raw-dir", "raw", "--tfd-file", "TFD_48x48.mat").code == 0
    result = run_cli("prepare", "tfd", "--raw-dir", "raw", "--tfd-file", "TFD_48x48.mat", "--out", "t.npz")
    assert result.code == 0, result.err
    images, folds = mat["images"][:, None], mat["folds"].astype(int)
    labels = mat["labs_ex"].ravel().astype(int) - 1
    unlabeled = folds[:, 0] == 0
    assert np.array_equal(datasets.load_split("t.npz", "train", unit=False), images[unlabeled])
    assert (datasets.load_labels("t.npz", "train") == -1).all()
    for k in range(5):
        for split, code in (("valid", 2), ("test", 3)):
            chosen = folds[:, k] == code
            assert np.array_equal(datasets.load_split("t.npz", f"{split}_fold{k}", unit=False), images[chosen])
            assert np.array_equal(datasets.load_labels("t.npz", f"{split}_fold{k}"), labels[chosen])
    assert np.array_equal(datasets.load_split("t.npz", "valid"), datasets.load_split("t.npz", "valid_fold0"))
    meta = datasets.read_meta("t.npz")
    assert meta["example_shape"] == [1, 48, 48] and meta["num_classes"] == 7
    assert meta["n_test"] == int((folds[:, 0] == 3).sum())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda mat: mat.update(folds=mat["folds"][:, :4]), "folds has shape"),
        (lambda mat: mat.pop("labs_id"), "lacks labs_id"),
    ],
)
def test_tfd_bad_layout(run_cli, tmp_path, change, message):
    mat = write_tfd(tmp_path / "TFD_48x48.mat")
    change(mat)
    scipy.io.savemat(tmp_path / "TFD_48x48.mat", mat)
    result = run_cli("fetch", "tfd", "--raw-dir", "raw", "--tfd-file", "TFD_48x48.mat")
    assert result.code == 2 and message in result.err and "TFD_48x48.mat" in result.err


def test_tfd_truncated_file(run_cli, tmp_path):
    write_tfd(tmp_path / "TFD_48x48.mat")
    data = (tmp_path / "TFD_48x48.mat").read_bytes()
    (tmp_path / "TFD_48x48.mat").write_bytes(data[: len(data) // 2])
    result = run_cli("fetch", "tfd", "--raw-dir", "raw", "--tfd-file", "TFD_48x48.mat")
    assert result.code == 2 and "cannot be read as a MATLAB file" in result.err


# -- Toy sets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["toy1d", "ring"])
def test_toy_sets(name, run_cli, tmp_path):
    assert run_cli("fetch", name, "--raw-dir", "raw").code == 0
    assert [p.name for p in (tmp_path / "raw" / name).iterdir()] == ["MANIFEST.json"]
    assert run_cli("prepare", name, "--toy-size", 20_000, "--seed", 3, "--out", "a.npz").code == 0
    assert run_cli("prepare", name, "--toy-size", 500, "--seed", 3, "--out", "b.npz").code == 0
    assert run_cli("prepare", name, "--toy-size", 500, "--seed", 4, "--out", "c.npz").code == 0
    x = datasets.load_split("a.npz", "train")
    meta = datasets.read_meta("a.npz")
    assert x.dtype == np.float32 and (meta["n_train"], meta["n_valid"], meta["n_test"]) == (20_000, 10_000, 10_000)
    assert meta["kind"] == "vector" and meta["unit_scale"] == 1
    assert meta["value_range"][0] <= x.min() and x.max() <= meta["value_range"][1]
    assert np.array_equal(datasets.load_split("a.npz", "valid"), datasets.load_split("b.npz", "valid"))
    assert not np.array_equal(datasets.load_split("b.npz", "valid"), datasets.load_split("c.npz", "valid"))
    if name == "toy1d":
        assert x.shape == (20_000, 1) and meta["num_classes"] is None
        assert abs(x.mean() - datasets.TOY1D_MEAN) < 0.02 and abs(x.std() - datasets.TOY1D_STD) < 0.02
        assert (datasets.load_labels("a.npz", "train") == -1).all()
    else:
        y = datasets.load_labels("a.npz", "train")
        assert x.shape == (20_000, 2) and meta["num_classes"] == datasets.RING_MODES
        assert np.allclose(np.hypot(x[:, 0], x[:, 1]), datasets.RING_RADIUS, atol=0.1)
        angles = np.mod(np.arctan2(x[:, 1], x[:, 0]), 2 * np.pi)
        assert np.array_equal(np.rint(angles / (2 * np.pi / datasets.RING_MODES)) % datasets.RING_MODES, y)
        assert set(np.unique(y)) == set(range(datasets.RING_MODES))


# -- A user's own data ---------------------------------------------------------------------------


def declare_custom(tmp_path: Path, path: str, **spec: float) -> None:
    entry = ", ".join(f"{k}: {v}" for k, v in {"path": path, **spec}.items())
    (tmp_path / "params.yaml").write_text(f"data:\n  custom:\n    mine: {{{entry}}}\n")


@pytest.mark.parametrize(
    ("key", "layout", "label_key"),
    [
        ("images", "NHW", "labels"),
        ("x", "NHWC", "y"),
        ("images", "NCHW", None),
    ],
)
def test_custom_npz(key, layout, label_key, run_cli, tmp_path):
    rng = np.random.default_rng(3)
    channels = 1 if layout == "NHW" else 3
    pixels = rng.integers(0, 256, (50, channels, 5, 4), dtype=np.uint8)  # the expected (N, C, H, W)
    stored = {"NHW": pixels[:, 0], "NHWC": pixels.transpose(0, 2, 3, 1) / 255.0, "NCHW": pixels}[layout]
    arrays = {key: stored, **({label_key: np.arange(50)} if label_key else {})}
    save_npz(tmp_path / "own.npz", **arrays)
    declare_custom(tmp_path, "own.npz", valid_fraction=0.2, test_fraction=0.1, seed=1)

    assert run_cli("fetch", "mine", "--raw-dir", "raw").code == 0
    result = run_cli("prepare", "mine", "--raw-dir", "raw")
    assert result.code == 0, result.err
    out = tmp_path / "data/prepared/mine/dataset.npz"
    meta = datasets.read_meta(out)
    assert (meta["n_train"], meta["n_valid"], meta["n_test"]) == (35, 10, 5)
    assert meta["example_shape"] == [channels, 5, 4]
    if label_key:
        ys = [datasets.load_labels(out, s) for s in ("train", "valid", "test")]
        assert sorted(np.concatenate(ys).tolist()) == list(range(50)) and meta["num_classes"] == 50
        for split, y in zip(("train", "valid", "test"), ys):
            assert np.array_equal(datasets.load_split(out, split, unit=False), pixels[y])
    else:
        assert meta["num_classes"] is None and (datasets.load_labels(out, "train") == -1).all()


def test_custom_npz_out_of_range_pixels(run_cli, tmp_path):
    save_npz(tmp_path / "own.npz", images=np.full((10, 4, 4), 2.5))
    declare_custom(tmp_path, "own.npz")
    assert run_cli("fetch", "mine", "--raw-dir", "raw").code == 0
    result = run_cli("prepare", "mine", "--raw-dir", "raw")
    assert result.code == 2 and "own.npz" in result.err and "floats in [0, 1]" in result.err


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_custom_png_folder_with_class_subfolders(run_cli, tmp_path):
    rng = np.random.default_rng(4)
    pictures = {
        f"pics/{cls}/{i}.png": rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        for cls in ("cat", "dog")
        for i in range(5)
    }
    for name, array in pictures.items():
        write_png(tmp_path / name, array)
    declare_custom(tmp_path, "pics", valid_fraction=0.2, test_fraction=0.2)
    assert run_cli("fetch", "mine", "--raw-dir", "raw").code == 0
    assert run_cli("prepare", "mine", "--raw-dir", "raw", "--out", "m.npz").code == 0
    meta = datasets.read_meta("m.npz")
    assert meta["class_names"] == ["cat", "dog"] and meta["example_shape"] == [3, 6, 8]
    assert (meta["n_train"], meta["n_valid"], meta["n_test"]) == (6, 2, 2)
    by_pixels = {array.tobytes(): name.split("/")[1] for name, array in pictures.items()}
    for split in ("train", "valid", "test"):
        x, y = datasets.load_split("m.npz", split, unit=False), datasets.load_labels("m.npz", split)
        for image, label in zip(x, y):
            assert by_pixels[image.transpose(1, 2, 0).tobytes()] == meta["class_names"][label]


def test_custom_grayscale_folder_and_mixed_sizes(run_cli, tmp_path):
    for i in range(5):
        write_png(tmp_path / f"gray/{i}.png", np.full((4, 4), i * 50, dtype=np.uint8))
    declare_custom(tmp_path, "gray", valid_fraction=0.2, test_fraction=0.2)
    assert run_cli("fetch", "mine", "--raw-dir", "raw").code == 0
    assert run_cli("prepare", "mine", "--raw-dir", "raw", "--out", "g.npz").code == 0
    assert datasets.read_meta("g.npz")["example_shape"] == [1, 4, 4]
    assert datasets.read_meta("g.npz")["class_names"] is None

    write_png(tmp_path / "gray/odd.png", np.zeros((5, 3), dtype=np.uint8))
    assert run_cli("fetch", "mine", "--raw-dir", "raw").code == 0
    result = run_cli("prepare", "mine", "--raw-dir", "raw", "--out", "h.npz")
    assert result.code == 2 and "differ in size" in result.err and "odd.png" in result.err
    assert not (tmp_path / "h.npz").exists() and leftovers(tmp_path) == []


def test_custom_spec_from_the_command_line_without_params(run_cli, tmp_path):
    """The workflow passes data.custom.<name> as --custom-json: no params file is read."""
    rng = np.random.default_rng(5)
    save_npz(tmp_path / "own.npz", images=rng.integers(0, 256, (50, 4, 4), dtype=np.uint8))
    spec = json.dumps({"path": "own.npz", "valid_fraction": 0.2, "test_fraction": 0.1, "seed": 1})
    result = run_cli("fetch", "mine", "--raw-dir", "raw")
    assert result.code == 2 and "unknown dataset 'mine'" in result.err
    assert run_cli("fetch", "mine", "--raw-dir", "raw", "--custom-json", spec).code == 0
    assert run_cli("prepare", "mine", "--raw-dir", "raw", "--out", "m.npz", "--custom-json", spec).code == 0
    meta = datasets.read_meta("m.npz")
    assert (meta["n_train"], meta["n_valid"], meta["n_test"]) == (35, 10, 5) and "seed 1" in meta["splits"]

    declare_custom(tmp_path, "own.npz", valid_fraction=0.4)  # the option replaces the params file's entry
    assert run_cli("prepare", "mine", "--raw-dir", "raw", "--out", "m.npz", "--custom-json", spec).code == 0
    assert datasets.read_meta("m.npz")["n_valid"] == 10


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("mine", "{path: own.npz}", "--custom-json is not valid JSON"),
        ("mine", '{"valid_fraction": 0.1}', "--custom-json: expected a mapping with 'path'"),
        ("mnist", '{"path": "own.npz"}', "may not reuse built-in names (mnist)"),
    ],
)
def test_custom_json_errors(run_cli, name, text, message):
    result = run_cli("fetch", name, "--raw-dir", "raw", "--custom-json", text)
    assert result.code == 2 and message in result.err


def test_make_settings_precedence(monkeypatch):
    """Explicit values (the CLI's options) over $GANREPRO_MIRROR over the params data: section."""
    data = {"mirror": "from-params", "tfd_file": "t.mat", "toy_size": 7, "custom": {"a": {"path": "a"}}}
    monkeypatch.delenv(datasets.MIRROR_ENV, raising=False)
    assert datasets.make_settings(data).mirror == Path("from-params")
    monkeypatch.setenv(datasets.MIRROR_ENV, "from-env")
    settings = datasets.make_settings(data, custom={"b": {"path": "b"}})
    assert settings.mirror == Path("from-env") and settings.tfd_path == Path("t.mat") and settings.toy_size == 7
    assert set(settings.custom) == {"a", "b"}
    assert datasets.make_settings(data, mirror=Path("given"), toy_size=3).mirror == Path("given")


def test_custom_source_files(tmp_path):
    save_npz(tmp_path / "own.npz", images=np.zeros((3, 2, 2), np.uint8))
    assert datasets.custom_source_files({"path": tmp_path / "own.npz"}) == [tmp_path / "own.npz"]
    for name in ("b/2.png", "a.jpg", "b/1.JPEG", "c/deeper/0.png"):
        write_png(tmp_path / "pics" / name, np.zeros((2, 2), np.uint8))
    (tmp_path / "pics/notes.txt").write_text("not an image")
    assert datasets.custom_source_files({"path": str(tmp_path / "pics"), "seed": 2}) == [
        tmp_path / "pics" / name for name in ("a.jpg", "b/1.JPEG", "b/2.png", "c/deeper/0.png")
    ]
    assert datasets.custom_source_files({"path": "missing.npz"}) == [Path("missing.npz")]  # the caller reports it
    with pytest.raises(UserError, match="expected a mapping with 'path'"):
        datasets.custom_source_files({"valid_fraction": 0.1})


# -- Names and the public API --------------------------------------------------------------------


def test_unknown_dataset_lists_known_ones(run_cli, tmp_path):
    declare_custom(tmp_path, "own.npz")
    result = run_cli("fetch", "nope", "--raw-dir", "raw")
    assert result.code == 2 and "unknown dataset 'nope'" in result.err
    assert all(name in result.err for name in (*datasets.KNOWN_DATASETS, "mine"))
    assert datasets.known_datasets({"data": {"custom": {"mine": {}}}}) == (*datasets.KNOWN_DATASETS, "mine")


def test_load_split_names_the_available_splits(run_cli):
    assert run_cli("prepare", "toy1d", "--toy-size", 10, "--out", "t.npz").code == 0
    with pytest.raises(UserError, match="its splits are test, train, valid"):
        datasets.load_split("t.npz", "nope")


# -- The real files (local mirror) ---------------------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_dataset_from_mirror(name, shared_mirror, run_cli, tmp_path):
    assert run_cli("fetch", name, "--mirror", shared_mirror, "--raw-dir", "raw").code == 0
    assert run_cli("prepare", name, "--raw-dir", "raw", "--out", "p.npz").code == 0
    meta = datasets.read_meta("p.npz")
    assert (meta["n_train"], meta["n_valid"], meta["n_test"]) == (50_000, 10_000, 10_000)
    assert meta["example_shape"] == [1, 28, 28] and meta["num_classes"] == 10
    train_labels = read_idx(shared_mirror / name / "train-labels-idx1-ubyte.gz")
    test_labels = read_idx(shared_mirror / name / "t10k-labels-idx1-ubyte.gz")
    assert np.array_equal(datasets.load_labels("p.npz", "train"), train_labels[:50_000])
    assert np.array_equal(datasets.load_labels("p.npz", "valid"), train_labels[50_000:])
    assert np.array_equal(datasets.load_labels("p.npz", "test"), test_labels)
    test_images = read_idx(shared_mirror / name / "t10k-images-idx3-ubyte.gz")
    assert np.array_equal(datasets.load_split("p.npz", "test", unit=False)[:, 0], test_images)
