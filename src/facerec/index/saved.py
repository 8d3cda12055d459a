"""The approximate index saved beside the database, so a start need not rebuild it.

Layout under ``<data_dir>/index``::

    current                    the name of the saved index in use (replaced atomically)
    saved-<generation>-<n>/    manifest.json, face_ids.npy, person_ids.npy, vectors.npy,
                               faces.faiss (IVF), centroids.faiss

A saved index is written into a ``tmp-*`` directory, flushed, renamed, and only then
named in ``current`` (temp file + ``os.replace``), so a reader sees a whole one or the
previous one. The manifest stamps the change-log generation it reflects, the model id,
the dimension and every file's size (and the SHA-256 of the id files): a torn, foreign
or unreadable one is ignored (``load`` answers None) and the caller rebuilds. Loading
memory-maps the id arrays (``np.load(mmap_mode="r")``) and the IVF lists
(``faiss.IO_FLAG_MMAP``) and opens the vectors to be read a row at a time
(``index/vector_file.py``), so the workers of a host share one copy in the page cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from numpy.typing import NDArray

from facerec.index.frozen import Frozen
from facerec.index.vector_file import VectorFile

log = logging.getLogger(__name__)
FORMAT = 1
IDS = ("face_ids", "person_ids")
HASHED = ("face_ids.npy", "person_ids.npy")


@dataclass(frozen=True, slots=True)
class Saved:
    base: Frozen
    generation: int
    name: str


class SavedIndexes:
    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def current_name(self) -> str | None:
        try:
            name = (self.dir / "current").read_text().strip()
        except OSError:
            return None
        return name if name.startswith("saved-") else None

    def save(self, base: Frozen, *, generation: int, model: str) -> str:
        """Write ``base`` as the saved index at ``generation``; its name."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f"tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        vectors = base.vectors
        arrays: dict[str, NDArray[np.int64] | NDArray[np.float32]] = {
            "face_ids": base.face_ids,
            "person_ids": base.person_ids,
            "vectors": vectors.whole() if isinstance(vectors, VectorFile) else vectors,
        }
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", array)
        faiss.write_index(base.faces, str(tmp / "faces.faiss"))
        faiss.write_index(base.centroids, str(tmp / "centroids.faiss"))
        files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir())}
        manifest = {
            "format": FORMAT,
            "generation": generation,
            "model": model,
            "dim": base.dim,
            "count": base.count,
            "files": files,
            "sha256": {name: _sha256(tmp / name) for name in HASHED},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        for path in tmp.iterdir():
            _fsync(path)
        name = f"saved-{generation}-{secrets.token_hex(6)}"  # never an existing name
        os.replace(tmp, self.dir / name)
        pointer = self.dir / f"current.tmp-{os.getpid()}"
        pointer.write_text(name)
        _fsync(pointer)
        os.replace(pointer, self.dir / "current")
        _fsync(self.dir)
        self._prune(keep=name)
        return name

    def _prune(self, *, keep: str) -> None:
        """Delete older saved indexes (a worker that mapped one keeps its pages)."""
        for path in self.dir.iterdir():
            if path.name.startswith("saved-") and path.name != keep:
                shutil.rmtree(path, ignore_errors=True)

    def load(self, *, model: str, dim: int) -> Saved | None:
        """The saved index in use, memory-mapped; None when there is none that serves."""
        name = self.current_name()
        if name is None:
            return None
        try:
            base, generation = self._read(self.dir / name, model=model, dim=dim)
        except (OSError, ValueError, RuntimeError, KeyError, json.JSONDecodeError) as error:
            log.warning("saved index %s ignored (%s); rebuilding", name, error)
            return None
        return Saved(base, generation, name)

    def _read(self, path: Path, *, model: str, dim: int) -> tuple[Frozen, int]:
        manifest = json.loads((path / "manifest.json").read_text())
        if manifest.get("format") != FORMAT or manifest["model"] != model:
            raise ValueError(f"made for model {manifest.get('model')!r}, not {model!r}")
        if manifest["dim"] != dim:
            raise ValueError(f"dimension {manifest['dim']}, not {dim}")
        for file, size in manifest["files"].items():
            if (path / file).stat().st_size != size:
                raise ValueError(f"{file} is not {size} bytes long (torn)")
        for file, digest in manifest["sha256"].items():
            if _sha256(path / file) != digest:
                raise ValueError(f"{file} does not match its checksum")
        ids = {n: np.load(path / f"{n}.npy", mmap_mode="r", allow_pickle=False) for n in IDS}
        vectors = VectorFile(path / "vectors.npy")
        faces = faiss.read_index(str(path / "faces.faiss"), faiss.IO_FLAG_MMAP)
        centroids = faiss.read_index(str(path / "centroids.faiss"), _centroid_flags(path))
        count = manifest["count"]
        if not (len(ids["face_ids"]) == faces.ntotal == count):
            raise ValueError(f"holds {faces.ntotal} faces, not {count}")
        if vectors.shape != (count, dim):
            raise ValueError(f"vectors of shape {vectors.shape}")
        base = Frozen(ids["face_ids"], ids["person_ids"], vectors, faces, centroids)
        return base, int(manifest["generation"])


def _centroid_flags(path: Path) -> int:
    """Memory-mapped when the centroids are an IVF; a small flat index is read whole."""
    return faiss.IO_FLAG_MMAP if _is_ivf(path / "centroids.faiss") else 0


def _is_ivf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4).startswith(b"IwF")  # IndexIVFFlat's fourcc ("IwFl")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
