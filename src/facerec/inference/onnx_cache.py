"""The converted-model cache shared by every ONNX conversion, and provider choice.

A converted model lives in ``<cache_dir>/<source stem>-<sha[:16]>.onnx``. Its metadata
ties it to the source file's SHA-256 and the converter's version, and carries a digest
of its weights; a cached file whose metadata or weights do not match is rebuilt.
Files are written atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import onnx
import onnxruntime as ort

log = logging.getLogger(__name__)

META_SOURCE = "facerec.source_sha256"
META_CONVERTER = "facerec.converter_version"
META_WEIGHTS = "facerec.weights_sha256"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def weights_sha256(model: onnx.ModelProto) -> str:
    """A digest of every initializer's name and bytes (what a bit flip would change)."""
    digest = hashlib.sha256()
    for tensor in model.graph.initializer:
        digest.update(tensor.name.encode())
        digest.update(tensor.raw_data)
    return digest.hexdigest()


def cache_file(cache_dir: Path, source: Path, source_hash: str) -> Path:
    return cache_dir / f"{source.stem}-{source_hash[:16]}.onnx"


def stamp(model: onnx.ModelProto, metadata: Mapping[str, str]) -> onnx.ModelProto:
    """Record ``metadata`` and the weights' digest in the model."""
    onnx.helper.set_model_props(model, {**metadata, META_WEIGHTS: weights_sha256(model)})
    return model


def is_verified(data: bytes, expected: Mapping[str, str]) -> bool:
    """Whether cached bytes parse, carry every ``expected`` metadata value, and have
    the weights their digest says."""
    try:
        model = onnx.load_model_from_string(data)
    except Exception:  # protobuf raises several kinds on corrupt input
        return False
    meta = {prop.key: prop.value for prop in model.metadata_props}
    return all(meta.get(k) == v for k, v in expected.items()) and meta.get(
        META_WEIGHTS
    ) == weights_sha256(model)


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_or_convert(
    path: Path, expected: Mapping[str, str], convert: Callable[[], onnx.ModelProto]
) -> tuple[bytes, bool]:
    """The serialized model at ``path`` if it verifies, else ``convert()`` written there;
    and whether the cached file was used."""
    if path.is_file():
        cached = path.read_bytes()
        if is_verified(cached, expected):
            return cached, True
        log.warning("rebuilding %s: corrupt or made from another model file", path)
    data = convert().SerializeToString()
    write_atomic(path, data)
    log.info("converted a model to %s", path)
    return data, False


def default_providers() -> list[str]:
    """CUDA first when this onnxruntime build has it, then the CPU."""
    available = set(ort.get_available_providers())
    wanted = ("CUDAExecutionProvider", "CPUExecutionProvider")
    return [name for name in wanted if name in available]
