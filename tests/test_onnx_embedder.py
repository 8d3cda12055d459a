"""dlib's descriptor network on ONNX Runtime (``OnnxEmbedder``) against dlib itself.

- the network alone: on chips that dlib cuts, ONNX and dlib descriptors agree;
- the whole path: the embedder's alignment (dlib's chips) + ONNX against dlib's descriptor;
- the reader of dlib's model file, and the cache of the converted model.

Images: Grace Hopper (always), ~20 LFW images and a 24-face group photo (when
``../shared/data`` is there; skipped otherwise).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from numpy.typing import NDArray
from PIL import Image

from facerec.inference.dlib_engine import DlibEngine, model_path
from facerec.inference.dlib_format import (
    Conv,
    DlibFormatError,
    Fc,
    InputRGB,
    Reader,
    parse_net,
    read_net,
)
from facerec.inference.onnx_cache import META_SOURCE, file_sha256
from facerec.inference.onnx_embedder import OnnxEmbedder
from facerec.inference.types import Landmarks, RGBImage
from tests.conftest import hopper_bytes, shared_path

pytestmark = pytest.mark.models
LFW_IMAGES = 20
Faces = list[tuple[RGBImage, list[Landmarks]]]


def _rgb(source: bytes | Path) -> RGBImage:
    data = source if isinstance(source, bytes) else source.read_bytes()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _lfw() -> list[RGBImage]:
    paths = sorted(shared_path("lfw-dev").glob("*/*.jpg"))
    step = max(1, len(paths) // LFW_IMAGES)
    return [_rgb(path) for path in paths[::step][:LFW_IMAGES]]


IMAGE_SETS: dict[str, Callable[[], list[RGBImage]]] = {
    "hopper": lambda: [_rgb(hopper_bytes())],
    "lfw": _lfw,
    "group": lambda: [_rgb(shared_path("faces", "dlib", "faces", "bald_guys.jpg"))],
}


@pytest.fixture(
    scope="module",
    params=[
        "hopper",
        pytest.param("lfw", marks=pytest.mark.shared_data),
        pytest.param("group", marks=pytest.mark.shared_data),
    ],
)
def faces(request: pytest.FixtureRequest, dlib_engine: DlibEngine) -> Faces:
    """Images with the 5-point shapes dlib finds in them."""
    found = []
    for image in IMAGE_SETS[request.param]():
        landmarks = dlib_engine.landmarks(image, dlib_engine.detect(image))
        if landmarks:
            found.append((image, landmarks))
    assert found, "no face found in the test images"
    return found


@pytest.fixture(scope="module")
def dlib_engine() -> DlibEngine:
    """dlib itself, the reference."""
    engine = DlibEngine()
    engine.load()
    return engine


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> OnnxEmbedder:
    onnx_embedder = OnnxEmbedder(tmp_path_factory.mktemp("models"), intra_op_threads=2)
    onnx_embedder.load()
    return onnx_embedder


@pytest.fixture(scope="module")
def dlib_net() -> Any:
    import dlib

    return dlib.face_recognition_model_v1(str(model_path("embedder")))


def _cosine(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float64]:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return np.asarray(
        (a64 * b64).sum(axis=1) / np.linalg.norm(a64, axis=1) / np.linalg.norm(b64, axis=1)
    )


def test_network_matches_dlib_on_dlibs_chips(
    faces: Faces, dlib_engine: DlibEngine, embedder: OnnxEmbedder, dlib_net: Any
) -> None:
    chips = [chip for image, points in faces for chip in dlib_engine.chips(image, points)]
    ours = embedder.embed_chips(np.stack(chips))
    theirs = np.asarray([list(d) for d in dlib_net.compute_face_descriptor(chips)], np.float32)
    assert ours.shape == (len(chips), 128)
    assert _cosine(ours, theirs).min() >= 0.9999
    assert np.abs(ours - theirs).max() < 1e-4


def test_whole_path_matches_dlib(
    faces: Faces, dlib_engine: DlibEngine, embedder: OnnxEmbedder
) -> None:
    ours = np.concatenate([embedder.embed(image, points) for image, points in faces])
    theirs = np.concatenate([dlib_engine.embed(image, points) for image, points in faces])
    assert _cosine(ours, theirs).min() >= 0.999


def test_no_faces_give_an_empty_matrix(embedder: OnnxEmbedder) -> None:
    image = np.zeros((40, 40, 3), dtype=np.uint8)
    assert embedder.embed(image, []).shape == (0, 128)
    assert embedder.model_id == "dlib-resnet-v1"
    assert embedder.active_providers[-1] == "CPUExecutionProvider"


def test_reader_decodes_the_descriptor_network() -> None:
    net = read_net(model_path("embedder"))
    first, last = net.layers[0], net.layers[-1]
    assert isinstance(first, InputRGB)
    assert (first.rows, first.cols) == (150, 150)
    assert first.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-4)
    convs = [layer for layer in net.layers if isinstance(layer, Conv)]
    assert len(convs) == 29
    assert convs[0].weights.shape == (32, 3, 7, 7)
    assert isinstance(last, Fc)
    assert last.weights.shape == (256, 128)
    assert last.bias is None


def test_reader_decodes_dlibs_portable_floats() -> None:
    # mantissa 0xa3d70a, then exponent -28: 0.04 (the metric loss margin in the file)
    assert Reader(bytes([3, 0x0A, 0xD7, 0xA3, 0x81, 28])).real() == pytest.approx(0.04)
    assert Reader(bytes([0x81, 5, 2, 0x01, 0x7D])).real() == -np.inf  # exponent 32001
    assert Reader(bytes([1, 1, 2, 0x00, 0x7C])).real() == np.inf  # 2**31744 overflows


def test_reader_rejects_damaged_files() -> None:
    data = model_path("embedder").read_bytes()
    for damaged in (data[: len(data) // 2], data + b"\x00", b"not a dlib model"):
        with pytest.raises(DlibFormatError):
            parse_net(damaged)


def _cached(directory: Path) -> Path:
    (path,) = directory.glob("*.onnx")
    return path


def test_cache_is_reused_and_rebuilt_when_damaged(tmp_path: Path) -> None:
    chips = np.random.default_rng(0).integers(0, 256, (3, 150, 150, 3), dtype=np.uint8)
    first = OnnxEmbedder(tmp_path, intra_op_threads=1)
    expected = first.embed_chips(chips)
    assert first.from_cache is False
    path = _cached(tmp_path)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta[META_SOURCE] == file_sha256(model_path("embedder"))

    second = OnnxEmbedder(tmp_path, intra_op_threads=1)
    np.testing.assert_array_equal(second.embed_chips(chips), expected)
    assert second.from_cache is True

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped weight byte: still parses
    path.write_bytes(bytes(data))
    for damage in (None, b"garbage"):
        if damage is not None:
            path.write_bytes(damage)
        rebuilt = OnnxEmbedder(tmp_path, intra_op_threads=1)
        np.testing.assert_array_equal(rebuilt.embed_chips(chips), expected)
        assert rebuilt.from_cache is False
        assert _cached(tmp_path) == path


def test_cache_made_from_another_model_file_is_rebuilt(tmp_path: Path) -> None:
    OnnxEmbedder(tmp_path).load()
    path = _cached(tmp_path)
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {META_SOURCE: "0" * 64})
    onnx.save(model, str(path))
    stale = OnnxEmbedder(tmp_path)
    stale.load()
    assert stale.from_cache is False
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta[META_SOURCE] == file_sha256(model_path("embedder"))
