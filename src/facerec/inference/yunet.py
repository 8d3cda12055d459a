"""YuNet (OpenCV Zoo's ``face_detection_yunet_2023mar.onnx``) in ONNX Runtime: face boxes
and 5 landmarks in ~2-3 ms an LFW image. Not wired into any engine yet (issue #14 item 2).

The published file fixes its input at 640x640; the network is fully convolutional, so
the input's height and width are made symbolic when loading and any multiple of 32 runs.
An image is scaled so that its longer side is at most ``max_side``, padded right and
below to multiples of 32, fed as BGR float32 0-255 (NCHW), and decoded as OpenCV's
``FaceDetectorYN`` does: per stride s (8, 16, 32) and cell (row, col), score
sqrt(cls x obj), box centre ((col, row) + offset) x s, size exp(log size) x s, landmarks
((col, row) + offset) x s; then greedy NMS on IoU. Boxes and points come back in the
original image's pixels.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facerec.errors import NotReady
from facerec.inference.types import Detection, RGBImage

STRIDES = (8, 16, 32)


@dataclass(frozen=True, slots=True)
class YuNetFace:
    detection: Detection
    points: NDArray[np.float32]
    """5 x 2 (x, y) image pixels in YuNet's (and the ArcFace template's) order: the
    subject's right eye (image left), left eye, nose tip, right and left mouth corners."""


class YuNetDetector:
    """``detect(image)`` (the ``Detector`` protocol) and ``faces(image)`` (with points)."""

    def __init__(
        self,
        model_path: Path,
        *,
        max_side: int = 640,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        threads: int = 1,
    ) -> None:
        if max_side < 32 or max_side % 32:
            raise ValueError("max_side must be a positive multiple of 32")
        self.model_path = model_path
        self.max_side = max_side
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.top_k = top_k
        self.threads = threads
        self._session: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Idempotent; ``NotReady`` when the file is missing or not YuNet."""
        with self._lock:
            if self._session is None:
                self._session = _session(self.model_path, self.threads)

    def detect(self, image: RGBImage) -> list[Detection]:
        return [face.detection for face in self.faces(image)]

    def faces(self, image: RGBImage) -> list[YuNetFace]:
        self.load()
        height, width = image.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        blob = _blob(image, scale)
        outputs = dict(
            zip(self._output_names(), self._session.run(None, {"input": blob}), strict=True)
        )
        scores, boxes, points = _decode(outputs, blob.shape[2], blob.shape[3])
        keep = _nms(boxes, scores, self.score_threshold, self.nms_threshold, self.top_k)
        return [_face(boxes[i] / scale, scores[i], points[i] / scale, width, height) for i in keep]

    def _output_names(self) -> list[str]:
        return [o.name for o in self._session.get_outputs()]


def _session(path: Path, threads: int) -> Any:
    import onnx
    import onnxruntime as ort

    try:
        model = onnx.load(str(path))
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_param, dims[3].dim_param = "height", "width"
        for output in model.graph.output:
            output.type.tensor_type.shape.dim[1].dim_param = "rows"
        del model.graph.value_info[:]  # shapes inferred for 640x640 no longer hold
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        return ort.InferenceSession(
            model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # missing file, not ONNX, not this graph
        raise NotReady(f"cannot load the YuNet model {path}: {exc}") from exc


def _blob(image: RGBImage, scale: float) -> NDArray[np.float32]:
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    scaled = image if scale == 1.0 else np.asarray(Image.fromarray(image).resize(size))
    blob = np.zeros((1, 3, _up32(size[1]), _up32(size[0])), np.float32)
    blob[0, :, : size[1], : size[0]] = scaled.transpose(2, 0, 1)[::-1]  # BGR planes
    return blob


def _up32(n: int) -> int:
    return max(32, math.ceil(n / 32) * 32)


def _decode(
    outputs: dict[str, NDArray[np.float32]], height: int, width: int
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Scores (n), boxes (n x 4: x, y, w, h) and points (n x 5 x 2) of every cell."""
    scores, boxes, points = [], [], []
    for s in STRIDES:
        rows, cols = height // s, width // s
        row, col = np.divmod(np.arange(rows * cols, dtype=np.float32), cols)
        cls = np.clip(outputs[f"cls_{s}"].reshape(-1), 0, 1)
        obj = np.clip(outputs[f"obj_{s}"].reshape(-1), 0, 1)
        bbox = outputs[f"bbox_{s}"].reshape(-1, 4)
        kps = outputs[f"kps_{s}"].reshape(-1, 5, 2)
        centre_x, centre_y = (col + bbox[:, 0]) * s, (row + bbox[:, 1]) * s
        w, h = np.exp(bbox[:, 2]) * s, np.exp(bbox[:, 3]) * s
        scores.append(np.sqrt(cls * obj))
        boxes.append(np.stack([centre_x - w / 2, centre_y - h / 2, w, h], axis=1))
        points.append(
            np.stack([(kps[..., 0] + col[:, None]) * s, (kps[..., 1] + row[:, None]) * s], axis=2)
        )
    return (
        np.concatenate(scores).astype(np.float32),
        np.concatenate(boxes).astype(np.float32),
        np.concatenate(points).astype(np.float32),
    )


def _nms(
    boxes: NDArray[np.float32],
    scores: NDArray[np.float32],
    min_score: float,
    max_iou: float,
    top_k: int,
) -> list[int]:
    """Greedy non-maximum suppression (as OpenCV's ``NMSBoxes``): best first, dropping
    every box overlapping a kept one by more than ``max_iou``."""
    candidates = np.flatnonzero(scores >= min_score)  # in index order: ties stay in it
    ranked = candidates[np.argsort(-scores[candidates], kind="stable")]
    order = [int(i) for i in ranked[:top_k]]
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    area = boxes[:, 2] * boxes[:, 3]
    kept: list[int] = []
    for i in order:
        if kept:
            k = np.array(kept)
            inter_w = np.clip(np.minimum(x2[i], x2[k]) - np.maximum(x1[i], x1[k]), 0, None)
            inter_h = np.clip(np.minimum(y2[i], y2[k]) - np.maximum(y1[i], y1[k]), 0, None)
            inter = inter_w * inter_h
            if np.any(inter / (area[i] + area[k] - inter) > max_iou):
                continue
        kept.append(i)
    return kept


def _face(
    box: NDArray[np.float32], score: float, points: NDArray[np.float32], width: int, height: int
) -> YuNetFace:
    x, y, w, h = (float(v) for v in box)
    detection = Detection(
        x1=max(0.0, x),
        y1=max(0.0, y),
        x2=min(float(width), x + w),
        y2=min(float(height), y + h),
        score=float(score),
    )
    return YuNetFace(detection=detection, points=points.astype(np.float32))
