"""dlib's 5-point shape predictor, read from its ``.dat`` file and run in numpy (no dlib).

The model is Kazemi & Sullivan's cascade of regression-tree forests
(``dlib/image_processing/shape_predictor.h``). In dlib's ``serialize.h`` encodings (every
number is an integer: a control byte, low 4 bits = how many little-endian bytes follow,
0x80 = negative; a float is two, mantissa then exponent; a ``std::vector`` is its length
then its items; a ``matrix`` is ``-rows, -cols`` then its items) the file holds: version 1;
``initial_shape`` (x0, y0, x1, y1, ...); per cascade level, per tree, the ``splits``
(``idx1, idx2, thresh``, breadth-first) and ``leaf_values`` (one shape increment per leaf);
per level, ``anchor_idx`` and ``deltas``: each feature pixel as a shape part and an offset.

Shapes live in box coordinates ((0, 0) = the box's top-left corner, (1, 1) = its
bottom-right one). At each level the feature pixels follow the similarity transform from
the initial to the current shape, are read from the image (nearest pixel, halves rounded
up, 0 outside, ``(r + g + b) // 3``), and every tree adds the leaf that
``pixel[idx1] - pixel[idx2] > thresh`` leads to. The arithmetic follows dlib's (float32
shapes, float64 transforms, trees added in order), so the points are dlib's to the pixel.
All trees of a level, and all faces, are evaluated together.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from facerec.inference.types import Detection, Landmarks, RGBImage

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float32]
_VERSION = 1
_SPECIAL_EXPONENTS = {32000: np.inf, 32001: -np.inf, 32002: np.nan}
_TOKEN_LENGTH = bytes(1 + (control & 0x0F) for control in range(256))


class ShapePredictorFormatError(ValueError):
    """The bytes are not a dlib shape predictor this reader understands."""


@dataclass(frozen=True, eq=False)
class Cascade:
    """One cascade level: its trees stacked (they are all complete and equally deep)."""

    idx1: IntArray  # (trees, splits) feature indices
    idx2: IntArray
    thresh: FloatArray  # (trees, splits)
    leaves: FloatArray  # (trees, leaves, parts, 2) shape increments
    anchor: IntArray  # (features,) the part each feature pixel hangs on
    deltas: FloatArray  # (features, 2) its offset from that part

    @property
    def depth(self) -> int:
        return int(self.idx1.shape[1] + 1).bit_length() - 1


@dataclass(frozen=True, eq=False)
class ShapeModel:
    initial_shape: FloatArray  # (parts, 2), box coordinates
    cascades: tuple[Cascade, ...]


# -- reading -------------------------------------------------------------------------------
def _token_starts(data: bytes) -> IntArray:
    """Where each integer of the file begins (the walk is sequential; the rest is not)."""
    steps = data.translate(_TOKEN_LENGTH)
    marks = bytearray(len(data))
    pos, end = 0, len(data)
    while pos < end:
        marks[pos] = 1
        pos += steps[pos]
    if pos != end:
        raise ShapePredictorFormatError("the file ends inside a number")
    return np.flatnonzero(np.frombuffer(marks, dtype=np.uint8)).astype(np.int64)


def decode_integers(data: bytes) -> IntArray:
    """Every integer of a file made only of dlib-serialised integers and floats, in order."""
    starts = _token_starts(data)
    buf = np.frombuffer(data + bytes(8), dtype=np.uint8)
    control = buf[starts]
    size = control & 0x0F
    if np.any(control & 0x70) or np.any(size == 0) or np.any(size > 8):
        raise ShapePredictorFormatError("bad integer control byte (not a binary dlib file?)")
    magnitude = np.zeros(starts.size, dtype=np.uint64)
    for j in range(int(size.max(initial=0))):
        byte = buf[starts + 1 + j].astype(np.uint64) << np.uint64(8 * j)
        magnitude |= np.where(size > j, byte, np.uint64(0))
    value = magnitude.astype(np.int64)
    return np.where(control & 0x80, -value, value)


def to_floats(mantissa: IntArray, exponent: IntArray) -> FloatArray:
    """dlib's ``float_details`` to float: ``ldexp((float)mantissa, exponent)``."""
    finite = exponent < min(_SPECIAL_EXPONENTS)
    exp = np.where(finite, exponent, 0).astype(np.int32)
    out = np.ldexp(mantissa.astype(np.float32), exp).astype(np.float32)
    for code, special in _SPECIAL_EXPONENTS.items():
        out[exponent == code] = special
    return out


