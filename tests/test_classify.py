"""POST /classify and ``facerec classify`` with a fake classifier: the answer's shape and
order, ``top_k``, the three image inputs, errors, and the inference stage shared with
faces (one ``max_pending`` bound, 503 ``busy`` with Retry-After)."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from facerec.app import create_app
from facerec.cli import CliContext, app
from facerec.config import Settings
from facerec.errors import Busy, NotReady
from facerec.inference.runtime import FaceRuntime
from tests.classify_fakes import LABELS, FakeClassifier, flat
from tests.fakes import FakeEngine, picture

RED = (200, 0, 0)


def _expected(colour: tuple[int, int, int]) -> list[tuple[int, float]]:
    """(index, probability) of every class, by hand: logits colour / 10, the rest 0."""
    logits = [c / 10 for c in colour] + [0.0] * (len(LABELS) - 3)
    total = sum(math.exp(v) for v in logits)
    probs = [(i, math.exp(v) / total) for i, v in enumerate(logits)]
    return sorted(probs, key=lambda p: (-p[1], p[0]))


@pytest.fixture
def classifier() -> FakeClassifier:
    return FakeClassifier()


@pytest.fixture
def classify_client(settings: Settings, classifier: FakeClassifier) -> Iterator[TestClient]:
    application = create_app(settings, engine=FakeEngine(), classifier=classifier)
    with TestClient(application) as test_client:
        yield test_client


def test_the_answer_lists_the_top_five_labels_most_probable_first(
    classify_client: TestClient,
) -> None:
    answer = classify_client.post("/api/v1/classify", files={"file": flat((30, 120, 60))})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "fake-classes-v1"
    expected = _expected((30, 120, 60))[:5]
    assert [row["index"] for row in body["labels"]] == [i for i, _ in expected]
    assert [row["label"] for row in body["labels"]] == [LABELS[i] for i, _ in expected]
    for row, (_, probability) in zip(body["labels"], expected, strict=True):
        assert row["probability"] == pytest.approx(probability, rel=1e-5)


@pytest.mark.parametrize("k", [1, 7, 20])
def test_top_k_from_the_query_or_the_form(classify_client: TestClient, k: int) -> None:
    by_query = classify_client.post(f"/api/v1/classify?top_k={k}", files={"file": flat(RED)})
    by_form = classify_client.post(
        "/api/v1/classify", files={"file": flat(RED)}, data={"top_k": str(k)}
    )
    expected = [i for i, _ in _expected(RED)[:k]]
    for answer in (by_query, by_form):
        assert answer.status_code == 200, answer.text
        assert [row["index"] for row in answer.json()["labels"]] == expected


@pytest.mark.parametrize("k", ["0", "21", "-1", "five"])
def test_top_k_outside_1_to_20_is_422(classify_client: TestClient, k: str) -> None:
    for answer in (
        classify_client.post(f"/api/v1/classify?top_k={k}", files={"file": flat(RED)}),
        classify_client.post("/api/v1/classify", files={"file": flat(RED)}, data={"top_k": k}),
    ):
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "validation_error"


def test_base64_json_and_a_raw_body_answer_as_multipart(classify_client: TestClient) -> None:
    image = flat((0, 0, 220), fmt="JPEG")
    multipart = classify_client.post("/api/v1/classify", files={"file": image}).json()
    as_json = classify_client.post(
        "/api/v1/classify", json={"image_base64": base64.b64encode(image).decode(), "top_k": 5}
    ).json()
    raw = classify_client.post(
        "/api/v1/classify", content=image, headers={"Content-Type": "image/jpeg"}
    ).json()
    assert multipart["labels"][0]["label"] == "blue"
    assert as_json == multipart == raw


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not an image at all", 400, "invalid_image"),
        (flat(RED)[:60], 400, "invalid_image"),
        (b"", 422, "validation_error"),
    ],
)
def test_a_bad_image_is_answered_as_for_faces(
    classify_client: TestClient, body: bytes, status: int, code: str
) -> None:
    files = {"file": ("x.png", body, "image/png")} if body else None
    answer = classify_client.post("/api/v1/classify", files=files, data={"top_k": "3"})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code


def test_an_image_over_the_pixel_limit_is_413(
    settings: Settings, classifier: FakeClassifier
) -> None:
    small = settings.model_copy(
        update={"upload": settings.upload.model_copy(update={"max_pixels": 10_000})}
    )
    with TestClient(create_app(small, engine=FakeEngine(), classifier=classifier)) as client:
        answer = client.post("/api/v1/classify", files={"file": flat(RED, size=200)})
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["code"] == "image_too_large"
    assert classifier.batches == []


def test_classification_runs_on_the_inference_threads_and_is_not_loaded_at_start(
    classify_client: TestClient, classifier: FakeClassifier
) -> None:
    assert classifier.loads == 0  # preload is off: the first request pays for the model
    classify_client.post("/api/v1/classify", files={"file": flat(RED)})
    assert classifier.threads == ["facerec-inference_0"]


def test_a_full_inference_stage_is_503_busy_for_faces_and_classification_alike(
    settings: Settings, classifier: FakeClassifier
) -> None:
    tight = settings.model_copy(
        update={"inference": settings.inference.model_copy(update={"max_pending": 1})}
    )
    gate = classifier.hold()
    with TestClient(create_app(tight, engine=FakeEngine(), classifier=classifier)) as client:
        first: dict[str, int] = {}
        held = threading.Thread(
            target=lambda: first.update(
                status=client.post("/api/v1/classify", files={"file": flat(RED)}).status_code
            )
        )
        held.start()
        assert classifier.entered.wait(timeout=10)
        try:
            for path, image in (("classify", flat(RED)), ("recognize", picture([(RED, 60)]))):
                answer = client.post(f"/api/v1/{path}", files={"file": image})
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"]["code"] == "busy"
                assert answer.headers["Retry-After"] == "1"
        finally:
            gate.set()
            held.join(timeout=10)
        assert first == {"status": 200}
        assert client.post("/api/v1/classify", files={"file": flat(RED)}).status_code == 200


def test_the_runtime_counts_a_held_classification_against_max_pending(
    settings: Settings, classifier: FakeClassifier
) -> None:
    tight = settings.model_copy(
        update={"inference": settings.inference.model_copy(update={"max_pending": 1})}
    )
    runtime = FaceRuntime(FakeEngine(), tight, classifier=classifier)
    gate = classifier.hold()

    async def scenario() -> None:
        held = asyncio.ensure_future(runtime.classify(flat(RED)))
        await asyncio.to_thread(classifier.entered.wait, 10)
        with pytest.raises(Busy):
            await runtime.run(picture([(RED, 60)]))
        gate.set()
        assert (await held).probabilities.argmax() == 0
        assert runtime.budget.used == 0

    try:
        asyncio.run(scenario())
    finally:
        gate.set()
        runtime.close()


def test_concurrent_classifications_share_network_calls(
    settings: Settings, classifier: FakeClassifier
) -> None:
    threads = settings.model_copy(
        update={"inference": settings.inference.model_copy(update={"threads": 4})}
    )
    runtime = FaceRuntime(FakeEngine(), threads, classifier=classifier)
    gate = classifier.hold()

    async def scenario() -> list[int]:
        first = asyncio.ensure_future(runtime.classify(flat(RED)))
        await asyncio.to_thread(classifier.entered.wait, 10)
        rest = [asyncio.ensure_future(runtime.classify(flat((0, 200, 0)))) for _ in range(3)]
        await asyncio.sleep(0.3)  # the three queue behind the held batch
        gate.set()
        done = await asyncio.gather(first, *rest)
        return [int(c.probabilities.argmax()) for c in done]

    try:
        assert asyncio.run(scenario()) == [0, 1, 1, 1]
    finally:
        gate.set()
        runtime.close()
    assert classifier.batches == [1, 3]


def test_a_runtime_without_a_classifier_is_not_ready(settings: Settings) -> None:
    runtime = FaceRuntime(FakeEngine(), settings)
    with pytest.raises(NotReady):
        asyncio.run(runtime.classify(flat(RED)))


def test_the_cli_prints_labels_and_fails_for_an_unreadable_file(
    tmp_path: pytest.TempPathFactory, classifier: FakeClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "images"  # type: ignore[operator]
    folder.mkdir()
    (folder / "green.png").write_bytes(flat((0, 180, 0)))
    (folder / "broken.png").write_bytes(b"nope")
    monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path / "data"))  # type: ignore[operator]
    result = CliRunner().invoke(
        app,
        ["classify", str(folder), "--json", "--top-k", "2"],
        obj=CliContext(classifier=classifier),
    )
    assert result.exit_code == 1, result.output
    printed = json.loads(result.stdout)
    green = printed[str(folder / "green.png")]
    assert [row["label"] for row in green["labels"]] == ["green", "red"]
    assert printed[str(folder / "broken.png")]["error"]["code"] == "invalid_image"
    assert "1 ok, 1 failed" in result.stderr
