"""Engines from parts with the real fixtures (../shared/models: YuNet, MobileFaceNet):
skipped with a message where they are absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import Settings
from facerec.inference.engines import build_engine
from facerec.inference.runtime import FaceRuntime
from facerec.registry.contract import InputContract, default_contract
from tests.conftest import hopper_bytes
from tests.model_files import MOBILEFACENET_FILE, YUNET_FILE, shared_model
from tests.test_engine_parts import install

pytestmark = pytest.mark.models
MOBILEFACENET = InputContract(
    family="arcface",
    size=112,
    mean=127.5,
    std=128.0,
    alignment="arcface-112-5pt",
    embedding_size=128,
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir per module: dlib's ResNet is converted to ONNX once."""
    data = tmp_path_factory.mktemp("parts")
    settings = Settings(data_dir=data)
    install(settings, "yunet-2023mar", shared_model(*YUNET_FILE), default_contract("yunet"))
    install(
        settings, "mobilefacenet", shared_model(*MOBILEFACENET_FILE), MOBILEFACENET, threshold=0.6
    )
    return data


def _face(
    data: Path, detector: str, recogniser: str = "dlib-resnet"
) -> tuple[str, np.ndarray, dict[str, float]]:
    settings = Settings(
        data_dir=data, detector={"model": detector}, recogniser={"model": recogniser}
    )
    runtime = FaceRuntime(build_engine(settings), settings)
    try:
        result = runtime.analyze(hopper_bytes())
    finally:
        runtime.close()
    assert len(result.faces) == 1
    face = result.faces[0]
    assert face.embedding is not None
    return result.model, face.embedding, face.quality


def test_yunet_with_dlibs_descriptor_gives_the_hog_paths_descriptor(cache: Path) -> None:
    hog_model, hog, _ = _face(cache, "hog")
    yunet_model, yunet, quality = _face(cache, "yunet-2023mar")
    assert yunet_model == hog_model == "dlib-resnet-v1+mirror"  # same vectors' space
    assert float(hog @ yunet) > 0.99  # measured 0.998: the same face, same dlib points +-0.4 px
    assert quality["size"] > 150 and quality["frontal"] > 0.9  # the gates read YuNet's box


def test_yunet_and_mobilefacenet_answer_with_the_models_id_and_threshold(cache: Path) -> None:
    settings = Settings(
        data_dir=cache,
        detector={"model": "yunet-2023mar"},
        recogniser={"model": "mobilefacenet"},
        auth={"enabled": False},
    )
    with TestClient(create_app(settings)) as client:
        answer = client.post("/api/v1/recognize", files={"file": ("h.jpg", hopper_bytes())})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "mobilefacenet@85cdeb73+mirror"
    assert body["threshold"] == 0.6
    assert len(body["faces"]) == 1


def test_mobilefacenet_on_yunets_points_or_dlibs_gives_one_face(cache: Path) -> None:
    """YuNet's points or dlib's placed in ArcFace order: the same face stays close."""
    _, yunet, _ = _face(cache, "yunet-2023mar", "mobilefacenet")
    _, hog, _ = _face(cache, "hog", "mobilefacenet")
    assert float(yunet @ hog) > 0.9  # measured 0.967
