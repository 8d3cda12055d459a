"""Acceptance on ../shared/data (skipped when absent): LFW-dev identification with
strangers, and every hard case answered correctly or with its documented error."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import shared_path

pytestmark = [pytest.mark.models, pytest.mark.shared_data]
API = "/api/v1"


def _recognise(client: TestClient, path: Path) -> list[dict[str, Any]]:
    response = client.post(f"{API}/recognize", files={"file": (path.name, path.read_bytes())})
    assert response.status_code == 200, (path, response.text)
    faces: list[dict[str, Any]] = response.json()["faces"]
    return faces


def _central(faces: list[dict[str, Any]], size: int = 250) -> dict[str, Any] | None:
    """LFW images are centred on the labelled person."""
    if not faces:
        return None
    return min(
        faces,
        key=lambda f: (
            abs((f["box"][0] + f["box"][2]) / 2 - size / 2)
            + abs((f["box"][1] + f["box"][3]) / 2 - size / 2)
        ),
    )


def _enrol_first(client: TestClient, pid: int, photos: list[Path]) -> int:
    """As a user would: enrol the first photo that is accepted; its position."""
    for i, photo in enumerate(photos):
        files = {"file": (photo.name, photo.read_bytes())}
        enrolled = client.post(f"{API}/people/{pid}/faces", files=files)
        if enrolled.status_code == 201:
            return i
        assert enrolled.json()["error"]["code"] in {"multiple_faces", "no_face", "low_quality"}, (
            enrolled.text
        )
    pytest.fail(f"no photo of person {pid} could be enrolled")


def test_lfw_identification_with_strangers(real_client: TestClient) -> None:
    root = shared_path("lfw-dev")
    people = sorted(d for d in root.iterdir() if d.is_dir())
    multi = [d for d in people if len(list(d.glob("*.jpg"))) >= 2]
    single = [d for d in people if len(list(d.glob("*.jpg"))) == 1]
    gallery = multi[:: len(multi) // 30][:30]  # 30 identities spread over the alphabet
    strangers = single[:: len(single) // 100][:100]

    ids, probe_paths = {}, []
    for person in gallery:
        pid = real_client.post(f"{API}/people", json={"name": person.name}).json()["id"]
        photos = sorted(person.glob("*.jpg"))
        i = _enrol_first(real_client, pid, photos)
        ids[pid] = person.name
        probe_paths += [(person.name, p) for p in photos[i + 1 : i + 4]]

    probes = rank1 = matched_right = 0
    for name, path in probe_paths:
        face = _central(_recognise(real_client, path))
        probes += 1
        if face and face["candidates"] and ids[face["candidates"][0]["person_id"]] == name:
            rank1 += 1
            matched_right += face["match"] is not None
    false_accepts = 0
    for person in strangers:
        face = _central(_recognise(real_client, next(person.glob("*.jpg"))))
        false_accepts += bool(face and face["match"])

    rank1_rate, open_set_rate = rank1 / probes, matched_right / probes
    far = false_accepts / len(strangers)
    print(
        f"\nLFW-dev 1:N, gallery {len(gallery)}: probes {probes}, rank-1 {rank1_rate:.1%}, "
        f"matched at threshold {open_set_rate:.1%}; strangers {len(strangers)}, "
        f"falsely matched {far:.1%}"
    )
    assert rank1_rate >= 0.90
    assert far <= 0.03


# Outcomes that differ from the category's rule, with the reason (documented in README).
KNOWN_LIMITS = {
    "rembg/car-1.jpg": "the only person is a few pixels tall, far below min_face_px",
    "pillow/junk_jpeg_header.jpg": "junk before the JPEG start marker: decodes, no face",
}
ZERO = {
    "no_face_scene_or_object",
    "no_human_face_animal_faces",
    "person_no_visible_face",
    "png_real_alpha_no_face",
    "cmyk_jpeg",
    "extension_mismatch",
    "stylized_face",
}
AT_LEAST_ONE = {
    "small_or_lowres_face",
    "exif_rotated",
    "grayscale",
    "png_real_alpha_with_face",
    "png_rgba_opaque_with_face",
    "webp",
    "animated_gif_with_face",
    "occlusion_or_partial_face",
    "large_image",
    "pixel_rotated",  # 45 degrees: HOG misses it, the CNN fallback finds it
}
SEVERAL = {"multi_face_group", "multi_face_small_faces"}


def _hard_cases() -> list[tuple[str, str]]:
    table = shared_path("faces", "hard_cases.csv")
    with table.open() as handle:
        return [(row["path"], row["category"]) for row in csv.DictReader(handle)]


def test_every_hard_case(real_client: TestClient) -> None:
    root = shared_path("faces")
    upright = _recognise(real_client, root / "pillow/hopper.jpg")[0]["box"]
    for relative, category in _hard_cases():
        response = real_client.post(
            f"{API}/recognize",
            files={"file": (Path(relative).name, (root / relative).read_bytes())},
        )
        where = f"{relative} ({category})"
        if category == "corrupt_or_not_an_image" and relative not in KNOWN_LIMITS:
            assert response.status_code == 400, where
            assert response.json()["error"]["code"] == "invalid_image", where
            continue
        assert response.status_code == 200, (where, response.text)
        count = len(response.json()["faces"])
        if relative in KNOWN_LIMITS or category in ZERO:
            assert count == 0, where
        elif category in AT_LEAST_ONE:
            assert count >= 1, where
        elif category in SEVERAL:
            assert count >= 2, where
        else:
            pytest.fail(f"no rule for category {category}")
        if category == "exif_rotated":  # turned upright: the face sits where it does upright
            box = response.json()["faces"][0]["box"]
            assert all(abs(a - b) <= 6 for a, b in zip(box, upright, strict=True)), where


def test_group_photos_are_refused_for_enrolment(real_client: TestClient) -> None:
    root = shared_path("faces")
    pid = real_client.post(f"{API}/people", json={"name": "x"}).json()["id"]
    for relative in ("face_recognition/examples/two_people.jpg", "dlib/faces/bald_guys.jpg"):
        data = (root / relative).read_bytes()
        refused = real_client.post(f"{API}/people/{pid}/faces", files={"file": ("g.jpg", data)})
        assert refused.status_code == 422, relative
        assert refused.json()["error"]["code"] == "multiple_faces"
    big = (root / "face_recognition/examples/obama-1080p.jpg").read_bytes()
    assert (
        real_client.post(f"{API}/people/{pid}/faces", files={"file": ("o.jpg", big)}).status_code
        == 201
    )
