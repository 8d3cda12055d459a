"""dlib's MMOD CNN face detector (``mmod_human_face_detector.dat``) on ONNX Runtime, without dlib.

What dlib does for ``cnn_face_detection_model_v1(path)(image, upsample_num_times)``, and
what this module repeats step by step (dlib 20: ``dnn/input.h``, ``dnn/loss.h``,
``image_transforms/image_pyramid.h``, ``interpolation.h``, and the Python binding's
``cnn_face_detector.cpp``):

1. ``upsample_num_times`` times, ``pyramid_up`` (a bilinear resize to ``2W + 2`` by
   ``2H + 1`` pixels, values truncated to uint8);
2. ``input_rgb_image_pyramid<pyramid_down<6>>``: the image, as ``(value - mean) / 256``
   planes, and each smaller level (``floor(5/6 * size)`` until fewer than 5 rows), tiled
   into one zero-padded tensor, each level a bilinear (corner-aligned) resize of the one
   before;
3. the convolutional network, one score map per detector window (the ONNX graph here,
   built from the ``.dat`` by :mod:`~facerec.inference.mmod_format`);
4. ``loss_mmod``: every score above the threshold (0) is a detection window centred on the
   input-tensor point its output position maps to, mapped back through the pyramid level
   whose tile is nearest, rounded to an integer rectangle; then greedy non-max
   suppression in decreasing score order with dlib's ``test_box_overlap``;
5. rectangles mapped back through ``upsample_num_times`` levels of ``pyramid_down<2>``.

Steps 1, 2, 4 and 5 are numpy; only step 3 runs on ONNX Runtime (CUDA when available).
The ``.onnx`` is cached like :class:`~facerec.inference.onnx_embedder.OnnxEmbedder`'s,
named and tagged by the SHA-256 of the ``.dat`` and verified on load.

Besides dlib's own ``upsample`` the detector takes a ``scale`` (a factor, or a policy of the
image size): the image is first resized with Pillow as
:meth:`~facerec.inference.dlib_engine.DlibEngine.detect` does, so that
:meth:`OnnxMmodDetector.from_settings` finds the faces ``DlibEngine`` finds for the same
:class:`~facerec.config.DetectorSettings` (the network sees faces of about 80 pixels; a
scale of 2, or ``upsample=1``, finds faces of about 40).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from facerec.config import DetectorSettings
from facerec.inference.dlib_engine import detection_scale, model_path
from facerec.inference.dlib_format import Affine, Conv, DlibFormatError
from facerec.inference.mmod_format import (
    DEFAULT_PYRAMID_DOWN,
    BoxOverlap,
    InputPyramid,
    MmodNet,
    parse_mmod,
    receptive_mapping,
)
from facerec.inference.onnx_cache import (
    META_CONVERTER,
    META_SOURCE,
    cache_file,
    cached_or_convert,
    default_providers,
    is_verified,
    sha256_bytes,
    stamp,
)
from facerec.inference.onnx_graph import finish_model
from facerec.inference.types import Detection, RGBImage

log = logging.getLogger(__name__)

CONVERTER_VERSION = "1"
"""Bump when the conversion changes: older cached files are then rebuilt."""
META_KIND = "facerec.kind"
KIND = "dlib-mmod-detector"
INPUT_NAME = "pyramid"
OUTPUT_NAME = "scores"

FloatArray = NDArray[np.float32]
Rect = tuple[int, int, int, int]
"""left, top, right, bottom: inclusive, as a dlib ``rectangle``."""
ScalePolicy = Callable[[int, int], float]
"""(width, height) -> how much to resize the image before detection."""
_MIN_LEVEL_ROWS = 5


# -- the ONNX graph ------------------------------------------------------------------------
def build_detector_model(net: MmodNet, metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    """The convolutional part of ``net``: ``pyramid`` (float32 ``N x 3 x H x W``, the
    tiled input tensor) to ``scores`` (float32 ``N x windows x h x w``). Conv, Mul/Add and
    Relu as in dlib; ONNX Runtime fuses them when it optimises the graph."""
    nodes: list[onnx.NodeProto] = []
    weights: list[onnx.TensorProto] = []

    def const(name: str, value: NDArray[np.float32]) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    current = INPUT_NAME
    for index, layer in enumerate(net.layers):
        out = f"layer{index}"
        if isinstance(layer, Conv):
            inputs = [current, const(f"{out}_w", layer.weights)]
            if layer.bias is not None:
                inputs.append(const(f"{out}_b", layer.bias))
            (sy, sx), (py, px) = layer.stride, layer.padding
            nodes.append(
                helper.make_node(
                    "Conv",
                    inputs,
                    [out],
                    name=out,
                    kernel_shape=list(layer.weights.shape[2:]),
                    strides=[sy, sx],
                    pads=[py, px, py, px],
                )
            )
        elif isinstance(layer, Affine):
            gamma = const(f"{out}_gamma", layer.gamma.reshape(-1, 1, 1))
            beta = const(f"{out}_beta", layer.beta.reshape(-1, 1, 1))
            nodes.append(helper.make_node("Mul", [current, gamma], [f"{out}_s"], name=f"{out}_s"))
            nodes.append(helper.make_node("Add", [f"{out}_s", beta], [out], name=out))
        else:
            nodes.append(helper.make_node("Relu", [current], [out], name=out))
        current = out
    nodes.append(helper.make_node("Identity", [current], [OUTPUT_NAME], name="output"))
    channels = _output_channels(net)
    graph = helper.make_graph(
        nodes,
        "dlib_mmod",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.FLOAT, ["batch", 3, "height", "width"]
            )
        ],
        [
            helper.make_tensor_value_info(
                OUTPUT_NAME, TensorProto.FLOAT, ["batch", channels, "rows", "cols"]
            )
        ],
        weights,
    )
    return finish_model(graph, metadata)


def _output_channels(net: MmodNet) -> int:
    convs = [layer for layer in net.layers if isinstance(layer, Conv)]
    if not convs:
        raise DlibFormatError("an MMOD detector without convolutions")
    return int(convs[-1].weights.shape[0])


def output_size(net: MmodNet, rows: int, cols: int) -> tuple[int, int]:
    """The score map's size for an input tensor of ``rows x cols`` (either may be <= 0)."""
    for layer in net.layers:
        if isinstance(layer, Conv):
            kh, kw = layer.weights.shape[2:]
            (sy, sx), (py, px) = layer.stride, layer.padding
            if rows <= 0 or cols <= 0:
                return 0, 0
            rows = 1 + (rows + 2 * py - kh) // sy
            cols = 1 + (cols + 2 * px - kw) // sx
    return rows, cols


