"""A saved index's vectors, read a row at a time with pread (``index/vector_file.py``):
the same rows as the array, a wrong or torn file refused, and never memory-mapped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from facerec.index.approx import ApproxIndex
from facerec.index.base import CENTROID_OFFSET
from facerec.index.frozen import freeze
from facerec.index.saved import SavedIndexes
from facerec.index.vector_file import VectorFile

DIM = 16


def _unit(count: int, seed: int) -> NDArray[np.float32]:
    x = np.random.default_rng(seed).normal(size=(count, DIM))
    unit: NDArray[np.float32] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return unit


@pytest.fixture
def rows(tmp_path: Path) -> tuple[NDArray[np.float32], VectorFile]:
    array = _unit(500, seed=1)
    np.save(tmp_path / "vectors.npy", array)
    return array, VectorFile(tmp_path / "vectors.npy")


def test_rows_in_any_order_with_repeats_and_runs(
    rows: tuple[NDArray[np.float32], VectorFile],
) -> None:
    array, file = rows
    wanted = np.asarray([499, 3, 4, 5, 0, 3, 250, 251, 499, 17], dtype=np.int64)
    assert np.array_equal(file.take(wanted), array[wanted])
    assert file.take(np.zeros(0, dtype=np.int64)).shape == (0, DIM)
    assert np.array_equal(file.whole(), array)
    assert len(file) == 500 and file.shape == (500, DIM)


def test_rows_outside_the_file_are_refused(rows: tuple[NDArray[np.float32], VectorFile]) -> None:
    _, file = rows
    with pytest.raises(IndexError):
        file.take(np.asarray([2, 500]))
    with pytest.raises(IndexError):
        file.take(np.asarray([-1]))


def test_a_foreign_or_torn_file_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "doubles.npy", _unit(10, seed=2).astype(np.float64))
    np.save(tmp_path / "column.npy", np.asfortranarray(_unit(10, seed=2)))
    np.save(tmp_path / "flat.npy", _unit(10, seed=2).reshape(-1))
    for name in ("doubles", "column", "flat"):
        with pytest.raises(ValueError, match="not C-order float32 rows"):
            VectorFile(tmp_path / f"{name}.npy")
    torn = tmp_path / "torn.npy"
    np.save(torn, _unit(10, seed=2))
    torn.write_bytes(torn.read_bytes()[:-4])
    with pytest.raises(ValueError, match="torn"):
        VectorFile(torn)


def _mapped_files() -> set[str]:
    lines = Path("/proc/self/maps").read_text().splitlines()
    return {Path(parts[5]).name for parts in (line.split() for line in lines) if len(parts) > 5}


def test_a_loaded_index_reads_its_vectors_without_mapping_them(tmp_path: Path) -> None:
    vectors = _unit(400, seed=3)
    faces = np.arange(1, 401, dtype=np.int64)
    people = 1 + np.arange(400, dtype=np.int64) % 150  # two or three faces each
    saved = SavedIndexes(tmp_path / "index")
    saved.save(freeze(faces, people, vectors), generation=1, model="m")
    found = saved.load(model="m", dim=DIM)
    assert found is not None and isinstance(found.base.vectors, VectorFile)
    index = ApproxIndex(DIM, found.base, nprobe=64)
    probes = _unit(20, seed=4)
    answers = index.search_people(probes, 3)
    assert "vectors.npy" not in _mapped_files() and "faces.faiss" in _mapped_files()
    for probe, hits in zip(probes, answers, strict=True):  # exact scores, from the file
        for hit in hits:  # everyone has two or three faces: scored by their centroid
            mine = vectors[people == hit.person_id].astype(np.float64)
            mean = mine.sum(axis=0) / np.linalg.norm(mine.sum(axis=0))
            expected = float(mean @ probe) - CENTROID_OFFSET * (1 - 1 / len(mine))
            assert hit.similarity == pytest.approx(min(1.0, max(0.0, expected)), abs=1e-5)
            assert people[hit.face_id - 1] == hit.person_id
    again = saved.save(found.base, generation=2, model="m")  # a loaded base saved anew
    assert np.array_equal(np.load(saved.dir / again / "vectors.npy"), vectors)
