"""Engines from parts (inference/parts.py, arcface.py): settings -> detector and recogniser,
the ArcFace alignment, the points each recogniser is fed, the model's own threshold.
Small fakes and models made here; the real fixtures are in test_engine_parts_models.py."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import Settings
from facerec.errors import NotReady
from facerec.inference.arcface import (
    ARCFACE_POINTS_IN_DLIB_FRAME,
    ArcFaceEmbedder,
    alignment_matrix,
    arcface_chips,
    arcface_points_from_dlib,
)
from facerec.inference.augment import MirrorAveraged
from facerec.inference.batching import BatchedEmbedder, MicroBatcher
from facerec.inference.engines import build_engine, with_model_threshold
from facerec.inference.mean_face import MEAN_FACE_5
from facerec.inference.parts import (
    ArcFacePoints,
    DlibPoints,
    YuNetPoints,
    hog_box,
    points_in_order,
)
from facerec.inference.quality import face_quality
from facerec.inference.types import Detection, Landmarks, RGBImage
from facerec.inference.yunet import YuNetFace
from facerec.registry.contract import ARCFACE_TEMPLATE, InputContract, default_contract
from facerec.registry.store import ModelManifest, ModelStore, sha256_file
from tests.model_files import recogniser

TEMPLATE = np.asarray(ARCFACE_TEMPLATE)


def install(
    settings: Settings,
    name: str,
    file: Path,
    contract: InputContract,
    *,
    threshold: float | None = None,
    licence: str = "test",
) -> ModelManifest:
    """Put ``file`` in the registry of ``settings`` as an installed model (no probe)."""
    manifest = ModelManifest(
        name=name,
        kind=contract.kind,
        contract=contract,
        input_shape=[1, 3, contract.size or 640, contract.size or 640],
        sha256=sha256_file(file),
        size=file.stat().st_size,
        source=f"import:{file.name}",
        licence=licence,
        default_threshold=threshold,
        installed_at=datetime(2026, 1, 1, tzinfo=UTC),
        installed_by="test",
    )
    return ModelStore(settings.models_dir).install(file, manifest)


def _similar(
    points: np.ndarray, scale: float, degrees: float, shift: tuple[float, float]
) -> Landmarks:
    angle = math.radians(degrees)
    rotation = scale * np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    )
    moved: Landmarks = (points @ rotation.T + np.asarray(shift)).astype(np.float32)
    return moved


# -- alignment ----------------------------------------------------------------------------
def test_the_alignment_takes_a_synthetic_faces_five_points_exactly_onto_the_template() -> None:
    face = _similar(TEMPLATE, 2.7, 23.0, (310.0, 145.0))
    matrix = alignment_matrix(face)
    mapped = face.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(mapped, TEMPLATE, atol=1e-4)


def test_a_chip_shows_the_faces_points_where_the_template_puts_them() -> None:
    face = _similar(TEMPLATE, 1.9, -12.0, (90.0, 60.0))
    image = np.zeros((400, 400, 3), np.uint8)
    for x, y in np.rint(face).astype(int):
        image[y - 2 : y + 3, x - 2 : x + 3] = 255
    chip = arcface_chips(image, [face])[0]
    assert chip.shape == (112, 112, 3)
    for x, y in TEMPLATE:  # the bright dot's centre of mass sits on the template point
        window = chip[int(y) - 5 : int(y) + 6, int(x) - 5 : int(x) + 6, 0].astype(float)
        rows, cols = np.mgrid[int(y) - 5 : int(y) + 6, int(x) - 5 : int(x) + 6]
        centre = np.array([(cols * window).sum(), (rows * window).sum()]) / window.sum()
        assert np.linalg.norm(centre - (x, y)) < 1.0


def test_dlib_points_give_arcface_points_in_the_faces_own_frame() -> None:
    dlib_points = _similar(MEAN_FACE_5, 140.0, 8.0, (50.0, 70.0))
    expected = _similar(ARCFACE_POINTS_IN_DLIB_FRAME, 140.0, 8.0, (50.0, 70.0))
    np.testing.assert_allclose(arcface_points_from_dlib(dlib_points), expected, atol=1e-3)


def test_a_yunet_face_gets_the_box_hog_would_give() -> None:
    points = np.array([[130, 80], [170, 80], [150, 100], [135, 120], [165, 120]], np.float32)
    box = hog_box(Detection(100.0, 50.0, 200.0, 150.0, 0.9, points=points))
    # points' centre (150, 100), RMS distance sqrt(2850 / 5); side 1.12 x the width 100
    spread = math.sqrt(570.0)
    cx, cy = 150 - 0.0995 * spread, 100 - 0.0648 * spread
    assert (box.x1, box.y1, box.x2, box.y2) == pytest.approx((cx - 56, cy - 56, cx + 56, cy + 56))
    assert hog_box(FROM_HOG) is FROM_HOG  # dlib's own boxes stay as they are


# -- which points each recogniser gets ---------------------------------------------------------
class RecordingPredictor:
    """The shape predictor's interface: records boxes, answers dlib's mean face in each."""

    def __init__(self) -> None:
        self.boxes: list[Detection] = []
        self.model = object()

    def landmarks(self, image: RGBImage, detections: Sequence[Detection]) -> list[Landmarks]:
        self.boxes += detections
        return [_similar(MEAN_FACE_5, d.width, 0.0, (d.x1, d.y1)) for d in detections]


YUNET_POINTS = np.arange(10, dtype=np.float32).reshape(5, 2)
FROM_YUNET = Detection(100.0, 50.0, 200.0, 150.0, 0.9, points=YUNET_POINTS)
FROM_HOG = Detection(10.0, 20.0, 90.0, 100.0, 1.2)


def test_dlibs_descriptor_gets_the_shape_predictor_on_hogs_box_for_a_yunet_face() -> None:
    predictor = RecordingPredictor()
    DlibPoints(predictor).landmarks(np.zeros((300, 300, 3), np.uint8), [FROM_YUNET, FROM_HOG])
    assert predictor.boxes == [hog_box(FROM_YUNET), FROM_HOG]


def test_an_arcface_recogniser_gets_yunets_points_or_dlibs_in_arcface_order() -> None:
    predictor = RecordingPredictor()
    image = np.zeros((300, 300, 3), np.uint8)
    points = ArcFacePoints(predictor).landmarks(image, [FROM_HOG, FROM_YUNET])
    assert predictor.boxes == [FROM_HOG]
    expected = _similar(ARCFACE_POINTS_IN_DLIB_FRAME, FROM_HOG.width, 0.0, (10.0, 20.0))
    np.testing.assert_allclose(points[0], expected, atol=1e-3)
    assert points[1] is YUNET_POINTS


def test_frontal_reads_eyes_and_nose_in_the_arcface_order() -> None:
    image = np.full((200, 200, 3), 128, np.uint8)
    box = Detection(40.0, 40.0, 160.0, 160.0, 1.0)
    straight = np.array([[70, 80], [130, 80], [100, 110], [75, 140], [125, 140]], np.float32)
    turned = straight.copy()
    turned[2, 0] = 115  # the nose half-way to the left eye
    assert face_quality(image, box, straight, "arcface5")["frontal"] == 1.0
    assert face_quality(image, box, turned, "arcface5")["frontal"] == 0.5


# -- the network's input and the embedders around it ----------------------------------------------
def test_the_contract_sets_colour_order_mean_and_std(tmp_path: Path) -> None:
    contract = InputContract(family="arcface", size=16, colour="BGR", mean=100.0, std=50.0)
    embedder = ArcFaceEmbedder(tmp_path / "x.onnx", contract, model_id="x@1", dim=2)
    chips = np.zeros((1, 16, 16, 3), np.uint8)
    chips[..., 0], chips[..., 1], chips[..., 2] = 200, 150, 50  # R, G, B
    prepared = embedder.prepare(chips)
    assert prepared.shape == (1, 3, 16, 16)
    assert [float(prepared[0, c, 0, 0]) for c in range(3)] == [-1.0, 1.0, 2.0]  # B, G, R


def test_batching_and_the_mirror_keep_the_networks_own_alignment() -> None:
    aligned: list[int] = []

    def align(image: RGBImage, landmarks: Sequence[Landmarks]) -> np.ndarray:
        aligned.append(len(landmarks))
        return np.full((len(landmarks), 8, 8, 3), 7, np.uint8)

    batcher = MicroBatcher(
        lambda chips: chips.reshape(len(chips), -1)[:, :4].astype(np.float32),
        max_batch=8,
        max_wait_ms=0,
        max_queue=4,
    )
    try:
        batched = BatchedEmbedder("net@1", 4, batcher, align=align)
        mirrored = MirrorAveraged(batched)
        out = mirrored.embed(np.zeros((20, 20, 3), np.uint8), [YUNET_POINTS, YUNET_POINTS])
    finally:
        batcher.close()
    assert aligned == [2]
    assert mirrored.model_id == "net@1+mirror"
    np.testing.assert_array_equal(out, np.full((2, 4), 14.0))


# -- settings -> engine, refusals, threshold -----------------------------------------------------
def test_a_model_that_is_not_installed_refuses_the_engine(settings: Settings) -> None:
    for part, setting in (("detector", "DETECTOR"), ("recogniser", "RECOGNISER")):
        wanted = Settings(**{**settings.model_dump(), part: {"model": "no-such-model"}})
        with pytest.raises(NotReady, match=f"FACEREC_{setting}__MODEL=no-such-model: no such"):
            build_engine(wanted)


def test_a_model_of_the_wrong_kind_is_refused(settings: Settings, tmp_path: Path) -> None:
    file = recogniser(tmp_path / "r.onnx")
    install(settings, "tiny", file, default_contract("arcface"))
    wrong = Settings(**{**settings.model_dump(), "detector": {"model": "tiny"}})
    with pytest.raises(NotReady, match="arcface recogniser; this setting takes a yunet detector"):
        build_engine(wrong)


def test_registry_models_need_the_fast_engine(settings: Settings, tmp_path: Path) -> None:
    install(settings, "tiny", recogniser(tmp_path / "r.onnx"), default_contract("arcface"))
    dlib = Settings(**{**settings.model_dump(), "engine": "dlib", "recogniser": {"model": "tiny"}})
    with pytest.raises(NotReady, match="FACEREC_ENGINE=onnx"):
        build_engine(dlib)


def test_the_app_refuses_to_start_without_its_recogniser(settings: Settings) -> None:
    missing = Settings(**{**settings.model_dump(), "recogniser": {"model": "mobilefacenet"}})
    with (
        pytest.raises(NotReady, match="RECOGNISER__MODEL=mobilefacenet"),
        TestClient(create_app(missing)),
    ):
        pass


class ThresholdEngine:
    def __init__(self, threshold: float | None) -> None:
        self.default_threshold = threshold


def test_the_recognisers_own_threshold_applies_unless_the_operator_set_one(tmp_path: Path) -> None:
    unset = Settings(data_dir=tmp_path)
    assert with_model_threshold(unset, ThresholdEngine(0.42)).match_threshold == 0.42
    assert with_model_threshold(unset, ThresholdEngine(None)) is unset
    chosen = Settings(data_dir=tmp_path, match_threshold=unset.match_threshold)
    assert (
        with_model_threshold(chosen, ThresholdEngine(0.42)).match_threshold
        == chosen.match_threshold
    )


def test_the_environment_counts_as_the_operators_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEREC_MATCH_THRESHOLD", "0.9")
    from_env = Settings(data_dir=tmp_path)
    assert with_model_threshold(from_env, ThresholdEngine(0.42)).match_threshold == 0.9


@pytest.mark.models
def test_hog_and_an_arcface_recogniser_answer_with_its_model_id_and_threshold(
    settings: Settings, tmp_path: Path
) -> None:
    from tests.conftest import hopper_bytes

    file = recogniser(tmp_path / "r.onnx", dim=32)
    contract = default_contract("arcface").model_copy(update={"embedding_size": 32})
    manifest = install(settings, "tiny", file, contract, threshold=0.55)
    config = Settings(
        **{
            **settings.model_dump(exclude={"match_threshold"}),
            "recogniser": {"model": "tiny"},
            "inference": {"tta": "mirror"},
        }
    )
    with TestClient(create_app(config)) as client:
        answer = client.post("/api/v1/recognize", files={"file": ("h.jpg", hopper_bytes())})
        embedded = client.post("/api/v1/embed", files={"file": ("h.jpg", hopper_bytes())})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == f"tiny@{manifest.sha256[:8]}+mirror"
    assert body["threshold"] == 0.55
    assert len(body["faces"]) == 1
    vector = np.asarray(embedded.json()["faces"][0]["embedding"])
    assert vector.shape == (32,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_a_measured_threshold_goes_into_the_manifest_and_the_engine(
    settings: Settings, tmp_path: Path
) -> None:
    contract = default_contract("arcface").model_copy(update={"embedding_size": 64})
    install(settings, "tiny", recogniser(tmp_path / "r.onnx"), contract)
    store = ModelStore(settings.models_dir)
    store.set_threshold("tiny", 0.512345, "measured here")
    assert (store.get("tiny").default_threshold, store.get("tiny").threshold_source) == (
        0.5123,
        "measured here",
    )
    engine = build_engine(Settings(**{**settings.model_dump(), "recogniser": {"model": "tiny"}}))
    assert getattr(engine, "default_threshold", None) == 0.5123


def test_the_doctor_says_which_model_is_missing(settings: Settings) -> None:
    from facerec.doctor.service import doctor_for

    missing = Settings(**{**settings.model_dump(), "detector": {"model": "yunet-2023mar"}})
    with pytest.raises(NotReady, match="FACEREC_DETECTOR__MODEL=yunet-2023mar: no such detector"):
        doctor_for(missing)


def test_stored_points_are_given_in_the_order_the_running_recogniser_takes() -> None:
    dlib_points = _similar(MEAN_FACE_5, 120.0, 5.0, (30.0, 40.0))
    assert points_in_order(dlib_points, "dlib-resnet-v1+mirror", "dlib5") is dlib_points
    assert points_in_order(YUNET_POINTS, "mobilefacenet@85cdeb73", "arcface5") is YUNET_POINTS
    expected = _similar(ARCFACE_POINTS_IN_DLIB_FRAME, 120.0, 5.0, (30.0, 40.0))
    converted = points_in_order(dlib_points, "dlib-resnet-v1", "arcface5")
    np.testing.assert_allclose(converted, expected, atol=1e-3)
    with pytest.raises(NotReady, match="enrol the photo again"):
        points_in_order(YUNET_POINTS, "mobilefacenet@85cdeb73+mirror", "dlib5")


class FakeYuNet:
    """YuNet's ``faces``: one 60 px face and one 30 px face, with points."""

    def faces(self, image: RGBImage) -> list[YuNetFace]:
        return [
            YuNetFace(Detection(10.0, 10.0, 70.0, 70.0, 0.9), YUNET_POINTS),
            YuNetFace(Detection(100.0, 10.0, 130.0, 40.0, 0.8), YUNET_POINTS + 90),
        ]


def test_yunet_faces_carry_their_points_and_small_ones_are_dropped() -> None:
    image = np.zeros((200, 200, 3), np.uint8)
    both = YuNetPoints(FakeYuNet(), min_face_px=30).detect(image)  # type: ignore[arg-type]
    assert [d.width for d in both] == [60.0, 30.0]
    assert both[0].points is YUNET_POINTS
    large = YuNetPoints(FakeYuNet(), min_face_px=40).detect(image)  # type: ignore[arg-type]
    assert [(d.x1, d.y1, d.x2, d.y2, d.score) for d in large] == [(10.0, 10.0, 70.0, 70.0, 0.9)]