# -- the cache -----------------------------------------------------------------------------
def convert(data: bytes, source_name: str, source_hash: str) -> onnx.ModelProto:
    """The ONNX model for a dlib MMOD ``.dat``'s bytes, tied to them by its metadata."""
    net = parse_mmod(data)
    model = build_detector_model(net)
    options = net.options
    metadata = {
        **_expected(source_hash),
        "facerec.source_name": source_name,
        "facerec.detector_windows": json.dumps(
            [[w.width, w.height, w.label] for w in options.detector_windows]
        ),
        "facerec.mean_rgb": json.dumps(list(net.input.mean_rgb)),
    }
    return stamp(model, metadata)


def _expected(source_hash: str) -> dict[str, str]:
    return {META_SOURCE: source_hash, META_CONVERTER: CONVERTER_VERSION, META_KIND: KIND}


def verified_model(data: bytes, source_hash: str) -> bool:
    """Whether cached bytes parse and carry the expected source hash, kind and weights."""
    return is_verified(data, _expected(source_hash))


def load_or_convert(source: Path, cache_dir: Path) -> tuple[MmodNet, bytes, bool]:
    """The parsed detector, its serialized ONNX model, and whether that came from the cache."""
    data = source.read_bytes()
    source_hash = sha256_bytes(data)
    path = cache_file(cache_dir, source, source_hash)
    model, cached = cached_or_convert(
        path, _expected(source_hash), lambda: convert(data, source.name, source_hash)
    )
    return parse_mmod(data), model, cached