class _Cursor:
    """Sequential reads over the decoded integers."""

    def __init__(self, tokens: IntArray) -> None:
        self.tokens = tokens
        self.pos = 0

    def ints(self, n: int) -> IntArray:
        if n < 0 or self.pos + n > self.tokens.size:
            raise ShapePredictorFormatError("the file ends early")
        self.pos += n
        return self.tokens[self.pos - n : self.pos]

    def integer(self) -> int:
        return int(self.ints(1)[0])

    def peek(self, offset: int) -> int:
        if self.pos + offset >= self.tokens.size:
            raise ShapePredictorFormatError("the file ends early")
        return int(self.tokens[self.pos + offset])

    def floats(self, n: int) -> FloatArray:
        pairs = self.ints(2 * n).reshape(n, 2)
        return to_floats(pairs[:, 0], pairs[:, 1])

    def column(self) -> FloatArray:
        """A ``matrix<float,0,1>``."""
        rows, cols = abs(self.integer()), abs(self.integer())
        if cols != 1:
            raise ShapePredictorFormatError(f"expected a column vector, got {rows}x{cols}")
        return self.floats(rows)


def _read_forest(cur: _Cursor, parts: int) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """All trees of one level at once; each is ``1 + 4 * splits + 1 + leaves * (2 + 2 * dims)``
    integers, the same for every tree, which is checked."""
    n_trees = cur.integer()
    if n_trees <= 0:
        raise ShapePredictorFormatError(f"a cascade level has {n_trees} trees")
    n_splits = max(0, cur.peek(0))
    n_leaves, dims = cur.peek(1 + 4 * n_splits), 2 * parts
    if n_leaves != n_splits + 1 or n_leaves & (n_leaves - 1):
        raise ShapePredictorFormatError(f"a tree has {n_splits} splits and {n_leaves} leaves")
    stride = 2 + 4 * n_splits + n_leaves * (2 + 2 * dims)
    trees = cur.ints(n_trees * stride).reshape(n_trees, stride)
    splits = trees[:, 1 : 1 + 4 * n_splits].reshape(n_trees, n_splits, 4)
    leaves = trees[:, 2 + 4 * n_splits :].reshape(n_trees, n_leaves, 2 + 2 * dims)
    headers = np.abs(leaves[:, :, :2]) != (dims, 1)
    if np.any(trees[:, [0, 1 + 4 * n_splits]] != (n_splits, n_leaves)) or np.any(headers):
        raise ShapePredictorFormatError("the trees of a level differ in size")
    thresh = to_floats(splits[..., 2], splits[..., 3])
    values = leaves[:, :, 2:].reshape(n_trees, n_leaves, dims, 2)
    leaf_values = to_floats(values[..., 0], values[..., 1]).reshape(n_trees, n_leaves, parts, 2)
    return splits[..., 0].copy(), splits[..., 1].copy(), thresh, leaf_values


