"""dlib's MMOD CNN face detector on ONNX Runtime (``OnnxMmodDetector``) against dlib itself.

- boxes: on Grace Hopper and five group photos from ``../shared/data`` (skipped when
  absent), every box ``dlib.cnn_face_detection_model_v1(path)(image, 0)`` finds has one of
  ours with IoU >= 0.9 and a confidence within 0.05, and the other way round;
- small faces: dlib's ``upsample`` and FaceRec's scale policy find a ~50 px face that the
  network alone misses, as dlib and ``DlibEngine`` do;
- the reader of the detector file, the pyramid tiling, and the cache of the ONNX model;
- at run time nothing imports dlib.

The CNN is slow on CPU in dlib (seconds per photo), so photos are downscaled to at most
``MAX_SIDE`` pixels first, the same pixels going to both detectors.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from facerec.config import DetectorSettings
from facerec.inference.dlib_engine import DlibEngine, model_path
from facerec.inference.dlib_format import Affine, Conv, DlibFormatError, Relu
from facerec.inference.mmod_format import BoxOverlap, parse_mmod, read_mmod, receptive_mapping
from facerec.inference.onnx_cache import cache_file
from facerec.inference.onnx_detector import OnnxMmodDetector, pyramid_rects, verified_model
from facerec.inference.types import Detection, RGBImage
from tests.conftest import hopper_bytes, shared_path

pytestmark = pytest.mark.models
MAX_SIDE = 1000
MIN_IOU = 0.9
SCORE_TOLERANCE = 0.05
SHARED_PHOTOS = {
    "two_people": ("faces", "face_recognition", "examples", "two_people.jpg"),
    "obama_and_biden": (
        *("faces", "face_recognition", "examples", "knn_examples", "test"),
        "obama_and_biden.jpg",
    ),
    "2008_001322": ("faces", "dlib", "faces", "2008_001322.jpg"),
    "2009_004587": ("faces", "dlib", "faces", "2009_004587.jpg"),
    "obama_small": ("faces", "face_recognition", "examples", "obama_small.jpg"),
}


def _rgb(data: bytes) -> RGBImage:
    """Decoded, and downscaled (bilinear) when its longer side exceeds ``MAX_SIDE``."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    longest = max(image.size)
    if longest > MAX_SIDE:
        width, height = (max(1, round(side * MAX_SIDE / longest)) for side in image.size)
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image)


def _hopper(size: tuple[int, int] | None = None) -> RGBImage:
    image = Image.open(io.BytesIO(hopper_bytes())).convert("RGB")
    if size is not None:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-detector")


@pytest.fixture(scope="module")
def detector(cache_dir: Path) -> OnnxMmodDetector:
    found = OnnxMmodDetector(cache_dir)
    found.load()
    return found


@pytest.fixture(scope="module")
def dlib_cnn() -> Any:
    dlib = pytest.importorskip("dlib")
    return dlib.cnn_face_detection_model_v1(str(model_path("cnn")))


def _dlib_detections(dlib_cnn: Any, image: RGBImage, upsample: int = 0) -> list[Detection]:
    return [
        Detection(
            x1=d.rect.left(),
            y1=d.rect.top(),
            x2=d.rect.right() + 1,
            y2=d.rect.bottom() + 1,
            score=float(d.confidence),
        )
        for d in dlib_cnn(image, upsample)
    ]


def _iou(a: Detection, b: Detection) -> float:
    w = min(a.x2, b.x2) - max(a.x1, b.x1)
    h = min(a.y2, b.y2) - max(a.y1, b.y1)
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / (a.area + b.area - w * h)


def _unmatched(ours: list[Detection], theirs: list[Detection]) -> list[Detection]:
    """Boxes of ``ours`` with no box of ``theirs`` at IoU >= 0.9 and a close confidence.

    A box scoring within the tolerance of dlib's threshold (0) may be missing on the
    other side: its twin there may score just under it."""
    return [
        a
        for a in ours
        if a.score > SCORE_TOLERANCE
        and not any(
            _iou(a, b) >= MIN_IOU and abs(a.score - b.score) <= SCORE_TOLERANCE for b in theirs
        )
    ]


