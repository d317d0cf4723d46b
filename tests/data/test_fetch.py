"""`ganrepro fetch`: mirror first, then the official URLs through pooch (a local HTTP server stands in
for them); every copy verified, bad ones discarded or moved aside, MANIFEST.json written last."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import socket
import time
from pathlib import Path

import numpy as np
import pooch
import pytest

from ganrepro.data import download, sources
from ganrepro.data.fetch import fetch_unavailable_reason
from ganrepro.data.prepared import load_labels, load_split, read_meta
from ganrepro.data.settings import Settings
from ganrepro.data.sources import CIFAR10_FILE, IDX_FILES, MANIFEST, SHA256

from helpers import idx_bytes, leftovers, write_cifar_tarball


def test_idx_fetch_and_prepare_from_mirror(idx_mirror, run_cli, tmp_path):
    mirror, arrays = idx_mirror
    result = run_cli("fetch", "mnist", "--mirror", mirror, "--raw-dir", "raw")
    assert result.code == 0, result.err
    manifest = json.loads((tmp_path / "raw/mnist/MANIFEST.json").read_text())
    assert [f["name"] for f in manifest["files"]] == list(IDX_FILES)
    for entry in manifest["files"]:
        assert entry["sha256"] == SHA256["mnist"][entry["name"]]
        assert entry["source"] == str(mirror / "mnist" / entry["name"])
        assert (tmp_path / "raw/mnist" / entry["name"]).read_bytes() == Path(entry["source"]).read_bytes()
    assert f"fetch mnist: {IDX_FILES[0]} from {mirror / 'mnist' / IDX_FILES[0]} (verified)" in result.err

    assert run_cli("prepare", "mnist", "--raw-dir", "raw").code == 0
    out = tmp_path / "data/prepared/mnist/dataset.npz"
    images, labels = arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"]
    raw = {
        "train": (images[:50_000], labels[:50_000]),
        "valid": (images[50_000:], labels[50_000:]),
        "test": (arrays["t10k-images-idx3-ubyte.gz"], arrays["t10k-labels-idx1-ubyte.gz"]),
    }
    for split, (x, y) in raw.items():
        stored = load_split(out, split, unit=False)
        assert stored.dtype == np.uint8 and np.array_equal(stored, x[:, None])
        assert np.array_equal(load_split(out, split), x[:, None].astype(np.float32) / 255)
        labels_out = load_labels(out, split)
        assert labels_out.dtype == np.int64 and np.array_equal(labels_out, y)
    meta = read_meta(out)
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
        expected = SHA256["mnist"]["train-labels-idx1-ubyte.gz"]
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


# -- Downloads ---------------------------------------------------------------------------------


def serve_idx(idx_mirror, http_server) -> None:
    """The mirror's mnist files, served by the local HTTP server."""
    mirror, _ = idx_mirror
    for name in IDX_FILES:
        (http_server.root / name).write_bytes((mirror / "mnist" / name).read_bytes())


def test_download_retries_and_falls_back_to_next_url(idx_mirror, http_server, run_cli, tmp_path, monkeypatch):
    serve_idx(idx_mirror, http_server)
    base = http_server.url
    monkeypatch.setitem(sources.URLS, "mnist", (f"{base}/missing/", f"{base}/flaky/"))
    result = run_cli("fetch", "mnist", "--raw-dir", "raw")
    assert result.code == 0, result.err
    manifest = json.loads((tmp_path / "raw/mnist/MANIFEST.json").read_text())
    assert [f["source"] for f in manifest["files"]] == [f"{base}/flaky/{name}" for name in IDX_FILES]
    for name in IDX_FILES:
        assert (tmp_path / "raw/mnist" / name).read_bytes() == (http_server.root / name).read_bytes()
        assert http_server.requests.count(f"/missing/{name}") == 1  # a 404 is final
        assert http_server.requests.count(f"/flaky/{name}") == 2  # a 503 is retried
    assert leftovers(tmp_path / "raw") == []
    flaky = f"{base}/flaky/{IDX_FILES[0]}"
    assert f"ganrepro.data.download: downloading {flaky} (attempt 2 of {download.RETRIES})" in result.err
    assert not pooch.get_logger().isEnabledFor(logging.INFO)  # its own lines (a temporary folder's name) are off


