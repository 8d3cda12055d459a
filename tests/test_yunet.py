"""The YuNet detector (inference/yunet.py) on packaged pictures, checked against dlib's
HOG detector (an independent finder of the same faces). Skipped where ../shared/models is
absent; the NMS runs everywhere."""

from __future__ import annotations

import io
from pathlib import Path

import dlib
import numpy as np
import pytest
from PIL import Image
from skimage import data

from facerec.inference.types import Detection
from facerec.inference.yunet import YuNetDetector, _nms
from tests.conftest import hopper_bytes
from tests.model_files import YUNET_FILE, shared_model


@pytest.fixture(scope="module")
def yunet() -> YuNetDetector:
    return YuNetDetector(shared_model(*YUNET_FILE))


def _hopper() -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(hopper_bytes())).convert("RGB"))


def _iou(a: Detection, b: dlib.rectangle) -> float:
    bx1, by1, bx2, by2 = b.left(), b.top(), b.right() + 1, b.bottom() + 1
    w = max(0.0, min(a.x2, bx2) - max(a.x1, bx1))
    h = max(0.0, min(a.y2, by2) - max(a.y1, by1))
    inter = w * h
    return float(inter / (a.area + (bx2 - bx1) * (by2 - by1) - inter))


@pytest.mark.models
@pytest.mark.parametrize("picture", ["hopper", "astronaut"])
def test_one_face_where_dlib_finds_it_with_its_five_points(
    yunet: YuNetDetector, picture: str
) -> None:
    image = _hopper() if picture == "hopper" else np.ascontiguousarray(data.astronaut())  # type: ignore[no-untyped-call]
    [face] = yunet.faces(image)
    hog = dlib.get_frontal_face_detector()(image, 1)
    assert max(_iou(face.detection, r) for r in hog) > 0.5
    assert face.detection.score > 0.9
    d, p = face.detection, face.points
    assert np.all((p[:, 0] > d.x1) & (p[:, 0] < d.x2) & (p[:, 1] > d.y1) & (p[:, 1] < d.y2))
    assert p[0, 0] < p[2, 0] < p[1, 0]  # eye on the image's left, nose, the other eye
    assert max(p[0, 1], p[1, 1]) < p[2, 1] < min(p[3, 1], p[4, 1])  # eyes, nose, mouth
    assert p[3, 0] < p[4, 0]


@pytest.mark.models
def test_large_and_odd_sized_images_come_back_in_their_own_pixels(yunet: YuNetDetector) -> None:
    image = _hopper()
    [face] = yunet.faces(image)
    big = np.asarray(Image.fromarray(image).resize((1024, 1200)))  # scaled down to 640 inside
    [twice] = yunet.faces(big)
    ours = np.array(face.detection.box(), float)
    assert np.allclose(np.array(twice.detection.box()) / 2, ours, atol=6)
    assert np.allclose(twice.points / 2, face.points, atol=4)
    cut = np.ascontiguousarray(image[101:420, 150:427])  # 319 x 277: not multiples of 32
    [inside] = yunet.faces(cut)
    offset = np.array([150, 101, 150, 101])
    assert np.allclose(np.array(inside.detection.box()) + offset, ours, atol=6)  # 170 px face
    assert yunet.faces(np.zeros((100, 130, 3), np.uint8)) == []


def test_nms_keeps_the_best_of_overlapping_boxes_in_score_order() -> None:
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 10, 10], [0, 5, 10, 10], [50, 50, 4, 4]],
        np.float32,
    )
    scores = np.array([0.8, 0.9, 0.7, 0.75, 0.5], np.float32)
    # 1 first; 0 overlaps it by 81/119 > 0.3: dropped; 3 overlaps 1 by 54/146 > 0.3:
    # dropped; 2 apart: kept; 4 under the score floor
    assert _nms(boxes, scores, 0.6, 0.3, 100) == [1, 2]
    assert _nms(boxes, scores, 0.6, 0.7, 100) == [1, 0, 3, 2]
    assert _nms(boxes, scores, 0.0, 0.3, 1) == [1]


def test_the_input_side_must_be_a_multiple_of_32(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        YuNetDetector(tmp_path / "none.onnx", max_side=600)
