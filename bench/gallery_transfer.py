"""How long moving a 100k-face gallery takes: export, import (same model: descriptors
stored as they are), a second import (nothing new), and a running worker's index
catching up with the imported faces.

The source gallery is synthetic: ``--faces`` random unit descriptors (128-d, like dlib's),
two faces a person, on a few small JPEG photos reused by every person (a person is
enrolled with a photo at most once). Nothing is detected or embedded: the running
engine's model id equals the file's, which is the path being measured.

    python bench/gallery_transfer.py [--faces 100000] [--dim 128] [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import insert
from sqlmodel import Session

from facerec.auth.principal import SYSTEM
from facerec.config import Settings
from facerec.db.engine import make_engine
from facerec.db.migrate import upgrade
from facerec.db.models import utcnow
from facerec.faces.models import Face, Image
from facerec.faces.storage import ImageStore, sha256_of
from facerec.gallery.export import export_gallery
from facerec.gallery.importer import import_gallery
from facerec.index.faiss_index import FaissIndex
from facerec.index.sync import IndexSync
from facerec.inference.runtime import FaceRuntime
from facerec.people.models import Person

MODEL = "bench-model-v1"
PHOTOS = 8
CHUNK = 10_000


class _Embedder:
    """Only the model id and size: the same-model import never calls the engine."""

    model_id = MODEL

    def __init__(self, dim: int) -> None:
        self.dim = dim


class _Engine:
    name = "bench"
    fallback_detector = None

    def __init__(self, dim: int) -> None:
        self.embedder = _Embedder(dim)

    def load(self) -> None:
        return None


@contextmanager
def timed(label: str, results: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    results[label] = time.perf_counter() - start
    print(f"{label:<28} {results[label]:8.1f} s")


def _photos(store: ImageStore) -> list[Image]:
    images = []
    for i in range(PHOTOS):
        pixels = np.full((64, 64, 3), 30 * i, dtype=np.uint8)
        out = io.BytesIO()
        PILImage.fromarray(pixels).save(out, format="JPEG")
        data = out.getvalue()
        sha = sha256_of(data)
        path = store.relative_path(sha, "JPEG")
        store.put(data, path)
        images.append(
            Image(sha256=sha, size=len(data), width=64, height=64, format="JPEG", path=path)
        )
    return images


def make_source(settings: Settings, faces: int, dim: int) -> None:
    """``faces`` faces, two a person, written with bulk inserts."""
    upgrade(settings.db_url, lock_dir=settings.data_dir)
    engine = make_engine(settings.db_url)
    rng = np.random.default_rng(0)
    now = utcnow()
    with Session(engine) as session:
        images = _photos(ImageStore(settings.images_dir))
        session.add_all(images)
        session.flush()
        image_ids = [i.id for i in images]
        people = faces // 2
        for start in range(0, people, CHUNK):
            rows = [
                {
                    "id": start + i + 1,
                    "name": f"Person {start + i + 1}",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(min(CHUNK, people - start))
            ]
            session.execute(insert(Person), rows)
        for start in range(0, faces, CHUNK):
            count = min(CHUNK, faces - start)
            vectors = rng.normal(size=(count, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            rows = []
            for i in range(count):
                n = start + i
                person = n // 2 + 1
                rows.append(
                    {
                        "person_id": person,
                        "image_id": image_ids[(person + n % 2) % PHOTOS],
                        "x1": 10,
                        "y1": 10,
                        "x2": 50,
                        "y2": 50,
                        "landmarks": [
                            [20.0, 20.0],
                            [25.0, 20.0],
                            [40.0, 20.0],
                            [35.0, 20.0],
                            [30.0, 35.0],
                        ],
                        "det_score": 1.0,
                        "quality": {"sharpness": 100.0},
                        "embedding": vectors[i].astype("<f4").tobytes(),
                        "model": MODEL,
                        "created_at": now,
                    }
                )
            session.execute(insert(Face), rows)
        session.commit()
    engine.dispose()


def run(root: Path, faces: int, dim: int) -> dict[str, float]:
    results: dict[str, float] = {}
    source = Settings(data_dir=root / "source")
    target = Settings(data_dir=root / "target")
    file = root / "gallery.zip"
    with timed(f"build source ({faces} faces)", results):
        make_source(source, faces, dim)
    engine = make_engine(source.db_url)
    with timed("export", results), file.open("wb") as out, Session(engine) as session:
        export_gallery(
            session=session,
            store=ImageStore(source.images_dir),
            out=out,
            now=utcnow(),
            actor=SYSTEM,
        )
    engine.dispose()
    print(f"{'file size':<28} {file.stat().st_size / 2**20:8.1f} MiB")

    upgrade(target.db_url, lock_dir=target.data_dir)
    engine = make_engine(target.db_url)
    runtime = FaceRuntime(_Engine(dim), target)  # type: ignore[arg-type]
    worker = IndexSync(FaissIndex(dim), MODEL)
    with Session(engine, expire_on_commit=False) as session:
        worker.rebuild(session)  # a running worker, empty before the import
        for label in ("import", "import again (nothing new)"):
            with timed(label, results), file.open("rb") as handle:
                report = import_gallery(
                    session=session,
                    store=ImageStore(target.images_dir),
                    runtime=runtime,
                    source=handle,
                    now=utcnow(),
                    actor=SYSTEM,
                )
            print(f"{'':<28} added {report.faces_added}, already here {report.faces_existing}")
        with timed("worker index catch-up", results):
            worker.catch_up(session)
        print(f"{'faces in the worker index':<28} {worker.index.count()}")
    engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'peak RSS (whole run)':<28} {peak:8.0f} MiB")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--keep", type=Path, help="work here and keep the files")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="facerec-gallery-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        run(root, args.faces, args.dim)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