def test_corrupt_download_is_discarded(idx_mirror, http_server, run_cli, tmp_path, monkeypatch):
    serve_idx(idx_mirror, http_server)
    bad = http_server.root / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(flip_content(bad.read_bytes()))
    monkeypatch.setitem(sources.URLS, "mnist", (f"{http_server.url}/",))
    result = run_cli("fetch", "mnist", "--raw-dir", "raw")
    assert result.code == 2
    error = result.err.split("error:", 1)[1]
    assert f"t10k-images-idx3-ubyte.gz from {http_server.url}/t10k-images-idx3-ubyte.gz: checksum mismatch" in error
    assert SHA256["mnist"]["t10k-images-idx3-ubyte.gz"] in error and "The download was discarded" in error
    raw = tmp_path / "raw/mnist"
    assert sorted(p.name for p in raw.iterdir()) == sorted(IDX_FILES[:2])  # the verified ones before it
    assert leftovers(raw) == []


def test_no_network_and_no_mirror(run_cli, tmp_path, monkeypatch, http_server):
    monkeypatch.setitem(sources.URLS, "mnist", ("http://127.0.0.1:9/",))  # nothing listens there
    result = run_cli("fetch", "mnist", "--raw-dir", "raw")
    assert result.code == 2
    assert "mirror: none configured" in result.err
    assert "http://127.0.0.1:9/train-images-idx3-ubyte.gz: " in result.err and "Connection refused" in result.err
    assert f"({download.RETRIES} attempts)" in result.err
    assert "--mirror" in result.err and "GANREPRO_MIRROR" in result.err and "network" in result.err
    (tmp_path / "empty").mkdir()
    monkeypatch.setitem(sources.URLS, "mnist", (f"{http_server.url}/",))
    result = run_cli("fetch", "mnist", "--raw-dir", "raw", "--mirror", tmp_path / "empty")
    assert (
        result.code == 2 and f"{tmp_path / 'empty/mnist/train-images-idx3-ubyte.gz'}: not in the mirror" in result.err
    )
    assert f"{http_server.url}/train-images-idx3-ubyte.gz: HTTP 404 Not Found" in result.err
    assert not any((tmp_path / "raw").rglob("*.*"))


def test_users_repacked_cifar10_is_moved_aside_never_deleted(run_cli, tmp_path, monkeypatch, http_server):
    """A re-packed tarball placed in data/raw (other bytes, so not the official MD5) is renamed to say
    why; the error names it, its new name and what to do; a second bad copy does not overwrite it."""
    monkeypatch.setitem(sources.URLS, "cifar10", (f"{http_server.url}/",))
    placed = tmp_path / "raw/cifar10" / CIFAR10_FILE
    placed.parent.mkdir(parents=True)
    write_cifar_tarball(placed)
    users_bytes = placed.read_bytes()
    result = run_cli("fetch", "cifar10", "--raw-dir", "raw")
    assert result.code == 2
    aside = placed.with_name(f"{CIFAR10_FILE}.rejected-checksum")
    assert not placed.exists() and aside.read_bytes() == users_bytes
    error = result.err.split("error:", 1)[1]
    assert f"raw/cifar10/{CIFAR10_FILE} failed verification and was moved to raw/cifar10/{aside.name}" in error
    assert "not deleted" in error and f"Put a verified {CIFAR10_FILE} at raw/cifar10/" in error
    assert f"{http_server.url}/{CIFAR10_FILE}: HTTP 404" in error  # the sources tried

    placed.write_bytes(users_bytes[:-200])  # a truncated copy, placed again
    result = run_cli("fetch", "cifar10", "--raw-dir", "raw")
    assert result.code == 2 and f"moved to raw/cifar10/{CIFAR10_FILE}.rejected-corrupt" in result.err
    write_cifar_tarball(placed)
    assert run_cli("fetch", "cifar10", "--raw-dir", "raw").code == 2
    assert sorted(p.name for p in placed.parent.iterdir()) == [
        f"{CIFAR10_FILE}.rejected-{why}" for why in ("checksum", "checksum-2", "corrupt")
    ]
    assert aside.read_bytes() == users_bytes


