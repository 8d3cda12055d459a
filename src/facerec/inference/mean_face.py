"""dlib's mean 5-point face and the similarity transform that places it on a face.

dlib's 5-point shape is the outer and inner corner of each eye (the eye on the image's
right first) and the base of the nose; ``MEAN_FACE_5`` is where they lie, on average, in a
unit square (``get_face_chip_details`` in ``dlib/image_transforms/interpolation.h``).
dlib's chips (``dlib_align.py``) are this face, padded by ``CHIP_PADDING``, at ``CHIP_SIZE``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# dlib's mean face for the 5-point model, in (x, y) on a unit square.
MEAN_FACE_5 = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)
Points = NDArray[np.float64]


def similarity_transform(src: Points, dst: Points) -> tuple[Points, Points]:
    """Least-squares ``dst ~ m @ src + t`` with ``m`` a scaled rotation (Umeyama 1991)."""
    mean_src, mean_dst = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - mean_src, dst - mean_dst
    sigma_src = float((src_c**2).sum(axis=1).mean())
    cov = dst_c.T @ src_c / len(src)
    u, d, vt = np.linalg.svd(cov)
    s = np.ones(2)
    det_cov = np.linalg.det(cov)
    if det_cov < 0 or (det_cov == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        s[int(d[1] >= d[0])] = -1  # flip the smaller singular direction
    rotation = u @ np.diag(s) @ vt
    scale = float((d * s).sum()) / sigma_src if sigma_src else 1.0
    return scale * rotation, mean_dst - scale * rotation @ mean_src
