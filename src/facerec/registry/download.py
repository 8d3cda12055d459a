"""Downloading a file that may be large: resumed with HTTP Range, checked by sha256.

The bytes go to ``<name>.part``; a download cut short keeps it, and the next one asks
for the rest (``Range: bytes=<have>-``). A server that ignores the range (200) is read
again from the start. The finished file must have the pinned sha256, else it is deleted
(a second try starts clean) and the download fails. One download of a name at a time
(``fcntl`` lock beside it): a second one is refused as ``Conflict``.
"""

from __future__ import annotations

import fcntl
import http.client
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from facerec import __version__
from facerec.errors import Conflict, DownloadFailed
from facerec.registry.store import sha256_file

Progress = Callable[[int, int | None], None]
"""Called with (bytes so far, total bytes or None) as the download goes."""
CHUNK = 1 << 16


def fetch(
    url: str,
    part: Path,
    *,
    sha256: str,
    timeout: float,
    progress: Progress | None = None,
) -> Path:
    """Download ``url`` into ``part`` (resuming what is there); the checked file."""
    with _locked(part):
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": f"facerec/{__version__}"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            _receive(request, part, have, timeout, progress)
        except urllib.error.HTTPError as exc:
            exc.close()  # its body holds the connection
            if exc.code != 416 or not have:
                part.unlink(missing_ok=True)
                raise DownloadFailed(
                    f"{url}: HTTP {exc.code} {exc.reason}", url=url, status=exc.code
                ) from exc
            # 416: nothing left after what we have; the digest decides below
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadFailed(
                f"{url}: {reason}; run the same command again to resume", url=url
            ) from exc
        actual = sha256_file(part)
        if actual != sha256:
            part.unlink(missing_ok=True)
            raise DownloadFailed(
                f"{url}: the download's sha256 is {actual}, {sha256} was expected; "
                "the file was deleted",
                url=url,
                expected=sha256,
                actual=actual,
            )
        return part


def _receive(
    request: urllib.request.Request,
    part: Path,
    have: int,
    timeout: float,
    progress: Progress | None,
) -> None:
    with urllib.request.urlopen(request, timeout=timeout) as response:
        status = response.status
        resumed = status == 206 and _range_start(response.headers.get("Content-Range")) == have
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        done = have
        with part.open("ab" if resumed else "wb") as out:
            if progress:
                progress(done, total)
            while block := response.read(CHUNK):
                out.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
    if total is not None and done < total:
        raise OSError(f"the connection closed after {done} of {total} bytes")


def _range_start(content_range: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-", content_range or "")
    return int(match.group(1)) if match else None


@contextmanager
def _locked(part: Path) -> Iterator[None]:
    part.parent.mkdir(parents=True, exist_ok=True)
    with part.with_name(part.name + ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Conflict(
                f"{part.stem} is being downloaded by another command", file=part.stem
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
