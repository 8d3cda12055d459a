"""Measure how YuNet's output maps onto what dlib's 5-point shape predictor expects.

On LFW-dev images where dlib's HOG detector (the fast engine's: grey, at its scale) and
YuNet both find the centred face (IoU >= 0.3), it fits, by least squares:

1. the HOG box from the YuNet box: HOG centre = YuNet centre + (ax, ay) x YuNet width,
   HOG side = s x YuNet width (HOG's boxes are square); the figures go into
   ``facerec.inference.parts.YUNET_TO_HOG``;
2. YuNet's 5 points (ArcFace order) in the frame of dlib's 5 points: each face's dlib
   points are mapped onto dlib's mean face (similarity), YuNet's points follow, and the
   mean is ``facerec.inference.arcface.ARCFACE_POINTS_IN_DLIB_FRAME`` (how HOG/CNN boxes
   give ArcFace points).

It reports the shape predictor's point error (pixels, and per inter-ocular distance)
when started from the mapped YuNet box instead of the HOG box.

    python bench/yunet_alignment.py [--images 600] [--yunet ../shared/models/yunet/...onnx]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from facerec.config import DetectorSettings
from facerec.inference.dlib_engine import DlibDetector, ThreadModels
from facerec.inference.face_chips import MEAN_FACE_5, similarity_transform
from facerec.inference.shape_predictor import NumpyLandmarker
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
    hog = DlibDetector("hog", DetectorSettings(), ThreadModels())
    yunet = YuNetDetector(args.yunet)
    landmarker = NumpyLandmarker()
    rows, targets, framed, dlib_pts, yunet_pts = [], [], [], [], []
    for path in paths:
        pixels = np.asarray(Image.open(path).convert("RGB"))
        h = _centred(hog.detect(pixels), pixels.shape[0])
        faces = yunet.faces(pixels)
        y = _centred([f.detection for f in faces], pixels.shape[0])
        if h is None or y is None or _iou(h, y) < 0.3:
            continue
        face = next(f for f in faces if f.detection is y)
        w = y.width
        rows.append(((y.x1 + y.x2) / 2, (y.y1 + y.y2) / 2, w))
        targets.append(((h.x1 + h.x2) / 2, (h.y1 + h.y2) / 2, h.width))
        points = landmarker.landmarks(pixels, [h])[0].astype(np.float64)
        m, t = similarity_transform(points, MEAN_FACE_5)
        framed.append(face.points.astype(np.float64) @ m.T + t)
        dlib_pts.append(points)
        yunet_pts.append((pixels, y))
    a = np.asarray(rows)
    b = np.asarray(targets)
    ax = float(np.mean((b[:, 0] - a[:, 0]) / a[:, 2]))
    ay = float(np.mean((b[:, 1] - a[:, 1]) / a[:, 2]))
    s = float(np.sum(b[:, 2] * a[:, 2]) / np.sum(a[:, 2] ** 2))
    pred = np.stack([a[:, 0] + ax * a[:, 2], a[:, 1] + ay * a[:, 2], s * a[:, 2]], axis=1)
    err = np.abs(pred - b) / b[:, 2:3]
    print(f"faces both found: {len(a)} of {len(paths)} images")
    print(f"YUNET_TO_HOG: dx={ax:.4f} dy={ay:.4f} scale={s:.4f} (x YuNet width)")
    ex, ey, es = err.mean(axis=0)
    print(f"box error / HOG side: centre x {ex:.3f}, y {ey:.3f}, side {es:.3f} (mean abs)")
    frame = np.mean(framed, axis=0)
    spread = np.std(framed, axis=0).mean()
    print("ARCFACE_POINTS_IN_DLIB_FRAME:", np.round(frame, 4).tolist(), f"(std {spread:.4f})")
    point_err, ocular = [], []
    for (pixels, y), ref in zip(yunet_pts, dlib_pts, strict=True):
        cx, cy = (y.x1 + y.x2) / 2 + ax * y.width, (y.y1 + y.y2) / 2 + ay * y.width
        half = s * y.width / 2
        mapped = Detection(cx - half, cy - half, cx + half, cy + half, y.score)
        got = landmarker.landmarks(pixels, [mapped])[0]
        point_err.append(np.linalg.norm(got - ref, axis=1).mean())
        ocular.append(np.linalg.norm(ref[0:2].mean(0) - ref[2:4].mean(0)))
    pe, oc = np.asarray(point_err), np.asarray(ocular)
    print(
        f"shape predictor from the mapped YuNet box vs from the HOG box: mean {pe.mean():.2f} px, "
        f"median {np.median(pe):.2f} px, mean / inter-ocular {np.mean(pe / oc):.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