def _assert_same(ours: list[Detection], theirs: list[Detection]) -> None:
    assert not _unmatched(theirs, ours), f"dlib found {theirs}, we found {ours}"
    assert not _unmatched(ours, theirs), f"we found {ours}, dlib found {theirs}"


PHOTOS = [
    pytest.param("hopper", id="hopper"),
    *(pytest.param(name, id=name, marks=pytest.mark.shared_data) for name in SHARED_PHOTOS),
]


@pytest.mark.parametrize("name", PHOTOS)
def test_boxes_match_dlib(name: str, detector: OnnxMmodDetector, dlib_cnn: Any) -> None:
    if name == "hopper":
        image = _rgb(hopper_bytes())
    else:
        image = _rgb(shared_path(*SHARED_PHOTOS[name]).read_bytes())
    theirs = _dlib_detections(dlib_cnn, image)
    ours = detector.detect(image)
    assert theirs, "dlib finds no face in this photo: it tests nothing"
    _assert_same(ours, theirs)


def test_small_faces_need_upsampling(detector: OnnxMmodDetector, dlib_cnn: Any) -> None:
    """A ~50 px face: missed at scale 1, found with ``upsample=1`` (as dlib finds it)
    and with a scale of 2."""
    image = _hopper((154, 180))
    assert detector.detect(image) == []
    assert _dlib_detections(dlib_cnn, image) == []
    upsampled = [
        Detection(x1=left, y1=top, x2=right + 1, y2=bottom + 1, score=d.confidence)
        for d in detector.scan(image, upsample=1)
        for left, top, right, bottom in [d.rect]
    ]
    theirs = _dlib_detections(dlib_cnn, image, upsample=1)
    assert len(theirs) == 1
    _assert_same(upsampled, theirs)

    scaled = OnnxMmodDetector(detector.cache_dir, scale=2.0).detect(image)
    assert len(scaled) == 1
    assert _iou(scaled[0], theirs[0]) > 0.7
    assert 40 <= scaled[0].width <= 70


def test_settings_policy_matches_dlib_engine(detector: OnnxMmodDetector) -> None:
    """``from_settings`` finds what ``DlibEngine`` finds with the same settings."""
    settings = DetectorSettings(model="cnn", min_face_px=40)
    image = _hopper((154, 180))
    theirs = DlibEngine(settings).detect(image)
    ours = OnnxMmodDetector.from_settings(detector.cache_dir, settings).detect(image)
    assert len(theirs) == 1
    _assert_same(ours, theirs)


def test_nothing_in_noise_tiny_or_grey_images(detector: OnnxMmodDetector) -> None:
    rng = np.random.default_rng(0)
    assert detector.detect(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)) == []
    for shape in [(1, 1, 3), (4, 30, 3), (30, 4, 3), (0, 0, 3)]:
        assert detector.detect(np.zeros(shape, dtype=np.uint8)) == []
    grey = np.asarray(Image.fromarray(_hopper()).convert("L"))
    (face,) = detector.detect(grey)
    assert face.score > 0.5
    with pytest.raises(ValueError, match="RGB"):
        detector.detect(np.zeros((20, 20, 4), dtype=np.uint8))


# -- the model file --------------------------------------------------------------------------
def test_reader_gets_options_input_and_layers() -> None:
    net = read_mmod(model_path("cnn"))
    (window,) = net.options.detector_windows
    assert (window.width, window.height) == (80, 80)
    assert net.options.overlaps_nms.iou_thresh == pytest.approx(0.338, abs=1e-3)
    assert net.options.overlaps_nms.percent_covered_thresh == 1.0
    assert not net.options.use_bounding_box_regression
    assert (net.input.padding, net.input.outer_padding) == (10, 11)
    assert net.input.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-4)
    kinds = [type(layer) for layer in net.layers]
    assert kinds == [Conv, Affine, Relu] * 6 + [Conv]
    convs = [layer for layer in net.layers if isinstance(layer, Conv)]
    assert [c.weights.shape[0] for c in convs] == [16, 32, 32, 45, 45, 45, 1]
    assert receptive_mapping(net.layers) == (8.0, 14.0, 8.0, 14.0)


