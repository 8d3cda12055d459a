"""The rows of a saved vector matrix, read with ``pread`` when asked, never mapped.

A saved approximate index keeps every face's exact vector in ``vectors.npy`` (512 MB at
a million 128-d faces), from which each search scores its few hundred candidates again.
Memory-mapped, the file's pages stay mapped in every worker once read, and candidates
fall all over it: within a few hundred searches a worker maps nearly all of it, and its
RSS counts all of it (over 1 GB per worker at 1M faces with ``bench/scale.py``; a
``MADV_RANDOM`` hint did not change that, see the README). Read with ``pread``, the
pages live once in the host's page cache, shared by every worker and in none's RSS; a
row costs a system call (a few microseconds) and adjacent rows share one.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

DTYPE = np.dtype("<f4")


class VectorFile:
    """A 2-D little-endian float32 ``.npy`` file (C order), opened once."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran_order, dtype = read_header(f)
            self.offset = f.tell()
        if dtype != DTYPE or fortran_order or len(shape) != 2:
            raise ValueError(f"{path.name}: {dtype} {shape}, not C-order float32 rows")
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.row_bytes = self.shape[1] * DTYPE.itemsize
        if path.stat().st_size != self.offset + self.shape[0] * self.row_bytes:
            raise ValueError(f"{path.name} does not hold {self.shape[0]} rows (torn)")
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)
        os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_RANDOM)  # no readahead around rows

    def __len__(self) -> int:
        return self.shape[0]

    def take(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """The vectors of ``rows`` (any order, repeats allowed), one row each."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        if not len(rows):
            return out
        order = np.argsort(rows, kind="stable")
        ascending = rows[order]
        if ascending[0] < 0 or ascending[-1] >= len(self):
            raise IndexError(f"rows {ascending[0]}..{ascending[-1]} of {len(self)}")
        read = np.empty_like(out)
        starts = np.flatnonzero(np.diff(ascending, prepend=-2) != 1)  # runs of adjacent rows
        for start, end in zip(starts.tolist(), [*starts[1:].tolist(), len(rows)], strict=True):
            self._read(int(ascending[start]), read[start:end])
        out[order] = read
        return out

    def whole(self) -> NDArray[np.float32]:
        """Every row, in order."""
        out = np.empty(self.shape, dtype=np.float32)
        self._read(0, out)
        return out

    def _read(self, first_row: int, into: NDArray[np.float32]) -> None:
        view = memoryview(into.data).cast("B")
        position = self.offset + first_row * self.row_bytes
        while len(view):
            count = os.preadv(self._fd, [view], position)
            if count == 0:
                raise OSError(f"vector file ended at byte {position}")
            view = view[count:]
            position += count
