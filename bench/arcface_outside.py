"""An ArcFace-style recogniser measured outside the service, for comparison with
``bench/eval_lfw.py --detector yunet-2023mar --recogniser mobilefacenet``.

Independent of FaceRec's engine code: ONNX Runtime, numpy and Pillow only. YuNet runs
on the LFW image padded to its fixed 640x640 input (BGR, 0-255), decoded per stride
(score sqrt(cls x obj), the box and 5 points as offsets of the cell), the best-scoring
face nearest the centre is kept; its 5 points are aligned to the 112x112 ArcFace
template by a least-squares similarity (closed form, complex numbers) and the chip is
warped bilinearly; the network gets (RGB - 127.5) / 128, and the descriptors of the chip
and its mirror image are also summed. Verification on pairsDevTrain: 10-fold accuracy,
threshold chosen on 9 folds. Measured: 98.77% (chip), 98.95% (chip + mirror).

    python bench/arcface_outside.py [--yunet FILE] [--model FILE]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LFW = SHARED / "data" / "lfw-dev"
TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ]
)


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def five_points(yunet: ort.InferenceSession, rgb: np.ndarray) -> np.ndarray | None:
    h, w = rgb.shape[:2]
    side_h = side_w = 640  # the published file's fixed input; LFW's 250x250 pads into it
    blob = np.zeros((1, 3, side_h, side_w), np.float32)
    blob[0, :, :h, :w] = rgb[..., ::-1].transpose(2, 0, 1)
    out = dict(
        zip([o.name for o in yunet.get_outputs()], yunet.run(None, {"input": blob}), strict=True)
    )
    best = None
    for s in (8, 16, 32):
        cols = side_w // s
        score = np.sqrt(np.clip(out[f"cls_{s}"], 0, 1) * np.clip(out[f"obj_{s}"], 0, 1)).ravel()
        for i in np.flatnonzero(score >= 0.6):
            row, col = divmod(int(i), cols)
            box = out[f"bbox_{s}"].reshape(-1, 4)[i]
            centre = np.array([(col + box[0]) * s, (row + box[1]) * s])
            off = np.linalg.norm(centre - (w / 2, h / 2)) / w
            kps = out[f"kps_{s}"].reshape(-1, 5, 2)[i]
            points = (kps + np.array([col, row])) * s
            key = score[i] - off  # confident and central
            if best is None or key > best[0]:
                best = (key, points)
    return None if best is None else best[1]


def chip(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Warp so that points land on TEMPLATE (least-squares similarity, z = a * p + b)."""
    p = points[:, 0] + 1j * points[:, 1]
    q = TEMPLATE[:, 0] + 1j * TEMPLATE[:, 1]
    pc, qc = p - p.mean(), q - q.mean()
    a = (np.conj(pc) @ qc) / (np.conj(pc) @ pc)
    b = q.mean() - a * p.mean()
    inv_a, inv_b = 1 / a, -b / a  # chip -> image
    m = np.array([[inv_a.real, -inv_a.imag, inv_b.real], [inv_a.imag, inv_a.real, inv_b.imag]])
    # Pillow samples at m @ (x + .5, y + .5) - .5; shift so that it samples m @ (x, y)
    m[:, 2] += m[:, 0] * -0.5 + m[:, 1] * -0.5 + 0.5
    warped = Image.fromarray(rgb).transform(
        (112, 112), Image.Transform.AFFINE, tuple(m.ravel()), Image.Resampling.BILINEAR
    )
    return np.asarray(warped)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--yunet", type=Path, default=SHARED / "models/yunet/face_detection_yunet_2023mar.onnx"
    )
    parser.add_argument(
        "--model", type=Path, default=SHARED / "models/mobilefacenet/mobilefacenet.onnx"
    )
    args = parser.parse_args()
    if not LFW.is_dir() or not args.yunet.is_file() or not args.model.is_file():
        print("skipped: LFW-dev or a model is absent (see shared/*/README.md)")
        return 0
    yunet, net = session(args.yunet), session(args.model)
    pairs, labels = [], []
    for line in (LFW / "pairsDevTrain.txt").read_text().split("\n")[1:]:
        f = line.split()
        if len(f) in (3, 4):
            a = f"{f[0]}/{f[0]}_{int(f[1]):04d}.jpg"
            n2, i2 = (f[0], f[2]) if len(f) == 3 else (f[2], f[3])
            pairs.append((a, f"{n2}/{n2}_{int(i2):04d}.jpg"))
            labels.append(len(f) == 3)
    vectors: dict[str, np.ndarray | None] = {}
    for name in sorted({n for pair in pairs for n in pair}):
        rgb = np.asarray(Image.open(LFW / name).convert("RGB"))
        points = five_points(yunet, rgb)
        if points is None:
            vectors[name] = None
            continue
        c = chip(rgb, points)
        x = (np.stack([c, c[:, ::-1]]).astype(np.float32) - 127.5) / 128.0
        vectors[name] = net.run(None, {net.get_inputs()[0].name: x.transpose(0, 3, 1, 2)})[0]
    y = np.asarray(labels)
    missing = sum(v is None for v in vectors.values())
    for label, pick in (("chip", lambda v: v[0]), ("chip + mirror", lambda v: v[0] + v[1])):

        def score(a: str, b: str, pick: Callable[[np.ndarray], np.ndarray] = pick) -> float:
            va, vb = vectors[a], vectors[b]
            if va is None or vb is None:
                return -np.inf
            ea, eb = pick(va), pick(vb)
            return float(ea @ eb / np.linalg.norm(ea) / np.linalg.norm(eb))

        scores = np.array([score(a, b) for a, b in pairs])
        folds = np.arange(len(y)) % 10
        accs = []
        for k in range(10):
            tr, te = folds != k, folds == k
            best = max(np.unique(scores[tr]), key=lambda t: ((scores[tr] >= t) == y[tr]).mean())
            accs.append(((scores[te] >= best) == y[te]).mean())
        print(
            f"outside, YuNet + MobileFaceNet, {label}: 10-fold {100 * np.mean(accs):.2f}% "
            f"(+-{100 * np.std(accs):.2f}), no face {missing} of {len(vectors)} images"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