def test_reader_rejects_other_files() -> None:
    data = model_path("cnn").read_bytes()
    with pytest.raises(DlibFormatError):
        parse_mmod(data[:-100])
    with pytest.raises(DlibFormatError):
        parse_mmod(data + b"\x00")
    with pytest.raises(DlibFormatError, match="not an MMOD detector"):
        parse_mmod(model_path("embedder").read_bytes())


def test_box_overlap_is_dlibs() -> None:
    """dlib's NMS test divides by the box bounding both rectangles, not their union."""
    nms = BoxOverlap(0.3)
    a = (0, 0, 9, 9)
    assert not nms(a, (10, 0, 19, 9))  # touching, no overlap
    assert nms(a, (5, 0, 14, 9))  # 50 / 150
    assert not nms(a, (5, 5, 14, 14))  # 25 / 225 (true IoU 25 / 175)
    assert not nms(a, (3, 3, 12, 12))  # 49 / 169, though the true IoU is 49 / 151 > 0.3
    assert nms(a, (0, 0, 7, 7))  # 64 / 100
    assert not nms(a, (2, 2, 5, 5))  # inside: 16 / 100, and 100% covered is not > 1.0
    assert BoxOverlap(0.3, 0.9)(a, (2, 2, 5, 5))


@pytest.mark.parametrize(("rows", "cols"), [(480, 640), (250, 250), (600, 512), (40, 900)])
def test_pyramid_levels_tile_without_overlap(rows: int, cols: int) -> None:
    """Level sizes shrink by 5/6 and no two tiles overlap (dlib's layout)."""
    rects, total_rows, total_cols = pyramid_rects(rows, cols, padding=10, outer_padding=11)
    assert rects[0] == (11, 11, 11 + cols - 1, 11 + rows - 1)
    height, width = rows, cols
    for index, (left, top, right, bottom) in enumerate(rects):
        if index:
            height, width = height * 5 // 6, width * 5 // 6
        assert (bottom - top + 1, right - left + 1) == (height, width)
        assert 11 <= left <= right < total_cols - 10
        assert 11 <= top <= bottom < total_rows - 10
        for other in rects[:index]:  # (dlib only keeps the second column off the first tile)
            assert right < other[0] or other[2] < left or bottom < other[1] or other[3] < top


# -- the cache, and no dlib ------------------------------------------------------------------
def test_cache_is_reused_and_rebuilt_when_corrupt(tmp_path: Path) -> None:
    source = model_path("cnn")
    first = OnnxMmodDetector(tmp_path)
    first.load()
    assert first.from_cache is False
    (cached,) = tmp_path.glob("*.onnx")
    assert cached.name.startswith("mmod_human_face_detector-")

    again = OnnxMmodDetector(tmp_path)
    again.load()
    assert again.from_cache is True

    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped bit in the weights
    cached.write_bytes(bytes(data))
    source_hash = hashlib.sha256(source.read_bytes()).hexdigest()
    assert cache_file(tmp_path, source, source_hash) == cached
    assert not verified_model(cached.read_bytes(), source_hash)
    rebuilt = OnnxMmodDetector(tmp_path)
    assert len(rebuilt.detect(_hopper((256, 300)))) == 1
    assert rebuilt.from_cache is False
    assert verified_model(cached.read_bytes(), source_hash)

    cached.write_bytes(b"not a model")
    truncated = OnnxMmodDetector(tmp_path)
    truncated.load()
    assert truncated.from_cache is False


def test_runs_without_dlib(detector: OnnxMmodDetector) -> None:
    """Detection needs neither dlib nor ``face_recognition_models``' Python code."""
    code = textwrap.dedent(
        f"""
        import io, sys
        sys.modules["dlib"] = None  # any "import dlib" now fails
        import numpy as np
        from pathlib import Path
        from matplotlib import cbook
        from PIL import Image
        from facerec.inference.onnx_detector import OnnxMmodDetector
        image = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
        detector = OnnxMmodDetector(Path({str(detector.cache_dir)!r}))
        found = detector.detect(image)
        print(len(found), detector.from_cache, "face_recognition_models" in sys.modules)
        """
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "True", "False"]
