"""The numpy shape predictor against dlib's own, on the same rectangles.

dlib is only the reference here; :mod:`facerec.inference.shape_predictor` never imports it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from facerec.inference.dlib_engine import DlibEngine, model_path
from facerec.inference.shape_predictor import (
    NumpyLandmarker,
    ShapeModel,
    ShapePredictorFormatError,
    decode_integers,
    default_model,
    dlib_rects,
    parse_shape_predictor,
    to_floats,
)
from facerec.inference.types import Detection, RGBImage
from tests.conftest import hopper_bytes, shared_path

pytestmark = pytest.mark.models
LFW_IMAGES = 20
TOLERANCE_PX = 1.0


@pytest.fixture(scope="module")
def model() -> ShapeModel:
    return default_model()


@pytest.fixture(scope="module")
def dlib_predictor() -> Any:
    import dlib

    return dlib.shape_predictor(str(model_path("landmarks")))


@pytest.fixture(scope="module")
def detector() -> DlibEngine:
    return DlibEngine()


def _hopper() -> RGBImage:
    return np.asarray(Image.open(io.BytesIO(hopper_bytes())).convert("RGB"))


def _lfw_images() -> list[RGBImage]:
    """The first image of each of the first LFW-dev identities, in sorted order."""
    root = shared_path("lfw-dev")
    people = sorted(p for p in root.iterdir() if p.is_dir())[:LFW_IMAGES]
    paths = [sorted(person.glob("*.jpg"))[0] for person in people]
    return [np.asarray(Image.open(path).convert("RGB")) for path in paths]


def _dlib_points(predictor: Any, image: RGBImage, dets: Sequence[Detection]) -> list[NDArray[Any]]:
    import dlib

    shapes = [predictor(image, dlib.rectangle(*map(int, r))) for r in dlib_rects(dets)]
    return [np.array([(p.x, p.y) for p in s.parts()], dtype=np.float32) for s in shapes]


def _max_difference(
    model: ShapeModel, predictor: Any, image: RGBImage, dets: Sequence[Detection]
) -> float:
    ours = NumpyLandmarker(model).landmarks(image, dets)
    theirs = _dlib_points(predictor, image, dets)
    assert len(ours) == len(theirs) == len(dets)
    for points in ours:
        assert points.shape == (5, 2)
        assert points.dtype == np.float32
    return max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs, strict=True))


def _shifted(det: Detection, dx: float, dy: float, scale: float) -> Detection:
    side_x, side_y = det.width * scale, det.height * scale
    x1, y1 = det.x1 + dx * det.width, det.y1 + dy * det.height
    return Detection(x1, y1, x1 + side_x, y1 + side_y, det.score)


# -- reading ---------------------------------------------------------------------------------
def test_integers_and_floats_decode_like_dlib() -> None:
    data = bytes([0x01, 0x00, 0x01, 0x07, 0x81, 0x0A, 0x02, 0x34, 0x12, 0x83, 0x01, 0x00, 0x01])
    assert decode_integers(data).tolist() == [0, 7, -10, 0x1234, -0x010001]
    mantissa = np.array([3, -5, 1, 1, 1, 0], dtype=np.int64)
    exponent = np.array([-1, 2, 32000, 32001, 32002, -3], dtype=np.int64)
    values = to_floats(mantissa, exponent)
    assert values.dtype == np.float32
    assert values[:2].tolist() == [1.5, -20.0]
    assert values[2] == np.inf and values[3] == -np.inf and np.isnan(values[4])
    assert values[5] == 0.0


@pytest.mark.parametrize("data", [b"\x02\x01", b"\x30", b"\x00", b"\x01\x02\x01\x00"])
def test_bad_files_are_refused(data: bytes) -> None:
    with pytest.raises(ShapePredictorFormatError):
        parse_shape_predictor(data)


def test_the_model_has_the_expected_layout(model: ShapeModel) -> None:
    assert model.initial_shape.shape == (5, 2)
    assert np.all((model.initial_shape > 0) & (model.initial_shape < 1))
    assert len(model.cascades) == 15
    for cascade in model.cascades:
        assert cascade.idx1.shape == cascade.thresh.shape == (500, 15)
        assert cascade.leaves.shape == (500, 16, 5, 2)
        assert cascade.depth == 4
        assert cascade.anchor.shape == (800,) and cascade.deltas.shape == (800, 2)


# -- parity with dlib ------------------------------------------------------------------------
def test_detected_faces_match_dlib_on_hopper(
    model: ShapeModel, dlib_predictor: Any, detector: DlibEngine
) -> None:
    image = _hopper()
    dets = detector.detect(image)
    assert len(dets) == 1
    assert _max_difference(model, dlib_predictor, image, dets) <= TOLERANCE_PX
    # the same rectangle as the dlib engine builds from a Detection
    (ours,) = NumpyLandmarker(model).landmarks(image, dets)
    (engine,) = detector.landmarks(image, dets)
    assert float(np.abs(ours - engine).max()) <= TOLERANCE_PX


def test_rectangles_follow_the_dlib_engine() -> None:
    det = Detection(10.4, 20.5, 30.6, 41.5, 1.0)  # Python rounds halves to even
    assert dlib_rects([det]).tolist() == [[10, 20, 30, 41]]
    assert dlib_rects([]).shape == (0, 4)


@pytest.mark.shared_data
def test_detected_faces_match_dlib_on_lfw(
    model: ShapeModel, dlib_predictor: Any, detector: DlibEngine
) -> None:
    worst, faces = 0.0, 0
    for image in _lfw_images():
        dets = detector.detect(image)
        faces += len(dets)
        if dets:
            worst = max(worst, _max_difference(model, dlib_predictor, image, dets))
    assert faces >= LFW_IMAGES * 3 // 4
    assert worst <= TOLERANCE_PX


def test_boxes_partly_or_wholly_outside_the_image_match_dlib(
    model: ShapeModel, dlib_predictor: Any, detector: DlibEngine
) -> None:
    image = _hopper()
    (face,) = detector.detect(image)
    boxes = [
        _shifted(face, dx, dy, scale)
        for dx in (-1.2, -0.5, 0.0, 0.6, 1.4)
        for dy in (-0.9, 0.0, 1.7)
        for scale in (0.3, 1.0, 2.5)
    ]
    boxes.append(Detection(-50.0, -40.0, 700.0, 800.0, 1.0))  # larger than the image
    boxes.append(Detection(10.4, 20.5, 11.5, 21.6, 1.0))  # a one-pixel box
    assert _max_difference(model, dlib_predictor, image, boxes) <= TOLERANCE_PX


def test_grayscale_images_match_dlib(
    model: ShapeModel, dlib_predictor: Any, detector: DlibEngine
) -> None:
    image = _hopper()
    dets = detector.detect(image)
    gray = np.ascontiguousarray(image.astype(np.uint16).sum(axis=2) // 3, dtype=np.uint8)
    assert _max_difference(model, dlib_predictor, gray, dets) <= TOLERANCE_PX


def test_subpixel_points_round_to_dlibs(
    model: ShapeModel, dlib_predictor: Any, detector: DlibEngine
) -> None:
    image = _hopper()
    dets = detector.detect(image)
    (points,) = NumpyLandmarker(model, subpixel=True).landmarks(image, dets)
    (reference,) = _dlib_points(dlib_predictor, image, dets)
    assert np.any(points != np.round(points))
    assert float(np.abs(points - reference).max()) <= 0.5 + 1e-3


def test_no_detections_give_no_landmarks(model: ShapeModel) -> None:
    assert NumpyLandmarker(model).landmarks(_hopper(), []) == []


def test_truncated_model_files_are_refused() -> None:
    data = model_path("landmarks").read_bytes()
    for end in (1, 30, 5000, len(data) // 2, len(data) - 3):
        with pytest.raises(ShapePredictorFormatError):
            parse_shape_predictor(data[:end])


def test_other_pixel_formats_are_refused(model: ShapeModel) -> None:
    box = [Detection(0, 0, 10, 10, 1.0)]
    for image in (np.zeros((20, 20, 4), np.uint8), np.zeros((20, 20, 3), np.float32)):
        with pytest.raises(ValueError, match="8-bit"):
            NumpyLandmarker(model).landmarks(image, box)  # type: ignore[arg-type]
