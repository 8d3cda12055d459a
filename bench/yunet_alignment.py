"""Measure how YuNet's output maps onto what dlib's 5-point shape predictor expects.

On LFW-dev images where dlib's HOG detector (the fast engine's: grey, at its scale) and
YuNet both find the centred face (IoU >= 0.3), it fits, by least squares:

1. the HOG box from YuNet's: HOG side = s x YuNet's width (HOG's boxes are square), HOG
   centre = YuNet's box centre + (dx, dy) x its width, or (better, what
   ``facerec.inference.parts.YUNET_TO_HOG`` holds) the centre of YuNet's 5 points +
   (dx, dy) x their RMS distance from it;
2. YuNet's 5 points (ArcFace order) in the frame of dlib's 5 points: each face's dlib
   points are mapped onto dlib's mean face (similarity), YuNet's points follow, and the
   mean is ``facerec.inference.arcface.ARCFACE_POINTS_IN_DLIB_FRAME`` (how HOG/CNN boxes
   give ArcFace points).

It reports the shape predictor's point error (pixels, and per inter-ocular distance)
when started from a mapped YuNet box instead of the HOG box, for both mappings.

    python bench/yunet_alignment.py [--images 600] [--yunet ../shared/models/yunet/...onnx]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from facerec.config import DetectorSettings
from facerec.inference.dlib_engine import DlibDetector, DlibLandmarker, ThreadModels
from facerec.inference.mean_face import MEAN_FACE_5, similarity_transform
from facerec.inference.types import Detection
from facerec.inference.yunet import YuNetDetector

ROOT = Path(__file__).resolve().parents[1].parent / "shared"
LFW = ROOT / "data" / "lfw-dev"
YUNET = ROOT / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"


def _iou(a: Detection, b: Detection) -> float:
    w = min(a.x2, b.x2) - max(a.x1, b.x1)
    h = min(a.y2, b.y2) - max(a.y1, b.y1)
    inter = max(0.0, w) * max(0.0, h)
    return inter / (a.area + b.area - inter) if inter else 0.0


def _centred(found: list[Detection], side: int) -> Detection | None:
    if not found:
        return None
    c = side / 2
    return min(found, key=lambda d: ((d.x1 + d.x2) / 2 - c) ** 2 + ((d.y1 + d.y2) / 2 - c) ** 2)


def _spread(points: np.ndarray) -> float:
    """RMS distance of the points from their centre."""
    return float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()))


def fit(a: np.ndarray, b: np.ndarray) -> tuple[list[float], list[float]]:
    """HOG centre = (x, y) + (dx, dy) x size, HOG side = s x size; mean abs error / side."""
    dx = float(np.mean((b[:, 0] - a[:, 0]) / a[:, 2]))
    dy = float(np.mean((b[:, 1] - a[:, 1]) / a[:, 2]))
    s = float(np.sum(b[:, 2] * a[:, 2]) / np.sum(a[:, 2] ** 2))
    pred = np.stack([a[:, 0] + dx * a[:, 2], a[:, 1] + dy * a[:, 2], s * a[:, 2]], axis=1)
    return [dx, dy, s], [round(float(e), 4) for e in (np.abs(pred - b) / b[:, 2:3]).mean(axis=0)]


def collect(paths: list[Path], yunet_file: Path) -> dict[str, list[Any]]:
    """Per face both detectors found: YuNet's box and points, HOG's box, dlib's points."""
    hog = DlibDetector("hog", DetectorSettings(), ThreadModels())
    yunet = YuNetDetector(yunet_file)
    landmarker = DlibLandmarker()
    found: dict[str, list[Any]] = {"faces": [], "hog": [], "dlib": [], "pixels": []}
    for path in paths:
        pixels = np.asarray(Image.open(path).convert("RGB"))
        h = _centred(hog.detect(pixels), pixels.shape[0])
        faces = yunet.faces(pixels)
        y = _centred([f.detection for f in faces], pixels.shape[0])
        if h is None or y is None or _iou(h, y) < 0.3:
            continue
        found["faces"].append(next(f for f in faces if f.detection is y))
        found["hog"].append(((h.x1 + h.x2) / 2, (h.y1 + h.y2) / 2, h.width))
        found["dlib"].append(landmarker.landmarks(pixels, [h])[0].astype(np.float64))
        found["pixels"].append(pixels)
    return found


def point_error(found: dict[str, list[Any]], centre: Any, side: float) -> str:
    """The shape predictor's points from a mapped YuNet box vs from HOG's box."""
    landmarker = DlibLandmarker()
    errors, ocular = [], []
    for pixels, face, ref in zip(found["pixels"], found["faces"], found["dlib"], strict=True):
        cx, cy = centre(face)
        half = side * face.detection.width / 2
        mapped = Detection(cx - half, cy - half, cx + half, cy + half, 1.0)
        got = landmarker.landmarks(pixels, [mapped])[0]
        errors.append(np.linalg.norm(got - ref, axis=1).mean())
        ocular.append(np.linalg.norm(ref[0:2].mean(0) - ref[2:4].mean(0)))
    e, o = np.asarray(errors), np.asarray(ocular)
    return (
        f"mean {e.mean():.2f} px, median {np.median(e):.2f} px, / inter-ocular {np.mean(e / o):.4f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--yunet", type=Path, default=YUNET)
    args = parser.parse_args()
    if not LFW.is_dir() or not args.yunet.is_file():
        print(f"skipped: {LFW} or {args.yunet} is absent")
        return 0
    paths = sorted(LFW.glob("*/*.jpg"))
    paths = paths[:: max(1, len(paths) // args.images)][: args.images]
    found = collect(paths, args.yunet)
    faces, hog = found["faces"], np.asarray(found["hog"])
    boxes = np.asarray(
        [
            (
                (f.detection.x1 + f.detection.x2) / 2,
                (f.detection.y1 + f.detection.y2) / 2,
                f.detection.width,
            )
            for f in faces
        ]
    )
    by_points = np.asarray([(*f.points.mean(axis=0), _spread(f.points)) for f in faces])
    print(f"faces both found: {len(faces)} of {len(paths)} images")
    (bx, by, side), error = fit(boxes, hog)
    print(f"HOG box from YuNet's box: dx {bx:.4f} dy {by:.4f} side {side:.4f}, error {error}")
    (px, py, _), error = fit(by_points, hog)
    print(f"HOG centre from YuNet's points: dx {px:.4f} dy {py:.4f}, error {error}")

    def box_centre(f: Any) -> tuple[float, float]:
        d = f.detection
        return (d.x1 + d.x2) / 2 + bx * d.width, (d.y1 + d.y2) / 2 + by * d.width

    def point_centre(f: Any) -> tuple[float, float]:
        x, y = f.points.mean(axis=0) + np.array([px, py]) * _spread(f.points)
        return float(x), float(y)

    print("shape predictor, box-only mapping:", point_error(found, box_centre, side))
    print(
        "shape predictor, YUNET_TO_HOG (points' centre, box side):",
        point_error(found, point_centre, side),
    )
    framed = []
    for face, points in zip(faces, found["dlib"], strict=True):
        m, t = similarity_transform(points, MEAN_FACE_5)
        framed.append(face.points.astype(np.float64) @ m.T + t)
    frame, spread = np.mean(framed, axis=0), np.std(framed, axis=0).mean()
    print("ARCFACE_POINTS_IN_DLIB_FRAME:", np.round(frame, 4).tolist(), f"(std {spread:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
