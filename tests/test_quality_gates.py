"""Enrolment quality gates: each reason, several at once, the admin override, and real photos."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageEnhance, ImageFilter

from facerec.app import create_app
from facerec.config import EnrolSettings, Settings
from facerec.faces.quality_gate import quality_problems
from facerec.inference.types import FaceEngine
from tests.conftest import hopper_bytes
from tests.fakes import FakeEngine, picture

API = "/api/v1"
GOOD = {"size": 120.0, "sharpness": 300.0, "brightness": 120.0, "frontal": 0.9, "inside": 1.0}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"size": 40.0}, "too_small"),
        ({"sharpness": 10.0}, "blurred"),
        ({"brightness": 20.0}, "too_dark"),
        ({"brightness": 240.0}, "too_bright"),
        ({"frontal": 0.1}, "turned"),
        ({"inside": 0.6}, "cut_off"),
    ],
)
def test_each_gate(change: dict[str, float], reason: str) -> None:
    assert quality_problems(GOOD, EnrolSettings()) == []
    assert quality_problems({**GOOD, **change}, EnrolSettings()) == [reason]


def test_several_reasons_at_once() -> None:
    poor = {**GOOD, "size": 30.0, "sharpness": 5.0}
    assert quality_problems(poor, EnrolSettings()) == ["too_small", "blurred"]


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(  # default gates
        data_dir=tmp_path / "data", match_threshold=0.8, auth={"enabled": False}
    )
    with TestClient(create_app(settings, engine=FakeEngine())) as client:
        yield client


def test_api_reports_the_reason_and_force_overrides(strict: TestClient) -> None:
    pid = strict.post(f"{API}/people", json={"name": "P"}).json()["id"]
    flat = picture([((200, 60, 60), 40)])  # small and featureless
    refused = strict.post(f"{API}/people/{pid}/faces", files={"file": ("f.png", flat)})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "low_quality"
    assert error["reasons"] == ["too_small", "blurred"]
    assert strict.get(f"{API}/people/{pid}").json()["face_count"] == 0
    forced = strict.post(
        f"{API}/people/{pid}/faces", params={"force": "true"}, files={"file": ("f.png", flat)}
    )
    assert forced.status_code == 201
    assert strict.get(f"{API}/people/{pid}").json()["face_count"] == 1


@pytest.mark.models
def test_real_photos_pass_and_degraded_ones_fail(
    settings: Settings, real_engine: FaceEngine
) -> None:
    real = Settings(data_dir=settings.data_dir, auth={"enabled": False})
    photo = Image.open(io.BytesIO(hopper_bytes())).convert("RGB")

    def jpeg(image: Image.Image) -> bytes:
        out = io.BytesIO()
        image.save(out, format="JPEG")
        return out.getvalue()

    with TestClient(create_app(real, engine=real_engine)) as client:
        pid = client.post(f"{API}/people", json={"name": "Grace"}).json()["id"]
        cases = {
            "blurred": photo.filter(ImageFilter.GaussianBlur(8)),
            "too_dark": ImageEnhance.Brightness(photo).enhance(0.2),
            "too_small": photo.resize((100, 117)),
        }
        for reason, image in cases.items():
            answer = client.post(
                f"{API}/people/{pid}/faces", files={"file": ("x.jpg", jpeg(image))}
            )
            assert answer.status_code == 422, reason
            assert reason in answer.json()["error"]["reasons"], (reason, answer.json())
        # cut off: only the left half of the face is in the picture
        face = client.post(f"{API}/detect", files={"file": ("g.jpg", hopper_bytes())}).json()[
            "faces"
        ][0]
        x1, _, x2, _ = face["box"]
        half = np.asarray(photo)[:, x1 + (x2 - x1) // 2 - 5 :]
        cut = client.post(
            f"{API}/people/{pid}/faces", files={"file": ("c.jpg", jpeg(Image.fromarray(half)))}
        )
        assert cut.status_code == 422  # half a face is never enrolled
        if cut.json()["error"]["code"] == "low_quality":  # found at all: refused as cut off
            assert "cut_off" in cut.json()["error"]["reasons"]
        else:
            assert cut.json()["error"]["code"] == "no_face"
        assert (
            client.post(
                f"{API}/people/{pid}/faces", files={"file": ("g.jpg", hopper_bytes())}
            ).status_code
            == 201
        )
