"""Small ONNX models made here (``onnx.helper``), the shared model fixtures, and an HTTP
server on 127.0.0.1 that serves files the way a release host does (Range, 404) or badly
(a connection cut after N bytes).

The made models have the shapes of the real families, so the registry's probe can tell
them apart: an ArcFace-style recogniser (1x3xSxS -> 1xD) and a YuNet/SCRFD-style
detector (per stride 8/16/32: rows x 1, 4 and 10).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

SHARED_MODELS = Path(
    os.environ.get(
        "FACEREC_SHARED_MODELS", Path(__file__).resolve().parents[1] / ".." / "shared" / "models"
    )
).resolve()
YUNET_FILE = ("yunet", "face_detection_yunet_2023mar.onnx")
MOBILEFACENET_FILE = ("mobilefacenet", "mobilefacenet.onnx")


def shared_model(*parts: str) -> Path:
    """A file under ../shared/models, or skip the test saying what is missing."""
    path = SHARED_MODELS.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"model fixture not found at {path} (see shared/models/README.md)")
    return path


def _save(model: onnx.ModelProto, path: Path) -> Path:
    model.opset_import[0].version = 13
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def recogniser(path: Path, *, side: int = 112, dim: int = 64, seed: int = 0) -> Path:
    """1x3xSxS -> global average -> 3xD weights -> 1xD (batch dynamic)."""
    weights = np.random.default_rng(seed).normal(size=(3, dim)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["embedding"]),
        ],
        "recogniser",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, side, side])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", dim])],
        initializer=[numpy_helper.from_array(weights, "w")],
    )
    return _save(helper.make_model(graph), path)


def detector(path: Path, *, side: int | None = 320, anchors: int = 1) -> Path:
    """1x3xHxW -> per stride s (8, 16, 32) and width c (1, 4, 10): average-pool s x s,
    a 1x1 conv to ``anchors * c`` channels, reshaped to 1 x (anchors H/s W/s) x c.
    ``side`` None: a dynamic input."""
    nodes, outputs, weights = [], [], []
    shape_of = {1: [1, -1, 1], 4: [1, -1, 4], 10: [1, -1, 10]}
    for stride in (8, 16, 32):
        pooled = f"pool{stride}"
        nodes.append(
            helper.make_node(
                "AveragePool", ["input"], [pooled], kernel_shape=[stride] * 2, strides=[stride] * 2
            )
        )
        for width in (1, 4, 10):
            w = np.full((anchors * width, 3, 1, 1), 0.1, np.float32)
            weights += [numpy_helper.from_array(w, f"w{stride}_{width}")]
            weights += [numpy_helper.from_array(np.array(shape_of[width], np.int64), f"s{width}")]
            conv, moved, out = f"c{stride}_{width}", f"t{stride}_{width}", f"o{stride}_{width}"
            nodes += [
                helper.make_node("Conv", [pooled, f"w{stride}_{width}"], [conv]),
                helper.make_node("Transpose", [conv], [moved], perm=[0, 2, 3, 1]),
                helper.make_node("Reshape", [moved, f"s{width}"], [out]),
            ]
            outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, None, width]))
    dims: list[int | str] = [1, 3, side or "h", side or "w"]
    unique = {w.name: w for w in weights}
    graph = helper.make_graph(
        nodes,
        "detector",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
        outputs,
        initializer=list(unique.values()),
    )
    return _save(helper.make_model(graph), path)


@dataclass
class Served:
    """What the test server serves and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: dict[str, int] = field(default_factory=dict)
    """Path -> bytes sent before the connection is dropped (once; then served whole)."""
    ranges: list[str | None] = field(default_factory=list)
    """The Range header of every GET, in order."""
    honour_ranges: bool = True


@contextmanager
def file_server(served: Served) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` serving ``served.files`` by path (``/<name>``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.ranges.append(self.headers.get("Range"))
            body = served.files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            start = self._range_start(len(body))
            if start is None:
                return
            cut = served.cut_after.pop(self.path.lstrip("/"), None)
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            self.wfile.write(body[start:cut])
            if cut is not None:
                self.close_connection = True

        def _range_start(self, size: int) -> int | None:
            header = self.headers.get("Range")
            if not header or not served.honour_ranges:
                return 0
            start = int(header.removeprefix("bytes=").split("-")[0])
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return start

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
