"""Downloads from the official servers through pooch (retries with a growing wait, a progress bar on a
terminal), and the quick probe of whether a server can be reached at all.

pooch checks no hash here: the recorded SHA-256 values cover the decompressed content (a mirror's
re-compressed copy passes), so `verify` checks every copy, downloaded or not, the same way.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
import threading
import urllib.parse
from pathlib import Path
from typing import Any

import pooch
import requests

TIMEOUT_SECONDS = 60.0
RETRIES = 3  # attempts per URL; pooch waits 1 s, 2 s, ... between them

log = logging.getLogger(__name__)
# pooch's own lines name the temporary folder and bypass the project's log format; the downloader
# below says what is fetched, attempt by attempt, instead.
pooch.get_logger().setLevel(logging.WARNING)


class Unavailable(Exception):
    """A source could not deliver the file (not in the mirror, network error): try the next one."""


class _Downloader:
    """pooch's HTTP downloader, except that a 4xx answer is final (pooch retries any request error)."""

    def __init__(self) -> None:
        self.http = pooch.HTTPDownloader(progressbar=sys.stderr.isatty(), timeout=TIMEOUT_SECONDS)
        self.attempts = 0

    def __call__(self, url: str, output_file: Any, store: pooch.Pooch) -> None:
        self.attempts += 1
        log.info(f"downloading {url} (attempt {self.attempts} of {RETRIES})")
        try:
            self.http(url, output_file, store)
        except requests.HTTPError as err:
            if err.response is not None and err.response.status_code < 500:
                raise Unavailable(f"HTTP {err.response.status_code} {err.response.reason}") from err
            raise


def download(url: str, dest: Path) -> None:
    """Download `url` to `dest` (RETRIES attempts), or raise Unavailable saying why."""
    fname = Path(urllib.parse.urlsplit(url).path).name
    with tempfile.TemporaryDirectory(prefix=f".{fname}.", suffix=".tmp", dir=dest.parent) as folder:
        store = pooch.Pooch(
            path=folder, base_url="", registry={fname: None}, urls={fname: url}, retry_if_failed=RETRIES - 1
        )
        try:
            path = store.fetch(fname, downloader=_Downloader())
        except requests.HTTPError as err:
            raise Unavailable(f"HTTP {err.response.status_code} {err.response.reason} ({RETRIES} attempts)") from err
        except requests.RequestException as err:
            raise Unavailable(f"{_reason(err)} ({RETRIES} attempts)") from err
        os.replace(path, dest)


def _reason(err: requests.RequestException) -> str:
    """The cause under requests' wrapping ('Connection refused', not 'Max retries exceeded')."""
    cause = err.args[0] if err.args else err
    return str(getattr(cause, "reason", cause))


def origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def reachable(url: str, timeout: float) -> bool:
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
