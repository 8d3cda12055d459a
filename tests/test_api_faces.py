"""Enrolment, recognition, verification and their errors through the app (fake engine)."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from facerec.config import Settings
from tests.fakes import picture

API = "/api/v1"
RED, GREEN, BLUE = (220, 40, 40), (40, 220, 40), (40, 40, 220)


def _person(client: TestClient, name: str = "Ada") -> int:
    return int(client.post(f"{API}/people", json={"name": name}).json()["id"])


def _enrol(client: TestClient, pid: int, data: bytes, name: str = "a.png") -> dict[str, Any]:
    response = client.post(f"{API}/people/{pid}/faces", files={"file": (name, data, "image/png")})
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def test_enrol_multipart_then_recognise(client: TestClient) -> None:
    pid = _person(client)
    body = _enrol(client, pid, picture([(RED, 80)]))
    face = body["faces"][0]
    assert face["person_id"] == pid
    assert face["box"] == [10, 10, 90, 90]
    assert set(face["quality"]) >= {"size", "sharpness", "brightness"}
    assert "embedding" not in face
    assert client.get(f"{API}/people/{pid}").json()["face_count"] == 1

    result = client.post(f"{API}/recognize", files={"file": ("q.png", picture([(RED, 60)]))}).json()
    assert result["image"] == {"width": 100, "height": 100}
    assert result["threshold"] == 0.8
    assert result["model"] == "fake-colour-v1"
    (only,) = result["faces"]
    assert only["match"]["person_id"] == pid
    assert only["match"]["name"] == "Ada"
    assert 0.99 <= only["match"]["similarity"] <= 1.0
    assert len(only["landmarks"]) == 5


def test_enrol_base64_json_and_data_url(client: TestClient) -> None:
    pid = _person(client)
    encoded = base64.b64encode(picture([(GREEN, 70)])).decode()
    plain = client.post(f"{API}/people/{pid}/faces", json={"image_base64": encoded})
    assert plain.status_code == 201
    again = client.post(
        f"{API}/people/{pid}/faces", json={"image_base64": "data:image/png;base64," + encoded}
    )
    assert again.status_code == 201  # the same bytes: nothing new, flagged as duplicate
    assert again.json()["faces"][0]["duplicate"] is True
    assert again.json()["faces"][0]["id"] == plain.json()["faces"][0]["id"]
    assert client.get(f"{API}/people/{pid}/faces").json()["total"] == 1


def test_strangers_are_unknown_with_candidates(client: TestClient) -> None:
    pid = _person(client)
    _enrol(client, pid, picture([(RED, 80)]))
    result = client.post(
        f"{API}/recognize", files={"file": ("q.png", picture([(BLUE, 80)]))}
    ).json()
    (face,) = result["faces"]
    assert face["match"] is None
    assert face["candidates"][0]["person_id"] == pid
    assert face["candidates"][0]["similarity"] < 0.8


def test_threshold_and_top_k_parameters(client: TestClient) -> None:
    ids = [_person(client, n) for n in ("A", "B", "C")]
    for pid, colour in zip(ids, (RED, GREEN, BLUE), strict=True):
        _enrol(client, pid, picture([(colour, 80)]))
    query = picture([(RED, 80)])
    loose = client.post(f"{API}/recognize", params={"top_k": 2}, files={"file": ("q.png", query)})
    assert len(loose.json()["faces"][0]["candidates"]) == 2
    strict = client.post(
        f"{API}/recognize",
        json={"image_base64": base64.b64encode(query).decode(), "threshold": 1.0, "top_k": 3},
    ).json()
    assert strict["threshold"] == 1.0
    assert len(strict["faces"][0]["candidates"]) == 3
    bad = client.post(f"{API}/recognize", params={"threshold": 2}, files={"file": ("q.png", query)})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"
    bad_k = client.post(f"{API}/recognize", data={"top_k": "x"}, files={"file": ("q.png", query)})
    assert bad_k.status_code == 422


def test_every_face_in_a_group_is_recognised(client: TestClient) -> None:
    a, b = _person(client, "A"), _person(client, "B")
    _enrol(client, a, picture([(RED, 80)]))
    _enrol(client, b, picture([(GREEN, 80)]))
    group = picture([(GREEN, 70), (BLUE, 70), (RED, 70)])
    faces = client.post(f"{API}/recognize", files={"file": ("g.png", group)}).json()["faces"]
    names = [f["match"]["name"] if f["match"] else None for f in faces]
    assert names == ["B", None, "A"]


def test_no_face_and_multiple_faces(client: TestClient) -> None:
    pid = _person(client)
    empty = picture([])
    assert client.post(f"{API}/recognize", files={"file": ("e.png", empty)}).json()["faces"] == []
    none = client.post(f"{API}/people/{pid}/faces", files={"file": ("e.png", empty)})
    assert none.status_code == 422
    assert none.json()["error"]["code"] == "no_face"
    two = client.post(
        f"{API}/people/{pid}/faces", files={"file": ("t.png", picture([(RED, 80), (GREEN, 75)]))}
    )
    assert two.status_code == 422
    assert two.json()["error"]["code"] == "multiple_faces"
    dominant = _enrol(client, pid, picture([(RED, 90), (GREEN, 20)]))
    assert dominant["faces"][0]["box"] == [5, 5, 95, 95]
    assert client.get(f"{API}/people/{pid}").json()["face_count"] == 1


def test_several_photos_at_once_report_each(client: TestClient) -> None:
    pid = _person(client)
    files = [
        ("file", ("good.png", picture([(RED, 80)]), "image/png")),
        ("file", ("empty.png", picture([]), "image/png")),
        ("file", ("junk.jpg", b"not an image", "image/jpeg")),
        ("file", ("good2.png", picture([(RED, 60)]), "image/png")),
    ]
    response = client.post(f"{API}/people/{pid}/faces", files=files)
    assert response.status_code == 201
    body = response.json()
    assert len(body["faces"]) == 2
    assert [(r["filename"], r["code"]) for r in body["rejected"]] == [
        ("empty.png", "no_face"),
        ("junk.jpg", "invalid_image"),
    ]
    all_bad = client.post(
        f"{API}/people/{pid}/faces",
        files=[("file", ("a.png", picture([]))), ("file", ("b.png", picture([])))],
    )
    assert all_bad.status_code == 422
    assert all_bad.json()["error"]["code"] == "no_face"
    assert len(all_bad.json()["error"]["rejected"]) == 2


def test_bad_images_get_stable_codes(client: TestClient, settings: Settings) -> None:
    pid = _person(client)
    tiff = io.BytesIO()
    Image.new("RGB", (20, 20)).save(tiff, format="TIFF")
    cases = [
        (b"hello, I am text", 400, "invalid_image"),
        (picture([(RED, 80)], fmt="JPEG")[:200], 400, "invalid_image"),
        (tiff.getvalue(), 415, "unsupported_format"),
        (b"", 400, "invalid_image"),
    ]
    for data, status, code in cases:
        for url in (f"{API}/recognize", f"{API}/people/{pid}/faces", f"{API}/detect"):
            response = client.post(url, files={"file": ("x.jpg", data, "image/jpeg")})
            assert response.status_code == status, (url, data[:20], response.text)
            assert response.json()["error"]["code"] == code
    assert client.get(f"{API}/people/{pid}").json()["face_count"] == 0


def test_too_large_uploads_are_413(tmp_path: Path) -> None:
    from facerec.app import create_app
    from tests.fakes import FakeEngine

    small = Settings(
        data_dir=tmp_path,
        upload={"max_bytes": 30_000, "max_pixels": 200 * 200},
        auth={"enabled": False},
    )
    with TestClient(create_app(small, engine=FakeEngine())) as client:
        noise = np.random.default_rng(0).integers(0, 255, (150, 150, 3), dtype=np.uint8)
        big_file = io.BytesIO()
        Image.fromarray(noise).save(big_file, format="PNG")
        response = client.post(f"{API}/recognize", files={"file": ("n.png", big_file.getvalue())})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "image_too_large"
        as_json = client.post(
            f"{API}/recognize",
            json={"image_base64": base64.b64encode(big_file.getvalue()).decode()},
        )
        assert as_json.status_code == 413
        bomb = io.BytesIO()
        Image.new("L", (5000, 5000)).save(bomb, format="PNG")  # tiny file, 25 Mpx
        assert len(bomb.getvalue()) < 30_000
        response = client.post(f"{API}/recognize", files={"file": ("b.png", bomb.getvalue())})
        assert response.status_code == 413
        assert "pixels" in response.json()["error"]["message"]


def test_malformed_requests(client: TestClient) -> None:
    missing = client.post(f"{API}/recognize", json={})
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "validation_error"
    not_b64 = client.post(f"{API}/recognize", json={"image_base64": "@@@"})
    assert not_b64.json()["error"]["code"] == "validation_error"
    broken_json = client.post(
        f"{API}/recognize", content=b"{", headers={"content-type": "application/json"}
    )
    assert broken_json.status_code == 422
    text = client.post(f"{API}/recognize", content=b"x", headers={"content-type": "text/plain"})
    assert text.status_code == 422
    raw = client.post(
        f"{API}/detect", content=picture([(RED, 80)]), headers={"content-type": "image/png"}
    )
    assert raw.status_code == 200
    assert len(raw.json()["faces"]) == 1


def test_verify_two_images_and_person(client: TestClient) -> None:
    same = client.post(
        f"{API}/verify",
        files={"file1": ("a.png", picture([(RED, 80)])), "file2": ("b.png", picture([(RED, 50)]))},
    ).json()
    assert same["same_person"] is True
    assert same["similarity"] >= 0.99
    other = client.post(
        f"{API}/verify",
        json={
            "image1_base64": base64.b64encode(picture([(RED, 80)])).decode(),
            "image2_base64": base64.b64encode(picture([(BLUE, 80)])).decode(),
        },
    ).json()
    assert other["same_person"] is False
    pid = _person(client)
    no_faces = client.post(
        f"{API}/verify",
        data={"person_id": str(pid)},
        files={"file1": ("a.png", picture([(RED, 80)]))},
    )
    assert no_faces.status_code == 422
    assert no_faces.json()["error"]["code"] == "no_enrolled_faces"
    _enrol(client, pid, picture([(RED, 80)]))
    verdict = client.post(
        f"{API}/verify", params={"person_id": pid}, files={"file1": ("a.png", picture([(RED, 40)]))}
    )
    assert verdict.json()["same_person"] is True
    unknown = client.post(
        f"{API}/verify", params={"person_id": 999}, files={"file1": ("a.png", picture([(RED, 40)]))}
    )
    assert unknown.status_code == 404
    one_only = client.post(f"{API}/verify", files={"file1": ("a.png", picture([(RED, 80)]))})
    assert one_only.status_code == 422
    faceless = client.post(
        f"{API}/verify",
        files={"file1": ("a.png", picture([(RED, 80)])), "file2": ("b.png", picture([]))},
    )
    assert faceless.json()["error"]["code"] == "no_face"


def test_detect_and_embed(client: TestClient) -> None:
    data = picture([(RED, 80), (GREEN, 40)])
    detected = client.post(f"{API}/detect", files={"file": ("a.png", data)}).json()
    assert [f["box"] for f in detected["faces"]] == [[10, 10, 90, 90], [130, 30, 170, 70]]
    assert "embedding" not in detected["faces"][0]
    embedded = client.post(f"{API}/embed", files={"file": ("a.png", data)}).json()
    assert embedded["model"] == "fake-colour-v1"
    vectors = np.asarray([f["embedding"] for f in embedded["faces"]])
    assert vectors.shape == (2, 16)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_thumbnail_delete_face_and_person_remove_files(
    client: TestClient, settings: Settings
) -> None:
    pid = _person(client)
    first = _enrol(client, pid, picture([(RED, 80)]))["faces"][0]
    second = _enrol(client, pid, picture([(RED, 60)], fmt="JPEG"), "b.jpg")["faces"][0]
    images = settings.images_dir
    assert len([p for p in images.rglob("*") if p.is_file()]) == 2

    thumb = client.get(f"{API}/faces/{first['id']}/thumbnail")
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).format == "JPEG"

    assert client.delete(f"{API}/faces/{first['id']}").status_code == 204
    assert len([p for p in images.rglob("*") if p.is_file()]) == 1
    still = client.post(f"{API}/recognize", files={"file": ("q.png", picture([(RED, 70)]))}).json()
    assert still["faces"][0]["match"]["person_id"] == pid

    assert client.delete(f"{API}/people/{pid}").status_code == 204
    assert [p for p in images.rglob("*") if p.is_file()] == []
    gone = client.post(f"{API}/recognize", files={"file": ("q.png", picture([(RED, 70)]))}).json()
    assert gone["faces"][0]["match"] is None
    assert gone["faces"][0]["candidates"] == []
    assert client.get(f"{API}/faces/{second['id']}/thumbnail").status_code == 404


def test_shared_image_survives_deleting_one_owner(client: TestClient, settings: Settings) -> None:
    data = picture([(RED, 80)])
    a, b = _person(client, "A"), _person(client, "B")
    _enrol(client, a, data)
    _enrol(client, b, data)  # the same photo for two people: one file, two faces
    files = [p for p in settings.images_dir.rglob("*") if p.is_file()]
    assert len(files) == 1
    client.delete(f"{API}/people/{a}")
    assert files[0].is_file()
    client.delete(f"{API}/people/{b}")
    assert not files[0].exists()


def test_probes_and_status(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get(f"{API}/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    pid = _person(client)
    _enrol(client, pid, picture([(RED, 80)]))
    status = client.get(f"{API}/status").json()
    assert status["people"] == 1
    assert status["faces"] == 1
    assert status["indexed_faces"] == 1
    assert status["model"] == "fake-colour-v1"
