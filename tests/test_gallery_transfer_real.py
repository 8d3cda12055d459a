"""A gallery import with the real models: a face stored by another model id is found again
on its photo and embedded by the running engine, which gives the descriptor that engine
gave when the photo was enrolled."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from facerec.app import create_app
from facerec.config import Settings
from facerec.faces.models import Face
from facerec.inference.types import FaceEngine
from tests.conftest import hopper_bytes

pytestmark = pytest.mark.models
API = "/api/v1"


@pytest.fixture
def second(
    settings: Settings,
    real_engine: FaceEngine,
    tmp_path: Path,
    other_database_url: str | None,
) -> Iterator[TestClient]:
    other = settings.model_copy(
        update={"data_dir": tmp_path / "second", "match_threshold": Settings().match_threshold}
    )
    if other_database_url is not None:  # PostgreSQL: a second installation's own database
        other.database_url = other_database_url
    with TestClient(create_app(other, engine=real_engine)) as client:
        yield client


def _relabelled(data: bytes, model: str) -> bytes:
    """The export as if another model had made its descriptors."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as old, zipfile.ZipFile(out, "w") as new:
        for info in old.infolist():
            content = old.read(info.filename)
            if info.filename == "faces.jsonl":
                lines = [json.loads(x) for x in content.splitlines()]
                content = b"".join(
                    json.dumps({**x, "model": model}).encode() + b"\n" for x in lines
                )
            if info.filename == "manifest.json":
                manifest = json.loads(content)
                manifest["models"] = {model: sum(manifest["models"].values())}
                content = json.dumps(manifest).encode()
            new.writestr(info.filename, content)
    return out.getvalue()


def test_other_model_is_re_embedded_with_the_real_engine(
    real_client: TestClient, second: TestClient
) -> None:
    pid = real_client.post(f"{API}/people", json={"name": "Grace"}).json()["id"]
    enrolled = real_client.post(
        f"{API}/people/{pid}/faces", files={"file": ("g.jpg", hopper_bytes())}
    )
    assert enrolled.status_code == 201, enrolled.text
    export = real_client.get(f"{API}/gallery/export").content
    report = second.post(
        f"{API}/gallery/import", files={"file": ("g.zip", _relabelled(export, "older-v0"))}
    ).json()
    assert (report["faces_added"], report["faces_reembedded"], report["failed"]) == (1, 1, [])
    with Session(real_client.app.state.facerec.db) as session:  # type: ignore[attr-defined]
        original = session.exec(select(Face)).one()
    with Session(second.app.state.facerec.db) as session:  # type: ignore[attr-defined]
        imported = session.exec(select(Face)).one()
    assert imported.model == original.model
    assert imported.box == original.box
    np.testing.assert_allclose(imported.vector(), original.vector(), atol=1e-5)
    answer = second.post(f"{API}/recognize", files={"file": ("q.jpg", hopper_bytes())}).json()
    assert answer["faces"][0]["match"]["name"] == "Grace"