def parse_shape_predictor(data: bytes) -> ShapeModel:
    """A ``dlib::shape_predictor`` file's contents, as numpy arrays."""
    cur = _Cursor(decode_integers(data))
    if (version := cur.integer()) != _VERSION:
        raise ShapePredictorFormatError(f"unknown shape_predictor version {version}")
    initial = cur.column()
    if initial.size == 0 or initial.size % 2:
        raise ShapePredictorFormatError(f"an initial shape of {initial.size} numbers")
    initial = initial.reshape(-1, 2)
    forests = [_read_forest(cur, len(initial)) for _ in range(cur.integer())]
    anchors = [cur.ints(cur.integer()).copy() for _ in range(cur.integer())]
    deltas = [cur.floats(2 * cur.integer()).reshape(-1, 2) for _ in range(cur.integer())]
    if not len(forests) == len(anchors) == len(deltas) or cur.pos != cur.tokens.size:
        raise ShapePredictorFormatError("inconsistent cascade levels or trailing data")
    cascades = []
    for (idx1, idx2, thresh, leaves), anchor, delta in zip(forests, anchors, deltas, strict=True):
        bad_anchor = np.any((anchor < 0) | (anchor >= len(initial)))
        bad_split = np.any((np.minimum(idx1, idx2) < 0) | (np.maximum(idx1, idx2) >= len(anchor)))
        if len(delta) != len(anchor) or bad_anchor or bad_split:
            raise ShapePredictorFormatError("a level refers to parts or pixels it does not have")
        cascades.append(Cascade(idx1, idx2, thresh, leaves, anchor, delta))
    return ShapeModel(initial, tuple(cascades))


@functools.cache
def default_model() -> ShapeModel:
    """The 5-point model that ``face_recognition_models`` ships (read once per process)."""
    from facerec.inference.dlib_engine import model_path

    return parse_shape_predictor(model_path("landmarks").read_bytes())


# -- evaluation ----------------------------------------------------------------------------
def dlib_rects(detections: Sequence[Detection]) -> IntArray:
    """``(left, top, right, bottom)`` per box, inclusive, as :class:`DlibEngine` builds them."""
    rows = [(round(d.x1), round(d.y1), round(d.x2) - 1, round(d.y2) - 1) for d in detections]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 4)


def _similarity_weights(reference: FloatArray) -> NDArray[np.float64] | None:
    """``W`` such that ``shape.ravel() @ W`` is ``(c cos, c sin)`` of the least-squares
    similarity from ``reference`` onto ``shape`` (Umeyama's, which dlib uses, in closed
    form: the reference is centred, so the shape needs no centring); None for identity."""
    src = reference.astype(np.float64)
    src -= src.mean(axis=0)
    sigma = float((src**2).sum())
    if sigma == 0:  # one part, or all parts at one point: dlib uses the identity
        return None
    x, y = src[:, 0], src[:, 1]
    weights = np.stack([np.stack([x, -y], -1), np.stack([y, x], -1)], 1)  # (parts, dx|dy, cs)
    return weights.reshape(-1, 2) / sigma


def _rotations(weights: NDArray[np.float64] | None, shapes: FloatArray) -> FloatArray:
    """The transforms' linear parts, float32 ``(faces, 2, 2)`` as dlib casts them."""
    if weights is None:
        return np.broadcast_to(np.eye(2, dtype=np.float32), (len(shapes), 2, 2))
    cos, sin = (shapes.reshape(len(shapes), -1).astype(np.float64) @ weights).T
    return np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1).astype(np.float32)


def _to_image(points: NDArray[np.float64], rects: IntArray) -> NDArray[np.float64]:
    """Box coordinates to image pixels: (0, 0) -> top-left, (1, 1) -> bottom-right corner."""
    scale = (rects[:, 2:] - rects[:, :2]).astype(np.float64)[:, None, :]
    return points * scale + rects[:, None, :2]


def _intensity(image: NDArray[np.uint8], x: IntArray, y: IntArray) -> FloatArray:
    """dlib's ``get_pixel_intensity`` at whole pixels, 0 outside the image."""
    height, width = image.shape[:2]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    out = np.zeros(x.shape, dtype=np.float32)
    flat = image.reshape(height * width, -1)  # np.take on flat indices: no 2-D fancy indexing
    pixels = np.take(flat, (y * width + x)[inside], axis=0)
    out[inside] = pixels[:, 0] if pixels.shape[1] == 1 else pixels.sum(-1, dtype=np.uint16) // 3
    return out


