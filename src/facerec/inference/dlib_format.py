"""A reader for dlib DNN model files (what ``dlib::serialize(file) << net`` writes), without dlib.

The format, as dlib 20 writes and reads it (``dlib/serialize.h``, ``dlib/dnn/core.h``,
``layers.h``, ``loss.h``, ``input.h``, ``cuda/tensor.h``):

- integers: a control byte (low 4 bits: how many little-endian bytes follow; 0x80: the
  value is negative; 0x70 always clear), then those bytes;
- floats/doubles: a mantissa then an exponent, both such integers, worth
  ``mantissa * 2**exponent`` (exponents 32000/32001/32002 mean +inf/-inf/NaN);
- strings: their length (an integer) then the bytes; bools: one ASCII ``'0'``/``'1'``;
- tensors: version 2, then ``num_samples, k, nr, nc`` and the raw little-endian float32s;
  an ``alias_tensor`` (a view into a layer's ``params``) is version 1 and its four sizes.

A network is nested: ``add_loss_layer`` (version, loss details, subnet), then each
``add_layer`` writes its version and *then its subnet first*, so the file holds every
wrapper's version from the output inwards, the input layer, and then each layer's details
from the input outwards. Tag and skip layers write only a version (1), so *which* tag a
layer refers to is not in the file: the caller supplies the topology (see ``onnx_graph``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]
_SPECIAL_EXPONENTS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
_TAG_OR_SKIP_VERSION = 1
ADD_LAYER_VERSIONS = (2, 3)


class DlibFormatError(ValueError):
    """The bytes are not a dlib network this reader understands."""


@dataclass(frozen=True)
class InputRGB:
    """``input_rgb_image_sized``: pixels become ``(value - mean) / 256``, planar RGB."""

    mean_rgb: tuple[float, float, float]
    rows: int
    cols: int


@dataclass(frozen=True, eq=False)
class Conv:
    weights: FloatArray  # (out, in, kh, kw), cross-correlation like ONNX
    bias: FloatArray | None
    stride: tuple[int, int]  # (y, x)
    padding: tuple[int, int]  # (y, x), symmetric


@dataclass(frozen=True, eq=False)
class Affine:
    """``y = x * gamma + beta``; per channel (conv mode) or per element (fc mode)."""

    gamma: FloatArray
    beta: FloatArray
    conv_mode: bool


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class Pool:
    """``max_pool`` / ``avg_pool``; a (0, 0) window means the whole image."""

    kind: str  # "max" or "avg"
    window: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class AddPrev:
    """Adds the output of a tagged layer (zero-padding the smaller of the two)."""


@dataclass(frozen=True, eq=False)
class Fc:
    weights: FloatArray  # (inputs, outputs): y = x @ weights + bias
    bias: FloatArray | None


@dataclass(frozen=True)
class Marker:
    """A tag or skip layer: it carries no data, only its position."""


Layer = InputRGB | Conv | Affine | Relu | Pool | AddPrev | Fc | Marker


@dataclass(frozen=True)
class DlibNet:
    loss: str
    layers: list[Layer]
    """Input first, then every layer in the order data flows through it."""


class Reader:
    """Sequential decoding of dlib's primitive encodings."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0:
            raise DlibFormatError(f"negative length {n} before byte {self.pos}")
        if self.pos + n > len(self.data):
            raise DlibFormatError(f"file ends at byte {len(self.data)}, wanted {n} more")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        control = self.take(1)[0]
        size = control & 0x0F
        if control & 0x70 or size == 0 or size > 8:
            raise DlibFormatError(f"bad integer control byte {control:#x} at {self.pos - 1}")
        value = int.from_bytes(self.take(size), "little")
        return -value if control & 0x80 else value

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        if exponent in _SPECIAL_EXPONENTS:
            return _SPECIAL_EXPONENTS[exponent]
        try:
            return math.ldexp(float(mantissa), exponent)
        except OverflowError:  # C's ldexp gives infinity
            return math.copysign(math.inf, mantissa)

    def boolean(self) -> bool:
        char = self.take(1)
        if char not in (b"0", b"1"):
            raise DlibFormatError(f"bad bool {char!r} at {self.pos - 1}")
        return char == b"1"

    def text(self) -> str:
        return self.take(self.integer()).decode("latin-1")

    def peek_text(self) -> str | None:
        """The string at the cursor if one looks to be there, without consuming it."""
        start = self.pos
        try:
            return self.text()
        except DlibFormatError:
            return None
        finally:
            self.pos = start

    def tensor(self) -> FloatArray:
        if (version := self.integer()) != 2:
            raise DlibFormatError(f"unknown tensor version {version}")
        shape = tuple(self.integer() for _ in range(4))
        count = math.prod(shape)
        values = np.frombuffer(self.take(4 * count), dtype="<f4")
        return values.astype(np.float32).reshape(shape)

    def alias_shape(self) -> tuple[int, int, int, int]:
        if (version := self.integer()) != 1:
            raise DlibFormatError(f"unknown alias_tensor version {version}")
        n, k, nr, nc = (self.integer() for _ in range(4))
        return n, k, nr, nc


def take_params(params: FloatArray, offset: int, shape: tuple[int, ...]) -> FloatArray:
    """The slice of a layer's flat ``params`` that an alias_tensor of ``shape`` views."""
    flat = params.reshape(-1)
    size = math.prod(shape)
    if offset + size > flat.size:
        raise DlibFormatError("an alias_tensor reaches past its layer's parameters")
    return flat[offset : offset + size].reshape(shape).copy()


