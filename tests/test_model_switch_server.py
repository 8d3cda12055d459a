"""``facerec models use`` against a real two-worker server with the real models: after
the command returns, every worker answers with the new model (no restart). Then back to
dlib's: a face enrolled under MobileFaceNet (ArcFace-order points, which dlib's descriptor
cannot take) is found again in its photo, so both people are recognised."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from facerec.config import Settings
from tests.conftest import hopper_bytes
from tests.model_files import MOBILEFACENET_FILE, shared_model
from tests.servers import call, from_every_worker, running_server
from tests.test_engine_parts import install
from tests.test_engine_parts_models import MOBILEFACENET

pytestmark = [pytest.mark.models, pytest.mark.slow]
WORKERS = 2
MOBILEFACENET_ID = "mobilefacenet@85cdeb73+mirror"  # inference.tta: mirror (default)
DLIB_ID = "dlib-resnet-v1+mirror"


def test_every_worker_answers_with_the_new_model_after_models_use(tmp_path: Path) -> None:
    data = tmp_path / "data"
    install(
        Settings(data_dir=data),
        "mobilefacenet",
        shared_model(*MOBILEFACENET_FILE),
        MOBILEFACENET,
        threshold=0.6,
    )
    image = {"image_base64": base64.b64encode(hopper_bytes()).decode()}
    astronaut = _astronaut()
    env = {"FACEREC_INFERENCE__THREADS": "1"}
    with running_server(data, workers=WORKERS, env=env) as root:
        api = root + "/api/v1"
        status, person = call(api, "POST", "/people", {"name": "Grace Hopper"})
        assert status == 201, person
        status, face = call(api, "POST", f"/people/{person['id']}/faces", image)
        assert status == 201, face
        before = from_every_worker(api, "POST", "/recognize", image, workers=WORKERS)
        assert {r.body["model"] for rs in before.values() for r in rs} != {MOBILEFACENET_ID}
        assert _use(data, "mobilefacenet").returncode == 0
        after = from_every_worker(api, "POST", "/recognize", image, workers=WORKERS)
        replies = [r for rs in after.values() for r in rs]
        assert all(r.status == 200 for r in replies), replies
        assert {r.body["model"] for r in replies} == {MOBILEFACENET_ID}
        assert _names(replies) == {"Grace Hopper"}
        status, person = call(api, "POST", "/people", {"name": "Eileen Collins"})
        assert status == 201, person
        status, face = call(api, "POST", f"/people/{person['id']}/faces", astronaut)
        assert status == 201, face
        back = _use(data, "dlib-resnet")
        assert back.returncode == 0, back.stderr
        assert "not searched" not in back.stdout, back.stdout  # every face re-embedded
        for photo, name in ((image, "Grace Hopper"), (astronaut, "Eileen Collins")):
            again = from_every_worker(api, "POST", "/recognize", photo, workers=WORKERS)
            replies = [r for rs in again.values() for r in rs]
            assert {r.body["model"] for r in replies} == {DLIB_ID}, replies
            assert _names(replies) == {name}


def _use(data: Path, name: str) -> subprocess.CompletedProcess[str]:
    facerec = Path(sys.executable).with_name("facerec")
    return subprocess.run(
        [str(facerec), "models", "use", name],
        check=False,
        env={**os.environ, "FACEREC_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _names(replies: list[Any]) -> set[str | None]:
    return {f["match"]["name"] if f["match"] else None for r in replies for f in r.body["faces"]}


def _astronaut() -> dict[str, str]:
    from skimage import data

    pixels: np.ndarray[Any, Any] = data.astronaut()  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    Image.fromarray(pixels).crop((100, 0, 400, 300)).save(out, format="JPEG", quality=95)
    return {"image_base64": base64.b64encode(out.getvalue()).decode()}