# -- the image pyramid ---------------------------------------------------------------------
def pyramid_rects(
    rows: int, cols: int, padding: int, outer_padding: int, down: int = DEFAULT_PYRAMID_DOWN
) -> tuple[list[Rect], int, int]:
    """Where each pyramid level lies in the tiled tensor, and the tensor's rows and columns
    (dlib's ``impl::compute_tiled_image_pyramid_details`` for ``pyramid_down<down>``)."""
    if rows * cols == 0:
        return [], 0, 0
    rate = (down - 1.0) / down
    sizes = [(cols, rows)]  # (width, height)
    nr, nc = rows, cols
    while True:
        nr, nc = math.floor(rate * nr), math.floor(rate * nc)
        if nr * nc == 0 or nr < _MIN_LEVEL_ROWS:
            break
        sizes.append((nc, nr))
    first_w, first_h = sizes[0]
    total_height = sum(h + padding for _, h in sizes) - 2 * padding
    height = prev_width = 0
    for w, h in sizes:
        # go down the first column until the next level fits beside the previous one
        if w <= first_w - prev_width - padding and (height - first_h) * 2 >= total_height - first_h:
            break
        height += h + padding
        prev_width = w
    height -= padding
    rects: list[Rect] = []
    y = outer_padding
    while y < height + outer_padding and len(rects) < len(sizes):
        w, h = sizes[len(rects)]
        rects.append((outer_padding, y, outer_padding + w - 1, y + h - 1))
        y += h + padding
    y -= padding
    right = outer_padding + first_w - 1
    while len(rects) < len(sizes):  # back up the second column, bottom to top
        w, h = sizes[len(rects)]
        rect = (right - (w - 1), y - 1 - (h - 1), right, y - 1)
        if _intersects(rects[0], rect):
            break
        rects.append(rect)
        y -= h + padding
    return rects, height + 2 * outer_padding, first_w + 2 * outer_padding


def _intersects(a: Rect, b: Rect) -> bool:
    return max(a[0], b[0]) <= min(a[2], b[2]) and max(a[1], b[1]) <= min(a[3], b[3])


def _resize_planes(src: FloatArray, rows: int, cols: int) -> FloatArray:
    """dlib's ``resize_image`` of float planes: bilinear with the corners aligned (done
    here as a vertical then a horizontal pass, equal to within float rounding)."""
    src_rows, src_cols = src.shape[1:]
    ys = np.arange(rows) * ((src_rows - 1) / max(rows - 1, 1))
    xs = np.arange(cols) * ((src_cols - 1) / max(cols - 1, 1))
    top = np.floor(ys).astype(np.intp)
    left = np.floor(xs).astype(np.intp)
    bottom = np.minimum(top + 1, src_rows - 1)
    right = np.minimum(left + 1, src_cols - 1)
    fy = (ys - top).astype(np.float32)[None, :, None]
    fx = (xs - left).astype(np.float32)
    upper = src[:, top, :]
    mixed = upper + fy * (src[:, bottom, :] - upper)
    west = mixed[:, :, left]
    result: FloatArray = west + fx * (mixed[:, :, right] - west)
    return result