def _read_con(r: Reader, version: str) -> Conv:
    params = r.tensor()
    num_filters = r.integer()
    window = r.integer(), r.integer()
    stride = r.integer(), r.integer()
    padding = r.integer(), r.integer()
    filters = r.alias_shape()
    biases = r.alias_shape()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.real()
    use_bias = r.boolean() if version in ("con_5", "con_6") else True
    if version == "con_6":
        r.boolean()  # use_relu: only a training-time fusion hint
    weights = take_params(params, 0, filters)
    if weights.shape[0] != num_filters or weights.shape[2:] != window:
        raise DlibFormatError("con_ filter shape disagrees with its header")
    bias = None
    if use_bias and math.prod(biases) > 0:
        bias = take_params(params, weights.size, (num_filters,))
    return Conv(weights, bias, (stride[0], stride[1]), (padding[0], padding[1]))


def _read_affine(r: Reader, version: str) -> Affine:
    params = r.tensor()
    gamma_shape, beta_shape = r.alias_shape(), r.alias_shape()
    conv_mode = r.integer() == 0
    if version == "affine_2" and r.boolean():
        raise DlibFormatError("disabled affine_ layers are not supported")
    gamma = take_params(params, 0, gamma_shape)
    beta = take_params(params, gamma.size, beta_shape)
    return Affine(gamma.reshape(gamma.shape[1:]), beta.reshape(beta.shape[1:]), conv_mode)


def _read_pool(r: Reader, version: str) -> Pool:
    window = r.integer(), r.integer()
    stride = r.integer(), r.integer()
    padding = r.integer(), r.integer()
    kind = "max" if version.startswith("max") else "avg"
    return Pool(kind, window, stride, padding)


def _read_relu(r: Reader, version: str) -> Relu:
    if version == "relu_2" and r.boolean():
        raise DlibFormatError("disabled relu_ layers are not supported")
    return Relu()


def _read_fc(r: Reader, version: str) -> Fc:
    outputs, inputs = r.integer(), r.integer()
    params = r.tensor()
    weight_shape, bias_shape = r.alias_shape(), r.alias_shape()
    has_bias = r.integer() == 0  # fc_bias_mode: FC_HAS_BIAS = 0
    for _ in range(4):
        r.real()
    if version == "fc_3":
        has_bias = r.boolean() and has_bias
    weights = take_params(params, 0, weight_shape).reshape(inputs, outputs)
    bias = None
    if has_bias and math.prod(bias_shape) > 0:
        bias = take_params(params, weights.size, (outputs,))
    return Fc(weights, bias)


_DETAIL_READERS: dict[str, Callable[[Reader, str], Layer]] = {
    "con_4": _read_con,
    "con_5": _read_con,
    "con_6": _read_con,
    "affine_": _read_affine,
    "affine_2": _read_affine,
    "max_pool_2": _read_pool,
    "avg_pool_2": _read_pool,
    "relu_": _read_relu,
    "relu_2": _read_relu,
    "add_prev_": lambda r, v: AddPrev(),
    "fc_2": _read_fc,
    "fc_3": _read_fc,
}


def read_details(r: Reader) -> Layer:
    version = r.text()
    reader = _DETAIL_READERS.get(version)
    if reader is None:
        raise DlibFormatError(f"unsupported layer {version!r}")
    return reader(r, version)


def _read_input(r: Reader) -> InputRGB:
    if (version := r.text()) != "input_rgb_image_sized":
        raise DlibFormatError(f"unsupported input layer {version!r}")
    mean = (r.real(), r.real(), r.real())
    return InputRGB(mean, r.integer(), r.integer())


def skip_layer_state(r: Reader, version: int, is_input: bool) -> None:
    """The training state an ``add_layer`` writes after its details."""
    for _ in range(3):  # setup called, gradient stale, output/gradient disabled
        r.boolean()
    for _ in range(3):  # x_grad, cached_output, params_grad / grad_final
        r.tensor()
    if is_input and version >= 3:
        r.integer()  # sample expansion factor


def _read_loss(r: Reader) -> str:
    if (version := r.integer()) != 1:
        raise DlibFormatError(f"not a dlib network (add_loss_layer version {version})")
    loss = r.text()
    if loss == "loss_metric_2":
        r.real(), r.real()  # margin, distance threshold: training only
    elif loss != "loss_metric_":
        raise DlibFormatError(f"unsupported loss layer {loss!r}")
    return loss


def parse_net(data: bytes) -> DlibNet:
    """Decode a serialized dlib network (metric-loss nets over RGB images)."""
    r = Reader(data)
    loss = _read_loss(r)
    wrappers: list[int] = []  # versions, output first
    while True:
        version = r.integer()
        wrappers.append(version)
        text = r.peek_text()
        if text is not None and text.startswith("input"):
            break
        if version not in (_TAG_OR_SKIP_VERSION, *ADD_LAYER_VERSIONS):
            raise DlibFormatError(f"unexpected layer version {version}")
    if wrappers[-1] not in ADD_LAYER_VERSIONS:
        raise DlibFormatError("the input layer must sit directly under a computing layer")
    layers: list[Layer] = [_read_input(r)]
    for depth, version in enumerate(reversed(wrappers)):
        if version == _TAG_OR_SKIP_VERSION:
            layers.append(Marker())
            continue
        layers.append(read_details(r))
        skip_layer_state(r, version, is_input=depth == 0)
    if r.pos != len(data):
        raise DlibFormatError(f"{len(data) - r.pos} unread bytes after the network")
    return DlibNet(loss, layers)


def read_net(path: Path) -> DlibNet:
    """Read a dlib network file such as ``dlib_face_recognition_resnet_model_v1.dat``."""
    return parse_net(path.read_bytes())
