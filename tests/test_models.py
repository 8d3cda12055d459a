"""The real dlib models through the whole stack (real SQLite file, real FAISS).

Images come from packages (matplotlib's Grace Hopper) or are made here, so these run
everywhere the project installs.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageOps

from tests.conftest import hopper_bytes

pytestmark = pytest.mark.models
API = "/api/v1"


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _hopper() -> Image.Image:
    return Image.open(io.BytesIO(hopper_bytes())).convert("RGB")


def test_enrol_and_recognise_a_changed_photo(real_client: TestClient) -> None:
    pid = real_client.post(f"{API}/people", json={"name": "Grace Hopper"}).json()["id"]
    enrolled = real_client.post(
        f"{API}/people/{pid}/faces", files={"file": ("g.jpg", hopper_bytes(), "image/jpeg")}
    )
    assert enrolled.status_code == 201, enrolled.text
    face = enrolled.json()["faces"][0]
    assert face["quality"]["size"] > 100
    assert face["model"] == "dlib-resnet-v1+mirror"  # inference.tta = mirror by default

    changed = ImageOps.mirror(_hopper()).resize((300, 351)).rotate(8, fillcolor=(128, 128, 128))
    result = real_client.post(
        f"{API}/recognize", json={"image_base64": base64.b64encode(_jpeg(changed, 70)).decode()}
    ).json()
    (found,) = result["faces"]
    assert found["match"]["name"] == "Grace Hopper"
    assert found["match"]["similarity"] >= result["threshold"]

    thumb = real_client.get(f"{API}/faces/{face['id']}/thumbnail")
    assert Image.open(io.BytesIO(thumb.content)).size[0] <= 160


def test_non_faces_find_nothing(real_client: TestClient) -> None:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    gradient = Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (200, 1)))
    for image in (noise, gradient):
        result = real_client.post(f"{API}/recognize", files={"file": ("x.jpg", _jpeg(image))})
        assert result.status_code == 200
        assert result.json()["faces"] == []
    pid = real_client.post(f"{API}/people", json={"name": "Nobody"}).json()["id"]
    refused = real_client.post(f"{API}/people/{pid}/faces", files={"file": ("n.jpg", _jpeg(noise))})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "no_face"


def test_small_faces_down_to_about_forty_pixels_are_found(real_client: TestClient) -> None:
    full = _hopper()
    detected = real_client.post(f"{API}/detect", files={"file": ("g.jpg", _jpeg(full))}).json()
    side = detected["faces"][0]["quality"]["size"]
    scale = 44 / side  # shrink until the face is ~44 px
    small = full.resize((round(full.width * scale), round(full.height * scale)))
    canvas = Image.new("RGB", (640, 480), (90, 90, 90))
    canvas.paste(small, (300, 200))
    found = real_client.post(f"{API}/detect", files={"file": ("s.jpg", _jpeg(canvas))}).json()
    assert len(found["faces"]) == 1
    x1, _, x2, _ = found["faces"][0]["box"]
    assert x1 >= 300
    assert x2 <= 300 + small.width + 5


def test_two_similar_faces_cannot_be_enrolled_but_are_both_recognised(
    real_client: TestClient,
) -> None:
    face = _hopper()
    pair = Image.new("RGB", (face.width * 2, face.height))
    pair.paste(face, (0, 0))
    pair.paste(ImageOps.mirror(face), (face.width, 0))
    pid = real_client.post(f"{API}/people", json={"name": "Grace"}).json()["id"]
    refused = real_client.post(f"{API}/people/{pid}/faces", files={"file": ("p.jpg", _jpeg(pair))})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "multiple_faces"
    real_client.post(f"{API}/people/{pid}/faces", files={"file": ("g.jpg", hopper_bytes())})
    faces = real_client.post(f"{API}/recognize", files={"file": ("p.jpg", _jpeg(pair))}).json()[
        "faces"
    ]
    assert [f["match"]["name"] for f in faces] == ["Grace", "Grace"]


def test_embeddings_are_unit_length_and_stable(real_client: TestClient) -> None:
    data = hopper_bytes()
    first = real_client.post(f"{API}/embed", files={"file": ("g.jpg", data)}).json()
    second = real_client.post(f"{API}/embed", files={"file": ("g.jpg", data)}).json()
    a = np.asarray(first["faces"][0]["embedding"])
    b = np.asarray(second["faces"][0]["embedding"])
    assert a.shape == (128,)
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-4)
    assert np.allclose(a, b, atol=1e-6)
    verdict = real_client.post(
        f"{API}/verify",
        files={"file1": ("a.jpg", data), "file2": ("b.jpg", _jpeg(ImageOps.mirror(_hopper())))},
    ).json()
    assert verdict["same_person"] is True