def pyramid_tensor(
    image: RGBImage, layer: InputPyramid, down: int = DEFAULT_PYRAMID_DOWN
) -> tuple[FloatArray, list[Rect]]:
    """``input_rgb_image_pyramid::to_tensor`` for one image: ``3 x NR x NC`` and the levels."""
    rows, cols = image.shape[:2]
    rects, total_rows, total_cols = pyramid_rects(
        rows, cols, layer.padding, layer.outer_padding, down
    )
    tensor = np.zeros((3, total_rows, total_cols), dtype=np.float32)
    if not rects:
        return tensor, rects
    mean = np.asarray(layer.mean_rgb, dtype=np.float32)
    left, top, right, bottom = rects[0]
    planes = (image.astype(np.float32) - mean) / np.float32(256)
    tensor[:, top : bottom + 1, left : right + 1] = planes.transpose(2, 0, 1)
    for previous, rect in itertools.pairwise(rects):
        pl, pt, pr, pb = previous
        left, top, right, bottom = rect
        source = tensor[:, pt : pb + 1, pl : pr + 1]
        resized = _resize_planes(source, bottom - top + 1, right - left + 1)
        tensor[:, top : bottom + 1, left : right + 1] = resized
    return tensor, rects


def pyramid_up(image: RGBImage) -> RGBImage:
    """dlib's ``pyramid_up`` with ``pyramid_down<2>``: a corner-aligned bilinear resize to
    ``2W + 2`` by ``2H + 1`` pixels (the size of ``rect_up`` of the image), truncated."""
    rows, cols = image.shape[:2]
    planes = image.transpose(2, 0, 1).astype(np.float32)
    resized = _resize_planes(planes, 2 * rows + 1, 2 * cols + 2)
    return np.ascontiguousarray(np.clip(resized, 0, 255).astype(np.uint8).transpose(1, 2, 0))


def _lround(values: NDArray[np.float64]) -> NDArray[np.int64]:
    """C's ``lround``: halves away from zero."""
    rounded = np.sign(values) * np.floor(np.abs(values) + 0.5)
    return rounded.astype(np.int64)


# -- decoding ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RawDetection:
    """A detection as dlib gives it: an inclusive integer rectangle and its confidence."""

    rect: Rect
    confidence: float
    window: int


def decode_scores(
    scores: FloatArray,
    rects: Sequence[Rect],
    net: MmodNet,
    *,
    adjust_threshold: float = 0.0,
    down: int = DEFAULT_PYRAMID_DOWN,
) -> list[RawDetection]:
    """``loss_mmod_::to_label`` for one sample's ``windows x h x w`` score map."""
    windows = net.options.detector_windows
    ks, rs, cs = np.nonzero(scores[: len(windows)] > adjust_threshold)
    if ks.size == 0 or not rects:
        return []
    confidence = scores[ks, rs, cs].astype(np.float64)
    sx, ox, sy, oy = receptive_mapping(net.layers)
    px, py = cs * sx + ox, rs * sy + oy  # output_tensor_to_input_tensor
    half_w = (np.asarray([w.width for w in windows], np.float64)[ks] - 1) / 2
    half_h = (np.asarray([w.height for w in windows], np.float64)[ks] - 1) / 2
    box = np.stack([px - half_w, py - half_h, px + half_w, py + half_h])  # centered_drect
    # tensor_space_to_image_space: the level whose tile is nearest to the box's centre
    centre_x = np.floor((box[0] + box[2]) / 2 + 0.5)
    centre_y = np.floor((box[1] + box[3]) / 2 + 0.5)
    level = _nearest_rect(rects, centre_x, centre_y)
    tiles = np.asarray(rects, dtype=np.float64)[level]
    box -= np.stack([tiles[:, 0], tiles[:, 1], tiles[:, 0], tiles[:, 1]])
    ratio = down / (down - 1.0)
    for step in range(int(level.max())):
        going_up = level > step
        box[:, going_up] = box[:, going_up] * ratio + 0.3
    corners = _lround(box)
    order = np.argsort(-confidence, kind="stable")
    return _suppress(
        [
            RawDetection(
                (
                    int(corners[0, i]),
                    int(corners[1, i]),
                    int(corners[2, i]),
                    int(corners[3, i]),
                ),
                float(confidence[i]),
                int(ks[i]),
            )
            for i in order
        ],
        net.options.overlaps_nms,
    )


