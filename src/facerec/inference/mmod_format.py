"""A reader for dlib's MMOD detector networks (``mmod_human_face_detector.dat``), without dlib.

Such a file is a ``loss_mmod`` network (``dnn_mmod_ex.cpp``, ``dnn_mmod_face_detection_ex.cpp``):
a plain chain of ``con``, ``affine`` (or, as trained, ``bn_con``) and ``relu`` layers over an
``input_rgb_image_pyramid``. The primitive encodings and the ``con_``/``affine_``/``relu_``
details are those of :mod:`facerec.inference.dlib_format`, which this module reuses; what it
adds is what a detector file holds besides (dlib 20's ``loss.h``, ``input.h``, ``layers.h``):

- ``loss_mmod_``: the ``mmod_options`` (versions 1 to 4): the detector windows (width,
  height, label), the training losses, ``truth_match_iou_threshold``, the NMS and ignore
  overlap tests (an IoU and a percent-covered threshold each), whether an image pyramid
  is assumed, and bounding box regression;
- ``input_rgb_image_pyramid`` (``2``): the mean RGB, then (version 2 only) the padding
  between pyramid levels and around them (10 and 11 when absent). The pyramid's
  downsampling rate (``pyramid_down<6>``) is a template argument and is not in the file;
- ``bn_con2``: batch normalisation as saved after training, which dlib turns into an
  ``affine_`` on load (``gamma / sqrt(running_variance + eps)``, ``beta - g * running_mean``,
  in float32); this module does the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facerec.inference.dlib_format import (
    ADD_LAYER_VERSIONS,
    Affine,
    Conv,
    DlibFormatError,
    Layer,
    Reader,
    Relu,
    read_details,
    skip_layer_state,
    take_params,
)

DEFAULT_PYRAMID_DOWN = 6
"""``pyramid_down<N>`` of dlib's face detector (the rate is ``(N - 1) / N``)."""

MmodLayer = Conv | Affine | Relu


@dataclass(frozen=True)
class DetectorWindow:
    """One sliding-window shape; each has its own output channel."""

    width: int
    height: int
    label: str = ""


