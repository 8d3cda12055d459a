"""Read a PyTorch ``.pth`` state dict into numpy arrays, without importing torch.

Two layouts exist. The zip one (torch >= 1.6) holds ``<name>/data.pkl`` and one file per
storage under ``<name>/data/<key>``; the legacy one (what the ImageNet weight packages
ship) is a stream: a magic number, a protocol version, system info, the state dict's
pickle, the list of storage keys, then each storage as an int64 element count followed
by its raw little-endian bytes. Both pickles refer to storages by "persistent id" and
rebuild tensors through ``torch._utils._rebuild_tensor_v2``.

The unpickler is restricted: it resolves only ``collections.OrderedDict``, the tensor
rebuild functions and the storage types below; anything else in the file (code, other
classes) is refused with :class:`WeightsFormatError`. Tensors are rebuilt with their
stored strides (converted files often keep TensorFlow's layout) and returned C-contiguous.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
StateDict = dict[str, NDArray[Any]]


class WeightsFormatError(ValueError):
    """The file is not a state dict this reader understands."""


@dataclass(frozen=True, slots=True)
class _StorageType:
    dtype: np.dtype[Any]


@dataclass(slots=True)
class _Storage:
    key: str
    dtype: np.dtype[Any]
    size: int
    data: NDArray[Any] | None = None


@dataclass(frozen=True, slots=True)
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: _Storage, offset: int, shape: Any, stride: Any, *_: Any) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(shape), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in {"_rebuild_tensor", "_rebuild_tensor_v2"}:
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        raise WeightsFormatError(f"refusing to load {module}.{name} from a weights file")

    def persistent_load(self, pid: Any) -> _Storage:
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise WeightsFormatError(f"unexpected persistent id {pid!r}")
        kind, key, _location, size = pid[1], str(pid[2]), pid[3], int(pid[4])
        if not isinstance(kind, _StorageType):
            raise WeightsFormatError(f"unexpected storage type {kind!r}")
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(key, kind.dtype, size)
        return storage


def read_state_dict(path: Path) -> StateDict:
    """The tensors of the state dict at ``path``, by name, as C-contiguous numpy arrays."""
    try:
        if zipfile.is_zipfile(path):
            return _read_zip(path)
        with path.open("rb") as handle:
            return _read_legacy(handle)
    except WeightsFormatError:
        raise
    except (OSError, EOFError, pickle.UnpicklingError, struct.error, KeyError, ValueError) as exc:
        raise WeightsFormatError(f"{path.name} is not a readable state dict: {exc}") from exc


def _read_legacy(handle: IO[bytes]) -> StateDict:
    restricted = _Unpickler(handle, {})
    if restricted.load() != LEGACY_MAGIC:
        raise WeightsFormatError("not a PyTorch weights file (bad magic number)")
    restricted.load()  # protocol version
    info = restricted.load()
    if isinstance(info, dict) and not info.get("little_endian", True):
        raise WeightsFormatError("big-endian weights files are not supported")
    storages: dict[str, _Storage] = {}
    tree = _Unpickler(handle, storages).load()
    keys = _Unpickler(handle, {}).load()
    for key in keys:
        storage = storages[str(key)]
        (count,) = struct.unpack("<q", _exactly(handle, 8))
        raw = _exactly(handle, count * storage.dtype.itemsize)
        storage.data = np.frombuffer(raw, dtype=storage.dtype, count=count)
    return _tensors(tree)


def _read_zip(path: Path) -> StateDict:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise WeightsFormatError("a zip weights file holds exactly one data.pkl")
        prefix = pickles[0][: -len("data.pkl")]
        storages: dict[str, _Storage] = {}
        tree = _Unpickler(io.BytesIO(archive.read(pickles[0])), storages).load()
        for storage in storages.values():
            raw = archive.read(f"{prefix}data/{storage.key}")
            storage.data = np.frombuffer(raw, dtype=storage.dtype, count=storage.size)
    return _tensors(tree)


def _exactly(handle: IO[bytes], size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise WeightsFormatError("the weights file is truncated")
    return data


def _tensors(tree: Any) -> StateDict:
    if isinstance(tree, dict) and "state_dict" in tree and isinstance(tree["state_dict"], dict):
        tree = tree["state_dict"]
    if not isinstance(tree, dict):
        raise WeightsFormatError("the file holds no state dict")
    return {
        str(name): _materialise(ref) for name, ref in tree.items() if isinstance(ref, _TensorRef)
    }


def _materialise(ref: _TensorRef) -> NDArray[Any]:
    data = ref.storage.data
    if data is None:
        raise WeightsFormatError(f"storage {ref.storage.key} has no data")
    needed = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride, strict=True))
    if any(n == 0 for n in ref.shape):
        return np.zeros(ref.shape, dtype=data.dtype)
    if ref.offset < 0 or needed >= len(data) or any(s < 0 for s in ref.stride):
        raise WeightsFormatError(f"a tensor reaches outside storage {ref.storage.key}")
    item = data.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        data[ref.offset :], shape=ref.shape, strides=tuple(s * item for s in ref.stride)
    )
    return np.ascontiguousarray(view)
