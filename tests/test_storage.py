"""``ImageStore.put`` never leaves part of a file under its real name.

The write is made to fail half-way for real: a child process limits the size of the
files it may write (``RLIMIT_FSIZE``), so the kernel stops the write after that many
bytes with EFBIG, exactly as a full disk would."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from facerec.faces.storage import ImageStore

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    try:
        ImageStore(Path(sys.argv[1])).put(b"x" * 100_000, "ab/photo.jpg")
    except OSError as exc:
        print("failed", exc.errno)
    else:
        print("written")
    """
)


def _put_with_a_small_file_limit(root: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    assert _put_with_a_small_file_limit(tmp_path).startswith("failed")
    assert _files(tmp_path) == {}  # no partial photo.jpg, no temporary file


def test_a_failed_rewrite_keeps_the_old_file_whole(tmp_path: Path) -> None:
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / "photo.jpg").write_bytes(b"old photo")
    assert _put_with_a_small_file_limit(tmp_path).startswith("failed")
    assert _files(tmp_path) == {"ab/photo.jpg": b"old photo"}
