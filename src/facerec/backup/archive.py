"""Writing and reading the backup archive: a plain tar, every member with its sha256 in
``manifest.json`` (the last member).

Writing goes to a temporary file beside the target, fsynced and renamed at the end, so a
failed backup leaves no half file. Reading checks the manifest, that the members are
exactly the files it lists (regular files under ``database/``, ``images/``, ``crops/``,
no links, no ``..``), and the size and sha256 of each as it is extracted.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from facerec.backup.manifest import FORMAT_VERSION, MANIFEST, ArchivedFile, Manifest
from facerec.errors import InvalidBackup

CHUNK = 1 << 20
MEMBER = re.compile(
    r"^(database/facerec\.(db|pgdump)|(images|crops)/[0-9a-f]{2}/[0-9a-f]{64}\.[a-z]{3,4})$"
)
"""The only member names an archive may hold (besides the manifest)."""


class ArchiveWriter:
    """Members added one by one, each recorded with its size and sha256."""

    def __init__(self, tar: tarfile.TarFile, mtime: datetime) -> None:
        self.tar = tar
        self.mtime = mtime.timestamp()
        self.files: list[ArchivedFile] = []

    def add_bytes(self, name: str, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()
        self.tar.addfile(self._info(name, len(data)), io.BytesIO(data))
        self.files.append(ArchivedFile(path=name, size=len(data), sha256=digest))

    def add_file(self, name: str, path: Path) -> None:
        """A large file (the database), streamed: hashed, then copied."""
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
            size = handle.tell()
            handle.seek(0)
            self.tar.addfile(self._info(name, size), handle)
        self.files.append(ArchivedFile(path=name, size=size, sha256=digest.hexdigest()))

    def add_manifest(self, manifest: Manifest) -> None:
        """The last member: the manifest of everything added before it."""
        data = manifest.model_dump_json(indent=2).encode()
        self.tar.addfile(self._info(MANIFEST, len(data)), io.BytesIO(data))

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, int(self.mtime), 0o644
        return info


@contextmanager
def writing(target: Path, mtime: datetime) -> Iterator[ArchiveWriter]:
    """An archive written to a temporary file renamed to ``target`` once the block ends
    without error (fsynced first); on error the temporary file is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
                yield ArchiveWriter(tar, mtime)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextmanager
def reading(source: Path) -> Iterator[tuple[tarfile.TarFile, Manifest]]:
    """The open archive and its checked manifest (members not yet hashed: ``extract``)."""
    try:
        tar = tarfile.open(source, mode="r:")  # noqa: SIM115 (closed by the block below)
    except (OSError, tarfile.TarError) as exc:
        raise InvalidBackup(f"{source} is not a FaceRec backup ({exc})", path=str(source)) from exc
    with tar:
        try:
            members = tar.getmembers()
        except (OSError, tarfile.TarError) as exc:  # truncated or damaged
            raise InvalidBackup(f"{source} is damaged ({exc})", path=str(source)) from exc
        manifest = _manifest(tar, members, source)
        _check_members(members, manifest)
        yield tar, manifest


def _manifest(tar: tarfile.TarFile, members: list[tarfile.TarInfo], source: Path) -> Manifest:
    found = [m for m in members if m.name == MANIFEST and m.isfile()]
    handle = tar.extractfile(found[-1]) if found else None
    if handle is None:
        raise InvalidBackup(f"{source} has no {MANIFEST}: not a FaceRec backup", path=str(source))
    try:
        manifest = Manifest.model_validate_json(handle.read())
    except ValidationError as exc:
        raise InvalidBackup(f"{MANIFEST} is not valid: {exc.errors()[0]['msg']}") from exc
    if manifest.format_version != FORMAT_VERSION:
        raise InvalidBackup(
            f"backup format version {manifest.format_version} is not {FORMAT_VERSION} "
            f"(made by FaceRec {manifest.facerec_version})",
            format_version=manifest.format_version,
        )
    return manifest


def _check_members(members: list[tarfile.TarInfo], manifest: Manifest) -> None:
    listed = {f.path for f in manifest.files}
    if len(listed) != len(manifest.files) or manifest.database.file not in listed:
        raise InvalidBackup(f"{MANIFEST} lists a file twice or not the database")
    seen: set[str] = set()
    for member in members:
        if member.name == MANIFEST:
            continue
        if not member.isfile() or not MEMBER.match(member.name) or member.name in seen:
            raise InvalidBackup(f"unexpected archive member {member.name!r}", member=member.name)
        seen.add(member.name)
    if seen != listed:
        extra, lacking = sorted(seen - listed), sorted(listed - seen)
        raise InvalidBackup(
            f"the archive's files differ from {MANIFEST}: "
            f"{len(lacking)} listed but absent, {len(extra)} present but not listed",
            absent=lacking[:10],
            unlisted=extra[:10],
        )


def extract(tar: tarfile.TarFile, manifest: Manifest, into: Path) -> None:
    """Write every listed file under ``into``, checking its size and sha256 as it goes."""
    for entry in manifest.files:
        member = tar.getmember(entry.path)
        source = tar.extractfile(member)
        if source is None:
            raise InvalidBackup(f"{entry.path} cannot be read", member=entry.path)
        target = into / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            size, digest = _copy(source, out)
        if size != entry.size or digest != entry.sha256:
            raise InvalidBackup(
                f"{entry.path}: its sha256 differs from the manifest's "
                "(the backup is damaged or was changed)",
                member=entry.path,
            )


def _copy(source: IO[bytes], out: IO[bytes]) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    try:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    except (OSError, tarfile.TarError) as exc:
        raise InvalidBackup(f"the archive is damaged ({exc})") from exc
    return size, digest.hexdigest()