def _feature_values(
    cascade: Cascade, rotations: FloatArray, shapes: FloatArray, rects: IntArray, image: RGBImage
) -> FloatArray:
    """The level's feature pixels for every face, ``(faces, features)``: in float32 like
    dlib, ``m @ delta + anchor``, then to the image in float64, rounding halves up."""
    dx, dy = cascade.deltas[:, :1], cascade.deltas[:, 1:]  # (features, 1)
    points = dx * rotations[:, None, :, 0] + dy * rotations[:, None, :, 1]
    points += shapes[:, cascade.anchor]  # (faces, features, 2)
    pixels = np.floor(_to_image(points.astype(np.float64), rects) + 0.5).astype(np.int64)
    return _intensity(image, pixels[..., 0], pixels[..., 1])


def _leaf_indices(cascade: Cascade, values: FloatArray) -> IntArray:
    """Every tree of the level walked for every face, ``(faces, trees)``: all split tests
    first, then one lookup per level (nodes are stored breadth-first)."""
    faces, (n_trees, n_splits) = len(values), cascade.idx1.shape
    first, second = np.take(values, cascade.idx1, axis=1), np.take(values, cascade.idx2, axis=1)
    goes_right = ~(first - second > cascade.thresh)
    start = np.arange(faces * n_trees).reshape(faces, n_trees) * n_splits
    node: IntArray = np.zeros((faces, n_trees), dtype=np.int64)
    for _ in range(cascade.depth):
        node = 2 * node + 1 + np.take(goes_right, start + node)
    leaves: IntArray = node - n_splits  # breadth-first: the leaves follow the splits
    return leaves


def predict(model: ShapeModel, image: RGBImage, rects: IntArray) -> NDArray[np.float64]:
    """Unrounded image coordinates ``(faces, parts, 2)`` for inclusive dlib rectangles."""
    weights = _similarity_weights(model.initial_shape)
    shapes = np.repeat(model.initial_shape[None], len(rects), axis=0)
    for cascade in model.cascades:
        values = _feature_values(cascade, _rotations(weights, shapes), shapes, rects, image)
        leaves = _leaf_indices(cascade, values)
        n_trees, n_leaves = cascade.leaves.shape[:2]
        table = cascade.leaves.reshape(n_trees * n_leaves, *shapes.shape[1:])
        steps = table[np.arange(n_trees) * n_leaves + leaves]  # (faces, trees, parts, 2)
        # dlib adds the trees to the shape one after the other in float32; a sum could
        # reorder the additions, accumulate cannot.
        steps[:, 0] += shapes
        shapes = np.add.accumulate(steps, axis=1)[:, -1]
    return _to_image(shapes.astype(np.float64), rects)


class NumpyLandmarker:
    """A :class:`~facerec.inference.types.Landmarker` with dlib's 5-point shape predictor,
    evaluated in numpy. By default the points are rounded to whole pixels as dlib's are;
    ``subpixel=True`` keeps the unrounded positions."""

    def __init__(self, model: ShapeModel | None = None, *, subpixel: bool = False) -> None:
        self._model = model
        self.subpixel = subpixel

    @property
    def model(self) -> ShapeModel:
        if self._model is None:
            self._model = default_model()
        return self._model

    def landmarks(self, image: RGBImage, detections: Sequence[Detection]) -> list[Landmarks]:
        pixels = np.asarray(image)
        if pixels.dtype != np.uint8 or not (pixels.ndim == 2 or pixels.shape[2:] == (3,)):
            raise ValueError(f"need 8-bit RGB or grey pixels, not {pixels.dtype} {pixels.shape}")
        if not detections:
            return []
        points = predict(self.model, pixels, dlib_rects(detections))
        if not self.subpixel:
            points = np.floor(points + 0.5)
        return list(points.astype(np.float32))
