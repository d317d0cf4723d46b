"""Checksums of the official files: what `fetch` checks every copy against, whatever its source."""

from __future__ import annotations

import gzip
import hashlib
import tarfile
import zlib
from pathlib import Path
from typing import Any

from ganrepro.data.formats import corrupt
from ganrepro.data.sources import CIFAR10_DIR, CIFAR10_FILE, CIFAR10_MD5, CIFAR10_MEMBERS, SHA256
from ganrepro.errors import UserError


class Rejected(UserError):
    """A file failed verification; `why` ("checksum", "corrupt" or "format") names the failed check."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(message)
        self.why = why


def verify(name: str, fname: str, path: Path, label: str) -> dict[str, Any]:
    """Hash `path` and compare with the recorded values; return the hashes for the manifest."""
    if fname == CIFAR10_FILE:
        return _verify_cifar(path, label)
    actual = _gzip_sha256(path, label)
    expected = SHA256[name][fname]
    if actual != expected:
        raise Rejected(
            f"{label}: checksum mismatch: SHA-256 of the decompressed content is {actual}, "
            f"expected {expected}: the file is corrupt or not the official one.",
            "checksum",
        )
    return {"sha256": actual}


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _gzip_sha256(path: Path, label: str) -> str:
    try:
        with gzip.open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except (OSError, EOFError, zlib.error) as err:
        raise Rejected(corrupt(label, err), "corrupt") from err


def _verify_cifar(path: Path, label: str) -> dict[str, Any]:
    """Accept the official tarball (its MD5); record the SHA-256 of its decompressed stream and of each
    member, which `prepare` checks before unpickling."""
    wanted = {f"{CIFAR10_DIR}/{member}": member for member in CIFAR10_MEMBERS}
    members = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for info in tar:
                if info.name in wanted and info.isfile():
                    members[wanted[info.name]] = hashlib.file_digest(tar.extractfile(info), "sha256").hexdigest()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise Rejected(corrupt(label, err), "corrupt") from err
    missing = [m for m in wanted if wanted[m] not in members]
    if missing:
        raise Rejected(f"{label}: not the CIFAR-10 python archive: it lacks {', '.join(missing)}.", "format")
    with open(path, "rb") as f:
        md5 = hashlib.file_digest(f, "md5").hexdigest()
    if md5 != CIFAR10_MD5:
        raise Rejected(
            f"{label}: checksum mismatch: MD5 {md5}, expected {CIFAR10_MD5} (the official tarball). "
            f"A re-packed copy cannot be verified: use the official {CIFAR10_FILE}.",
            "checksum",
        )
    return {"sha256": _gzip_sha256(path, label), "md5": md5, "members": dict(sorted(members.items()))}
