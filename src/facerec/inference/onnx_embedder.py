"""dlib's face descriptor network (``dlib-resnet-v1``) on ONNX Runtime, without dlib.

The ``.onnx`` file is made from dlib's own ``.dat`` at first use
(:mod:`~facerec.inference.dlib_format` reads it, :mod:`~facerec.inference.onnx_graph`
builds the graph) and cached in a directory the caller chooses, named and tagged by the
SHA-256 of the ``.dat``. On load the cache is checked (source hash, converter version,
and a digest of every weight, all in ``metadata_props``); a missing, corrupt or stale file
is rebuilt, written atomically. The descriptors are dlib's, to float rounding, so the model
id stays ``dlib-resnet-v1`` and stored vectors remain comparable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray

from facerec.inference.dlib_align import dlib_chips
from facerec.inference.dlib_engine import EMBEDDER_MODEL_ID, model_path
from facerec.inference.dlib_format import read_net
from facerec.inference.onnx_cache import (
    META_CONVERTER,
    META_SOURCE,
    cache_file,
    cached_or_convert,
    default_providers,
    file_sha256,
    is_verified,
    stamp,
)
from facerec.inference.onnx_graph import INPUT_NAME, OUTPUT_NAME, build_model
from facerec.inference.types import Landmarks, RGBImage

log = logging.getLogger(__name__)

CONVERTER_VERSION = "2"
"""Bump when the conversion changes: older cached files are then rebuilt."""


def convert(source: Path, source_hash: str) -> onnx.ModelProto:
    """The ONNX model for a dlib ``.dat``, with the metadata that ties it to its source."""
    metadata = {
        **_expected(source_hash),
        "facerec.source_name": source.name,
        "facerec.model_id": EMBEDDER_MODEL_ID,
    }
    return stamp(build_model(read_net(source)), metadata)


def _expected(source_hash: str) -> dict[str, str]:
    return {META_SOURCE: source_hash, META_CONVERTER: CONVERTER_VERSION}


def verified_model(data: bytes, source_hash: str) -> bool:
    """Whether cached bytes parse and carry the expected source hash and weights."""
    return is_verified(data, _expected(source_hash))


def load_or_convert(source: Path, cache_dir: Path) -> tuple[bytes, bool]:
    """The serialized ONNX model for ``source``, and whether it came from the cache."""
    source_hash = file_sha256(source)
    path = cache_file(cache_dir, source, source_hash)
    return cached_or_convert(path, _expected(source_hash), lambda: convert(source, source_hash))


class OnnxEmbedder:
    """The :class:`~facerec.inference.types.Embedder` of dlib's ResNet on ONNX Runtime.

    ``cache_dir`` holds the converted model (FaceRec passes ``<data_dir>/models``).
    Thread counts of 0 let onnxruntime choose. ``max_batch`` bounds how many chips run
    at once. The session is made on first use (or by :meth:`load`) and is shared by
    threads, which onnxruntime allows.
    """

    model_id = EMBEDDER_MODEL_ID
    dim = 128

    def __init__(
        self,
        cache_dir: Path,
        source: Path | None = None,
        *,
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
        providers: Sequence[str] | None = None,
        max_batch: int = 64,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.source = source
        self.intra_op_threads = intra_op_threads
        self.inter_op_threads = inter_op_threads
        self.providers = list(providers) if providers is not None else default_providers()
        self.max_batch = max(1, max_batch)
        self.from_cache: bool | None = None
        """After loading: True when the cached ``.onnx`` was used as it was."""
        self._session: ort.InferenceSession | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Convert or verify the cached model and open the session (idempotent)."""
        with self._lock:
            if self._session is not None:
                return
            source = self.source or model_path("embedder")
            data, self.from_cache = load_or_convert(source, self.cache_dir)
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.intra_op_threads
            options.inter_op_num_threads = self.inter_op_threads
            # no busy-waiting between calls: the CPU goes to other requests and workers
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(data, options, providers=self.providers)

    @property
    def active_providers(self) -> list[str]:
        """The providers the session actually runs on."""
        self.load()
        assert self._session is not None
        return list(self._session.get_providers())

    def embed_chips(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Descriptors for aligned ``n x 150 x 150 x 3`` RGB chips."""
        self.load()
        assert self._session is not None
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = np.ascontiguousarray(chips, dtype=np.uint8)
        parts = [
            self._session.run([OUTPUT_NAME], {INPUT_NAME: batch[i : i + self.max_batch]})[0]
            for i in range(0, len(batch), self.max_batch)
        ]
        return np.concatenate(parts).astype(np.float32, copy=False)

    def align(self, image: RGBImage, landmarks: Sequence[Landmarks]) -> NDArray[np.uint8]:
        """dlib's 150x150 chips for dlib's 5-point shapes."""
        return dlib_chips(image, landmarks)

    def embed(self, image: RGBImage, landmarks: Sequence[Landmarks]) -> NDArray[np.float32]:
        """Descriptors, one row per face, aligned the way dlib aligns them."""
        if not landmarks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_chips(self.align(image, landmarks))