def _nearest_rect(
    rects: Sequence[Rect], x: NDArray[np.float64], y: NDArray[np.float64]
) -> NDArray[np.intp]:
    """dlib's ``nearest_rect``: the first tile containing the point, else the closest."""
    found = np.full(x.shape, -1, dtype=np.intp)
    best = np.full(x.shape, np.inf)
    closest = np.zeros(x.shape, dtype=np.intp)
    for index, (left, top, right, bottom) in enumerate(rects):
        dx = np.clip(x, left, right) - x
        dy = np.clip(y, top, bottom) - y
        inside = (dx == 0) & (dy == 0) & (found < 0)
        found[inside] = index
        dist = np.sqrt(dx * dx + dy * dy)
        better = dist < best
        best[better] = dist[better]
        closest[better] = index
    return np.where(found >= 0, found, closest)


def _suppress(candidates: list[RawDetection], overlaps: BoxOverlap) -> list[RawDetection]:
    """Greedy non-max suppression, candidates in decreasing confidence."""
    kept: list[RawDetection] = []
    for det in candidates:
        if not any(overlaps(other.rect, det.rect) for other in kept):
            kept.append(det)
    return kept


def _rect_down(rect: Rect, levels: int) -> Rect:
    """``pyramid_down<2>::rect_down(rect, levels)``, rounded to a ``rectangle``."""
    corners = np.asarray(rect, dtype=np.float64)
    for _ in range(levels):
        corners = corners / 2.0 - np.asarray([1.25, 0.75, 1.25, 0.75])
    left, top, right, bottom = (int(v) for v in _lround(corners))
    return left, top, right, bottom


def _as_rgb(image: NDArray[np.uint8]) -> RGBImage:
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


