"""``FACEREC_ENGINE=dlib`` end to end: the app built by ``create_app(settings)`` with no
injected engine (so ``inference/engines.py`` chooses it), with the real models.

The dlib engine and the default ONNX one run the same networks, so their descriptors
agree and a gallery enrolled through one is searched by the other.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from PIL import Image, ImageEnhance

from facerec.app import create_app
from facerec.config import InferenceSettings, Settings
from tests.conftest import hopper_bytes

pytestmark = pytest.mark.models
API = "/api/v1"
MODEL = "dlib-resnet-v1+mirror"  # inference.tta = mirror by default
Tta = Literal["none", "mirror"]


def _app(data_dir: Path, engine: Literal["onnx", "dlib"], tta: Tta = "mirror") -> TestClient:
    settings = Settings(
        data_dir=data_dir,
        engine=engine,
        inference=InferenceSettings(tta=tta),
        auth={"enabled": False},
    )
    return TestClient(create_app(settings))


def _model(tta: Tta) -> str:
    return "dlib-resnet-v1+mirror" if tta == "mirror" else "dlib-resnet-v1"


@pytest.fixture
def dlib_client(tmp_path: Path) -> Iterator[TestClient]:
    with _app(tmp_path / "data", "dlib") as client:
        yield client


def _changed_hopper() -> bytes:
    """Grace Hopper cropped, shrunk and brightened: a different photo of her."""
    image = Image.open(io.BytesIO(hopper_bytes())).convert("RGB")
    width, height = image.size
    image = image.crop((width // 10, height // 20, width - width // 12, height - height // 8))
    image = image.resize((image.width * 3 // 5, image.height * 3 // 5), Image.Resampling.LANCZOS)
    image = ImageEnhance.Brightness(image).enhance(1.15)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def _enrol_hopper(client: TestClient, model: str = MODEL) -> int:
    pid = client.post(f"{API}/people", json={"name": "Grace Hopper"}).json()["id"]
    enrolled = client.post(
        f"{API}/people/{pid}/faces", files={"file": ("g.jpg", hopper_bytes(), "image/jpeg")}
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["faces"][0]["model"] == model
    return int(pid)


def _recognise(client: TestClient, image: bytes) -> dict[str, Any]:
    response = client.post(
        f"{API}/recognize", json={"image_base64": base64.b64encode(image).decode()}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _descriptor(client: TestClient, image: bytes, model: str) -> NDArray[np.float64]:
    response = client.post(f"{API}/embed", files={"file": ("q.jpg", image, "image/jpeg")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == model
    (face,) = body["faces"]
    vector = np.asarray(face["embedding"], dtype=np.float64)
    assert vector.shape == (128,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4  # L2-normalised
    return vector


def test_the_dlib_engine_is_chosen_by_the_setting(dlib_client: TestClient) -> None:
    status = dlib_client.get(f"{API}/status").json()
    assert status["engine"] == "dlib"
    assert status["model"] == MODEL
    assert status["detector"] == "hog"


def test_enrol_and_recognise_a_changed_photo_with_dlib(dlib_client: TestClient) -> None:
    pid = _enrol_hopper(dlib_client)
    changed = _changed_hopper()
    assert changed != hopper_bytes()
    result = _recognise(dlib_client, changed)
    (face,) = result["faces"]
    assert face["match"] is not None, face
    assert face["match"]["person_id"] == pid
    assert face["match"]["name"] == "Grace Hopper"
    assert face["match"]["similarity"] >= result["threshold"]
    status = dlib_client.get(f"{API}/status").json()
    assert (status["engine"], status["faces"], status["indexed_faces"]) == ("dlib", 1, 1)


@pytest.mark.parametrize("tta", ["mirror", "none"])
def test_dlib_and_onnx_descriptors_agree(tmp_path: Path, tta: Tta) -> None:
    """The same image gives the same descriptor from either engine, and a gallery
    enrolled with dlib is searched by an ONNX server on the same data directory.
    (Without the mirror, the dlib engine cuts its chips with dlib's own code.)"""
    data, model = tmp_path / "data", _model(tta)
    images = {"original": hopper_bytes(), "changed": _changed_hopper()}
    with _app(data, "dlib", tta) as dlib_client:
        status = dlib_client.get(f"{API}/status").json()
        assert (status["engine"], status["model"]) == ("dlib", model)
        _enrol_hopper(dlib_client, model)
        from_dlib = {name: _descriptor(dlib_client, image, model) for name, image in images.items()}
    with _app(data, "onnx", tta) as onnx_client:
        status = onnx_client.get(f"{API}/status").json()
        assert (status["engine"], status["model"]) == ("onnx", model)
        assert (status["faces"], status["indexed_faces"], status["stale_faces"]) == (1, 1, 0)
        for name, image in images.items():
            cosine = float(np.dot(from_dlib[name], _descriptor(onnx_client, image, model)))
            assert cosine > 0.9999, f"{name}: dlib and onnx descriptors differ (cosine {cosine})"
        (face,) = _recognise(onnx_client, images["changed"])["faces"]
        assert face["match"] is not None, face
        assert face["match"]["name"] == "Grace Hopper"
