"""ArcFace-style recognisers from the model registry: 5-point alignment and the network.

A face is aligned by the similarity transform (least squares, Umeyama, as dlib's chips
are: :func:`~facerec.inference.mean_face.similarity_transform`) that takes its 5 points
(ArcFace order: the subject's right eye, left eye, nose tip, right and left mouth
corners) onto ``ARCFACE_TEMPLATE`` scaled to the contract's side (112 for the standard
template), warped bilinearly (Pillow), then fed as ``(pixel - mean) / std`` in the
contract's colour order, NCHW float32. The descriptor is normalised by the runtime
(``l2_normalise``, the one place).

When the points come from dlib's 5-point shape predictor (HOG or CNN boxes: eye corners
and the base of the nose, no mouth), :func:`arcface_points_from_dlib` places the ArcFace
points by ``ARCFACE_POINTS_IN_DLIB_FRAME``: where YuNet's 5 points lie, on average, in the
frame of dlib's mean face, measured by ``bench/yunet_alignment.py`` on 596 LFW-dev faces
both detectors found (spread 0.045 of the mean face's side).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facerec.errors import NotReady
from facerec.inference.mean_face import MEAN_FACE_5, similarity_transform
from facerec.inference.types import Landmarks, RGBImage
from facerec.registry.contract import ARCFACE_TEMPLATE, InputContract

TEMPLATE = np.asarray(ARCFACE_TEMPLATE, dtype=np.float64)
TEMPLATE_SIDE = 112
ARCFACE_POINTS_IN_DLIB_FRAME = np.array(
    [[0.2249, 0.2038], [0.7823, 0.2124], [0.5030, 0.5295], [0.2652, 0.7685], [0.7393, 0.7744]]
)
"""YuNet's 5 points in dlib's mean-face frame (``mean_face.MEAN_FACE_5``), LFW-dev mean."""


def arcface_points_from_dlib(points: Landmarks) -> Landmarks:
    """ArcFace-order points for a face whose dlib 5-point shape is ``points``."""
    m, t = similarity_transform(MEAN_FACE_5, points.astype(np.float64))
    mapped: Landmarks = (ARCFACE_POINTS_IN_DLIB_FRAME @ m.T + t).astype(np.float32)
    return mapped


def alignment_matrix(points: Landmarks, size: int = TEMPLATE_SIDE) -> NDArray[np.float64]:
    """The 2x3 similarity taking image points onto the template scaled to ``size``."""
    m, t = similarity_transform(points.astype(np.float64), TEMPLATE * (size / TEMPLATE_SIDE))
    return np.hstack([m, t[:, None]])


def arcface_chips(
    image: RGBImage, landmarks: Sequence[Landmarks], size: int = TEMPLATE_SIDE
) -> NDArray[np.uint8]:
    """``(n, size, size, 3)`` uint8 RGB chips, each face warped onto the template."""
    source = Image.fromarray(image)
    chips = np.empty((len(landmarks), size, size, 3), dtype=np.uint8)
    for i, points in enumerate(landmarks):
        forward = alignment_matrix(points, size)
        inverse = np.linalg.inv(np.vstack([forward, [0.0, 0.0, 1.0]]))
        # Pillow samples the source at A @ (x + 0.5, y + 0.5) - 0.5 (pixel centres); with
        # A = shift(0.5) @ inverse @ shift(-0.5) that is inverse @ (x, y), as cv2.warpAffine
        shift = np.eye(3)
        shift[:2, 2] = 0.5
        centred = shift @ inverse @ np.linalg.inv(shift)
        coefficients = tuple(float(v) for v in centred[:2].reshape(-1))
        warped = source.transform(
            (size, size), Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR
        )
        chips[i] = np.asarray(warped)
    return chips


class ArcFaceEmbedder:
    """A registry recogniser (``family: arcface``) on ONNX Runtime: the
    :class:`~facerec.inference.types.ChipEmbedder` of its own aligned chips."""

    def __init__(
        self,
        path: Path,
        contract: InputContract,
        *,
        model_id: str,
        dim: int,
        default_threshold: float | None = None,
        intra_op_threads: int = 0,
        providers: Sequence[str] | None = None,
        max_batch: int = 64,
    ) -> None:
        self.path = path
        self.contract = contract
        self.model_id = model_id
        self.dim = dim
        self.default_threshold = default_threshold
        """The manifest's match threshold for this model (None: not measured)."""
        self.size = contract.size or TEMPLATE_SIDE
        self.intra_op_threads = intra_op_threads
        self.providers = list(providers) if providers else ["CPUExecutionProvider"]
        self.max_batch = max(1, max_batch)
        self._session: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Open the session (idempotent); ``NotReady`` when the file cannot be run."""
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.intra_op_threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            try:
                self._session = ort.InferenceSession(
                    str(self.path), options, providers=self.providers
                )
            except Exception as exc:  # missing, damaged, not ONNX
                raise NotReady(f"cannot load the recogniser {self.path}: {exc}") from exc

    def align(self, image: RGBImage, landmarks: Sequence[Landmarks]) -> NDArray[np.uint8]:
        return arcface_chips(image, landmarks, self.size)

    def prepare(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The network's input for RGB chips: colour order, ``(x - mean) / std``, NCHW."""
        pixels = chips[..., ::-1] if self.contract.colour == "BGR" else chips
        scaled = (pixels.astype(np.float32) - self.contract.mean) / self.contract.std
        return np.ascontiguousarray(scaled.transpose(0, 3, 1, 2))

    def embed_chips(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        self.load()
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        name = self._session.get_inputs()[0].name
        batch = self.prepare(chips)
        parts = [
            self._session.run(None, {name: batch[i : i + self.max_batch]})[0]
            for i in range(0, len(batch), self.max_batch)
        ]
        return np.concatenate(parts).reshape(len(chips), -1).astype(np.float32, copy=False)

    def embed(self, image: RGBImage, landmarks: Sequence[Landmarks]) -> NDArray[np.float32]:
        if not landmarks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_chips(self.align(image, landmarks))
