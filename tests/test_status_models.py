"""/status names each model in use (issue #14): name, kind, licence, and the recogniser's
threshold in force. dlib's packaged models need no fixture; registry models come from
../shared/models (skipped with a message where absent)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import Settings
from facerec.registry.active import recogniser_name
from facerec.registry.contract import default_contract
from tests.model_files import MOBILEFACENET_FILE, YUNET_FILE, shared_model
from tests.test_engine_parts import install
from tests.test_engine_parts_models import MOBILEFACENET

API = "/api/v1"
BOOST = "Boost Software License 1.0 (dlib)"  # dlib-bin's metadata: License
CC0 = "CC0 1.0 Universal"  # face_recognition_models' LICENSE file and README


def _models(client: TestClient) -> dict[str, dict[str, Any]]:
    answer = client.get(f"{API}/status")
    assert answer.status_code == 200, answer.text
    return {m["role"]: m for m in answer.json()["models"]}


def test_recogniser_name_from_the_runtimes_model_id() -> None:
    assert recogniser_name("dlib-resnet-v1+mirror") == "dlib-resnet"
    assert recogniser_name("dlib-resnet-v1") == "dlib-resnet"
    assert recogniser_name("mobilefacenet@85cdeb73+mirror") == "mobilefacenet"
    assert recogniser_name("w600k_r50@0123abcd") == "w600k_r50"


def test_the_threshold_shown_is_the_one_in_force(client: TestClient) -> None:
    """The fake engine's recogniser has no manifest; the threshold follows a stored one."""
    recogniser = _models(client)["recogniser"]
    assert recogniser["model_id"] == "fake-colour-v1"
    assert recogniser["licence"] == "unknown (no manifest)"
    assert recogniser["threshold"] == 0.8  # the test settings' match_threshold
    assert client.put(f"{API}/calibration/threshold", json={"threshold": 0.93}).status_code == 200
    assert _models(client)["recogniser"]["threshold"] == 0.93
    assert client.get(f"{API}/status").json()["threshold"] == 0.93


@pytest.mark.models
def test_dlibs_packaged_models_with_their_licences(real_client: TestClient) -> None:
    models = _models(real_client)
    assert list(models) == ["detector", "fallback_detector", "landmarks", "recogniser"]
    assert (models["detector"]["name"], models["detector"]["kind"]) == ("dlib-hog", "detector")
    assert models["detector"]["licence"] == BOOST
    assert models["fallback_detector"]["name"] == "dlib-cnn"
    assert models["landmarks"]["kind"] == "landmarks"
    for role in ("fallback_detector", "landmarks", "recogniser"):
        assert models[role]["licence"].startswith(CC0), role
    recogniser = models["recogniser"]
    assert (recogniser["name"], recogniser["kind"]) == ("dlib-resnet", "recogniser")
    assert recogniser["model_id"] == "dlib-resnet-v1+mirror"
    assert recogniser["threshold"] == Settings().match_threshold
    assert models["detector"]["threshold"] is None


def with_registry_models(data: Path, detector: str = "yunet-2023mar", **override: Any) -> Settings:
    """YuNet + MobileFaceNet from the fixtures, with licences and a threshold of their own."""
    settings = Settings(
        data_dir=data,
        detector={"model": detector},
        recogniser={"model": "mobilefacenet"},
        auth={"enabled": False},
        **override,
    )
    yunet, mobilefacenet = shared_model(*YUNET_FILE), shared_model(*MOBILEFACENET_FILE)
    install(settings, "yunet-2023mar", yunet, default_contract("yunet"), licence="MIT (test)")
    install(
        settings, "mobilefacenet", mobilefacenet, MOBILEFACENET, threshold=0.61,
        licence="research only (test)",
    )  # fmt: skip
    return settings


@pytest.fixture(scope="module")
def registry_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = with_registry_models(tmp_path_factory.mktemp("status-models"))
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.models
def test_registry_models_with_their_manifests_licence_and_threshold(
    registry_client: TestClient,
) -> None:
    models = _models(registry_client)
    assert list(models) == ["detector", "fallback_detector", "landmarks", "recogniser"]
    assert models["detector"] == {
        "role": "detector",
        "name": "yunet-2023mar",
        "kind": "detector",
        "licence": "MIT (test)",
        "model_id": None,
        "threshold": None,
    }
    recogniser = models["recogniser"]
    assert recogniser["name"] == "mobilefacenet"
    assert recogniser["licence"] == "research only (test)"
    assert recogniser["model_id"] == "mobilefacenet@85cdeb73+mirror"
    assert recogniser["threshold"] == 0.61  # the manifest's default_threshold


@pytest.mark.models
def test_an_operators_threshold_overrides_the_manifests(tmp_path: Path) -> None:
    settings = with_registry_models(tmp_path, "hog", match_threshold=0.7)
    with TestClient(create_app(settings)) as client:
        models = _models(client)
    assert models["detector"]["name"] == "dlib-hog"
    assert models["recogniser"]["threshold"] == 0.7