def test_failed_fetch_removes_the_folders_it_created(run_cli, tmp_path, monkeypatch, http_server):
    monkeypatch.setitem(sources.URLS, "cifar10", (f"{http_server.url}/",))
    (tmp_path / "mirror").mkdir()
    assert run_cli("fetch", "cifar10", "--raw-dir", "raw", "--mirror", "mirror").code == 2
    assert not (tmp_path / "raw").exists()
    (tmp_path / "raw").mkdir()  # a folder that was there before stays
    assert run_cli("fetch", "cifar10", "--raw-dir", "raw", "--mirror", "mirror").code == 2
    assert list((tmp_path / "raw").iterdir()) == []


# -- Can a dataset be fetched here? (the workflow leaves out those that cannot) -----------------


def test_fetch_unavailable_reason(shared_mirror, tmp_path, monkeypatch):
    settings = Settings(raw_dir=tmp_path / "raw", mirror=shared_mirror)
    assert fetch_unavailable_reason("mnist", settings) is None  # every file in the mirror
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    monkeypatch.setitem(sources.URLS, "cifar10", ("http://127.0.0.1:9/~kriz/",))  # nothing listens there
    offline = Settings(raw_dir=tmp_path / "raw", mirror=empty)
    began = time.perf_counter()
    reason = fetch_unavailable_reason("cifar10", offline, timeout=1.0)
    assert time.perf_counter() - began < 1.5
    assert reason == (
        f"cannot fetch {CIFAR10_FILE}: no network (http://127.0.0.1:9 unreachable) and no copy in the mirror {empty}"
    )
    assert "\n" not in reason and len(reason) < 200
    assert "no mirror set" in fetch_unavailable_reason("cifar10", Settings(raw_dir=tmp_path / "raw"))
    for name in ("toy1d", "ring"):
        assert fetch_unavailable_reason(name, offline) is None
    custom = Settings(raw_dir=tmp_path / "raw", custom={"mine": {"path": "own.npz"}})
    assert fetch_unavailable_reason("mine", custom) is None
    assert f"{tmp_path / 'raw/tfd/TFD_48x48.mat'} not found" in fetch_unavailable_reason("tfd", offline)

    placed = tmp_path / "raw/cifar10" / CIFAR10_FILE  # the user's own copy: fetch verifies it
    placed.parent.mkdir(parents=True)
    placed.write_bytes(b"")
    assert fetch_unavailable_reason("cifar10", offline) is None
    placed.unlink()
    (placed.parent / MANIFEST).write_text("{}")  # fetched before
    assert fetch_unavailable_reason("cifar10", offline) is None


def test_fetch_unavailable_reason_is_none_when_the_host_answers(tmp_path, monkeypatch):
    with socket.create_server(("127.0.0.1", 0)) as server:
        monkeypatch.setitem(sources.URLS, "cifar10", (f"http://127.0.0.1:{server.getsockname()[1]}/",))
        assert fetch_unavailable_reason("cifar10", Settings(raw_dir=tmp_path)) is None


def test_prepare_refuses_raw_file_changed_after_fetch(idx_mirror, run_cli, tmp_path):
    mirror, arrays = idx_mirror
    assert run_cli("fetch", "mnist", "--mirror", mirror, "--raw-dir", "raw").code == 0
    labels = arrays["t10k-labels-idx1-ubyte.gz"]
    (tmp_path / "raw/mnist/t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels[::-1].copy())))
    result = run_cli("prepare", "mnist", "--raw-dir", "raw", "--out", "prep/mnist.npz")
    assert result.code == 2 and "changed since it was fetched" in result.err
    assert not (tmp_path / "prep/mnist.npz").exists() and leftovers(tmp_path / "prep") == []