# -- the detector --------------------------------------------------------------------------
class OnnxMmodDetector:
    """A :class:`~facerec.inference.types.Detector`: dlib's MMOD CNN on ONNX Runtime.

    ``cache_dir`` holds the converted model; ``source`` is the ``.dat`` (by default the one
    ``face_recognition_models`` ships). ``upsample`` is dlib's ``upsample_num_times``;
    ``scale`` (a factor, or ``(width, height) -> factor``) resizes the image first, the
    way :meth:`DlibEngine.detect` does. Detections scoring at or below ``adjust_threshold``
    are not reported (dlib's default is 0). The session is made on first use (or by
    :meth:`load`) and shared by threads.
    """

    def __init__(
        self,
        cache_dir: Path,
        source: Path | None = None,
        *,
        upsample: int = 0,
        scale: float | ScalePolicy | None = None,
        adjust_threshold: float = 0.0,
        pyramid_down: int = DEFAULT_PYRAMID_DOWN,
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
        providers: Sequence[str] | None = None,
    ) -> None:
        if upsample < 0:
            raise ValueError("upsample must be >= 0")
        if pyramid_down < 2:
            raise ValueError("pyramid_down must be >= 2")
        self.cache_dir = Path(cache_dir)
        self.source = source
        self.upsample = upsample
        self.scale = scale
        self.adjust_threshold = adjust_threshold
        self.pyramid_down = pyramid_down
        self.intra_op_threads = intra_op_threads
        self.inter_op_threads = inter_op_threads
        self.providers = list(providers) if providers is not None else default_providers()
        self.from_cache: bool | None = None
        """After loading: True when the cached ``.onnx`` was used as it was."""
        self._net: MmodNet | None = None
        self._session: ort.InferenceSession | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        cache_dir: Path,
        settings: DetectorSettings,
        source: Path | None = None,
        *,
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
        providers: Sequence[str] | None = None,
    ) -> OnnxMmodDetector:
        """The detector ``DlibEngine`` uses for ``settings`` with ``model="cnn"``: the same
        resize policy (``min_face_px``, ``max_detect_pixels``) and ``min_score``."""
        cnn = settings.model_copy(update={"model": "cnn"})

        def policy(width: int, height: int) -> float:
            return detection_scale(
                width,
                height,
                kind="cnn",
                min_face_px=cnn.min_face_px,
                max_pixels=cnn.max_detect_pixels,
            )

        return cls(
            cache_dir,
            source,
            scale=policy,
            adjust_threshold=max(0.0, settings.min_score),
            intra_op_threads=intra_op_threads,
            inter_op_threads=inter_op_threads,
            providers=providers,
        )

    def load(self) -> None:
        """Convert or verify the cached model and open the session (idempotent)."""
        with self._lock:
            if self._session is not None:
                return
            source = self.source or model_path("cnn")
            net, data, self.from_cache = load_or_convert(source, self.cache_dir)
            if net.options.use_bounding_box_regression:
                raise DlibFormatError("bounding box regression is not supported")
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.intra_op_threads
            options.inter_op_num_threads = self.inter_op_threads
            # no busy-waiting between calls: the CPU goes to other requests and workers
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            # every image size is a new shape: don't keep the largest one's buffers around
            options.enable_cpu_mem_arena = False
            self._session = ort.InferenceSession(data, options, providers=self.providers)
            self._net = net

    @property
    def net(self) -> MmodNet:
        self.load()
        assert self._net is not None
        return self._net

    @property
    def active_providers(self) -> list[str]:
        """The providers the session actually runs on."""
        self.load()
        assert self._session is not None
        return list(self._session.get_providers())

    def score_map(self, image: RGBImage) -> tuple[FloatArray, list[Rect]]:
        """The network's ``windows x h x w`` scores for ``image`` as given (no resizing),
        and where each pyramid level lies in the input tensor."""
        self.load()
        assert self._session is not None and self._net is not None
        tensor, rects = pyramid_tensor(_as_rgb(image), self._net.input, self.pyramid_down)
        rows, cols = output_size(self._net, tensor.shape[1], tensor.shape[2])
        if not rects or rows <= 0 or cols <= 0:
            empty = np.zeros((_output_channels(self._net), 0, 0), dtype=np.float32)
            return empty, rects
        scores = self._session.run([OUTPUT_NAME], {INPUT_NAME: tensor[None]})[0]
        return np.asarray(scores[0], dtype=np.float32), rects

    def scan(self, image: RGBImage, upsample: int | None = None) -> list[RawDetection]:
        """What ``cnn_face_detection_model_v1(path)(image, upsample)`` returns."""
        levels = self.upsample if upsample is None else upsample
        scanned = _as_rgb(image)
        for _ in range(levels):
            scanned = pyramid_up(scanned)
        scores, rects = self.score_map(scanned)
        found = decode_scores(
            scores,
            rects,
            self.net,
            adjust_threshold=self.adjust_threshold,
            down=self.pyramid_down,
        )
        if levels == 0:
            return found
        return [RawDetection(_rect_down(d.rect, levels), d.confidence, d.window) for d in found]

    def detect(self, image: RGBImage) -> list[Detection]:
        """Face boxes (``x2``/``y2`` exclusive) in ``image``'s pixels, confidence as score."""
        image = _as_rgb(image)
        height, width = image.shape[:2]
        scale = self.scale(width, height) if callable(self.scale) else (self.scale or 1.0)
        scanned = image
        if abs(scale - 1.0) > 1e-3:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            scanned = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
        else:
            scale = 1.0
        return [
            Detection(
                x1=left / scale,
                y1=top / scale,
                x2=(right + 1) / scale,
                y2=(bottom + 1) / scale,
                score=det.confidence,
            )
            for det in self.scan(scanned)
            for left, top, right, bottom in [det.rect]
        ]
