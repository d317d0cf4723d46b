"""Fixtures of the data tests: small raw files in the real formats, in a mirror or behind a local
HTTP server."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from ganrepro.data import sources
from ganrepro.data.sources import CIFAR10_FILE

from helpers import idx_bytes, write_cifar_tarball


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder (no params.yaml) and without the shared mirror of the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(sources.MIRROR_ENV, raising=False)


@pytest.fixture
def idx_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, np.ndarray]]:
    """A mirror holding mnist/*.gz: 60,000 train and 10 test images of 2x2 pixels, with their hashes
    recorded as the official ones."""
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
        monkeypatch.setitem(sources.SHA256["mnist"], name, hashlib.sha256(content).hexdigest())
    return mirror, arrays


@pytest.fixture
def cifar_mirror(tmp_path: Path) -> tuple[Path, dict[str, bytes], dict[str, dict]]:
    mirror = tmp_path / "mirror"
    (mirror / "cifar10").mkdir(parents=True)
    members, batches = write_cifar_tarball(mirror / "cifar10" / CIFAR10_FILE)
    return mirror, members, batches


@dataclass
class Server:
    """A local HTTP server of the files under `root`: GET /<file> serves root/<file>, /flaky/<file>
    answers 503 the first time, then serves it; anything else is 404. `requests` lists the paths asked."""

    url: str
    root: Path
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "served"
    root.mkdir()
    failed: set[str] = set()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                server.requests.append(self.path)
                flaky = self.path.startswith("/flaky/") and self.path not in failed
                failed.add(self.path)
            file = root / self.path.removeprefix("/flaky/").lstrip("/")
            if not file.is_file():
                self.send_error(404)
            elif flaky:
                self.send_error(503)
            else:
                body = file.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server = Server(f"http://127.0.0.1:{httpd.server_address[1]}", root)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    httpd.shutdown()
    httpd.server_close()