@dataclass(frozen=True)
class BoxOverlap:
    """dlib's ``test_box_overlap`` on integer (inclusive) rectangles."""

    iou_thresh: float
    percent_covered_thresh: float = 1.0

    def __call__(self, a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
        """Whether ``a`` and ``b`` (left, top, right, bottom, inclusive) overlap.

        As dlib does, the "union" here is the box bounding both rectangles, not the
        area of their union.
        """
        inner = _area(max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
        if inner == 0:
            return False
        outer = _area(min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
        return (
            inner / outer > self.iou_thresh
            or inner / _area(*a) > self.percent_covered_thresh
            or inner / _area(*b) > self.percent_covered_thresh
        )


def _area(left: int, top: int, right: int, bottom: int) -> int:
    if right < left or bottom < top:
        return 0
    return (right - left + 1) * (bottom - top + 1)


@dataclass(frozen=True)
class MmodOptions:
    detector_windows: tuple[DetectorWindow, ...]
    loss_per_false_alarm: float
    loss_per_missed_target: float
    truth_match_iou_threshold: float
    overlaps_nms: BoxOverlap
    overlaps_ignore: BoxOverlap
    assume_image_pyramid: bool
    use_bounding_box_regression: bool
    bbr_lambda: float


@dataclass(frozen=True)
class InputPyramid:
    """``input_rgb_image_pyramid``: planar ``(value - mean) / 256`` over a tiled pyramid."""

    mean_rgb: tuple[float, float, float]
    padding: int
    """Pixels between two pyramid levels in the tiled image."""
    outer_padding: int
    """Pixels around the whole tiled image."""


@dataclass(frozen=True)
class MmodNet:
    options: MmodOptions
    input: InputPyramid
    layers: list[MmodLayer]
    """Every computing layer, input side first."""


def _read_box_overlap(r: Reader) -> BoxOverlap:
    return BoxOverlap(r.real(), r.real())


def _read_window(r: Reader) -> DetectorWindow:
    if (version := r.integer()) not in (1, 2):
        raise DlibFormatError(f"unknown detector_window_details version {version}")
    width, height = r.integer(), r.integer()
    return DetectorWindow(width, height, r.text() if version == 2 else "")


def _read_options(r: Reader) -> MmodOptions:
    if not 1 <= (version := r.integer()) <= 4:
        raise DlibFormatError(f"unknown mmod_options version {version}")
    if version == 1:
        windows: tuple[DetectorWindow, ...] = (DetectorWindow(r.integer(), r.integer()),)
    else:
        windows = tuple(_read_window(r) for _ in range(r.integer()))
    false_alarm, missed, truth_iou = r.real(), r.real(), r.real()
    nms, ignore = _read_box_overlap(r), _read_box_overlap(r)
    pyramid = True
    if version >= 3:
        pyramid = r.take(1)[0] != 0  # a uint8_t: one raw byte
    bbr, bbr_lambda = False, 100.0
    if version >= 4:
        bbr, bbr_lambda = r.boolean(), r.real()
    if not windows or any(w.width <= 0 or w.height <= 0 for w in windows):
        raise DlibFormatError("an MMOD detector needs at least one non-empty detector window")
    return MmodOptions(
        windows, false_alarm, missed, truth_iou, nms, ignore, pyramid, bbr, bbr_lambda
    )


def _read_loss(r: Reader) -> MmodOptions:
    if (version := r.integer()) != 1:
        raise DlibFormatError(f"not a dlib network (add_loss_layer version {version})")
    if (loss := r.text()) != "loss_mmod_":
        raise DlibFormatError(f"not an MMOD detector (loss layer {loss!r})")
    return _read_options(r)


def _read_input(r: Reader) -> InputPyramid:
    version = r.text()
    if version not in ("input_rgb_image_pyramid", "input_rgb_image_pyramid2"):
        raise DlibFormatError(f"unsupported input layer {version!r}")
    mean = (r.real(), r.real(), r.real())
    padding, outer = 10, 11
    if version == "input_rgb_image_pyramid2":
        padding, outer = r.integer(), r.integer()
    return InputPyramid(mean, padding, outer)


def _read_batch_norm(r: Reader) -> Affine:
    """A saved ``bn_con2``/``bn_fc2``, turned into the ``affine_`` dlib loads it as."""
    version = r.text()
    params = r.tensor()
    gamma_shape, beta_shape = r.alias_shape(), r.alias_shape()
    _means, _invstds = r.tensor(), r.tensor()  # statistics of the last training batch
    running_means, running_variances = r.tensor(), r.tensor()
    r.integer(), r.integer()  # num_updates, running_stats_window_size
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.real()
    eps = np.float32(r.real())
    gamma = take_params(params, 0, gamma_shape)
    beta = take_params(params, gamma.size, beta_shape)
    if running_means.size != gamma.size or running_variances.size != gamma.size:
        raise DlibFormatError(f"{version} running statistics disagree with its parameters")
    mean = running_means.reshape(gamma.shape)
    scale = (gamma / np.sqrt(running_variances.reshape(gamma.shape) + eps)).astype(np.float32)
    shift = (beta - scale * mean).astype(np.float32)
    return Affine(
        scale.reshape(scale.shape[1:]), shift.reshape(shift.shape[1:]), version == "bn_con2"
    )


def _read_layer(r: Reader) -> Layer:
    if r.peek_text() in ("bn_con2", "bn_fc2"):
        return _read_batch_norm(r)
    return read_details(r)


def parse_mmod(data: bytes) -> MmodNet:
    """Decode a serialized dlib MMOD detector (a chain of con/affine/relu layers)."""
    r = Reader(data)
    options = _read_loss(r)
    wrappers: list[int] = []  # add_layer versions, output first
    while True:
        version = r.integer()
        if version not in ADD_LAYER_VERSIONS:
            raise DlibFormatError(f"unexpected layer version {version} (tags are not supported)")
        wrappers.append(version)
        text = r.peek_text()
        if text is not None and text.startswith("input"):
            break
    net_input = _read_input(r)
    layers: list[MmodLayer] = []
    for depth, version in enumerate(reversed(wrappers)):
        layer = _read_layer(r)
        if not isinstance(layer, Conv | Affine | Relu):
            raise DlibFormatError(f"unsupported layer in an MMOD detector: {layer!r}")
        if isinstance(layer, Affine) and not layer.conv_mode:
            raise DlibFormatError("fc-mode affine layers are not supported in a detector")
        layers.append(layer)
        skip_layer_state(r, version, is_input=depth == 0)
    if r.pos != len(data):
        raise DlibFormatError(f"{len(data) - r.pos} unread bytes after the network")
    _check_channels(layers, options)
    return MmodNet(options, net_input, layers)


def _check_channels(layers: list[MmodLayer], options: MmodOptions) -> None:
    """The chain must be consistent and end in one channel per window (5 with BBR)."""
    channels = 3
    for layer in layers:
        if isinstance(layer, Conv):
            if layer.weights.shape[1] != channels:
                raise DlibFormatError("a con_ layer's input channels disagree with its input")
            channels = layer.weights.shape[0]
        elif isinstance(layer, Affine) and layer.gamma.size != channels:
            raise DlibFormatError("an affine layer's size disagrees with its input")
    per_window = 5 if options.use_bounding_box_regression else 1
    if channels != per_window * len(options.detector_windows):
        raise DlibFormatError(
            f"the network gives {channels} channels for {len(options.detector_windows)} windows"
        )


def read_mmod(path: Path) -> MmodNet:
    """Read a dlib MMOD detector file such as ``mmod_human_face_detector.dat``."""
    return parse_mmod(path.read_bytes())


def receptive_mapping(layers: list[MmodLayer]) -> tuple[float, float, float, float]:
    """``(scale_x, offset_x, scale_y, offset_y)``: an output tensor position ``(c, r)``
    corresponds to input tensor point ``(scale_x * c + offset_x, scale_y * r + offset_y)``.

    This is dlib's ``output_tensor_to_input_tensor``: each ``con_`` maps ``p`` to
    ``p * stride - padding + size / 2`` (integer division), applied from the output back.
    """
    sx, ox, sy, oy = 1.0, 0.0, 1.0, 0.0
    for layer in reversed(layers):
        if isinstance(layer, Conv):
            kh, kw = layer.weights.shape[2:]
            (stride_y, stride_x), (pad_y, pad_x) = layer.stride, layer.padding
            sx, ox = sx * stride_x, ox * stride_x - pad_x + kw // 2
            sy, oy = sy * stride_y, oy * stride_y - pad_y + kh // 2
    if not all(math.isfinite(v) for v in (sx, ox, sy, oy)):
        raise DlibFormatError("bad convolution geometry")
    return sx, ox, sy, oy
