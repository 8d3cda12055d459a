"""Build an ONNX graph equal to a dlib network read by :mod:`facerec.inference.dlib_format`.

dlib's file does not say which tag a skip or ``add_prev`` layer refers to, so the
topology comes from :func:`anet_layout`, the face descriptor network of dlib's
``dnn_face_recognition_ex.cpp`` / ``face_recognition.cpp`` (``anet_type``), written out
from input to output; :func:`build_model` checks the file against it layer by layer.

The graph takes ``image``: uint8 ``N x rows x cols x 3`` RGB chips, and gives
``descriptor``: float32 ``N x outputs``. Shapes are tracked while building, because dlib's
``add_prev`` adds tensors of different sizes by zero-padding the smaller one at the end
(more channels, or one more row/column after a stride-2 block), which becomes an explicit
``Pad`` here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from facerec.inference.dlib_format import (
    AddPrev,
    Affine,
    Conv,
    DlibFormatError,
    DlibNet,
    Fc,
    InputRGB,
    Layer,
    Marker,
    Pool,
    Relu,
)

OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "descriptor"
Shape = tuple[int, int, int]  # channels, rows, cols (rows, cols, 3 before the transpose)


def anet_layout() -> list[str]:
    """dlib's ``anet_type``, input to output: layer kinds, tags, skips and additions."""
    residual = ["tag1", "con", "affine", "relu", "con", "affine", "add_prev1", "relu"]
    residual_down = [
        *["tag1", "con", "affine", "relu", "con", "affine"],
        *["tag2", "skip1", "avg_pool", "add_prev2", "relu"],
    ]
    layout = ["input", "con", "affine", "relu", "max_pool"]
    for blocks, downsample in ((3, False), (4, True), (3, True), (3, True), (1, True)):
        layout += residual_down if downsample else residual
        layout += residual * (blocks - 1)
    return [*layout, "avg_pool", "fc"]


def _kind(layer: Layer) -> str:
    """The layout word that a parsed layer must match."""
    if isinstance(layer, Pool):
        return f"{layer.kind}_pool"
    names = {InputRGB: "input", Conv: "con", Affine: "affine", Relu: "relu", Fc: "fc"}
    names |= {AddPrev: "add_prev", Marker: "marker"}
    return names[type(layer)]


def _expected_kind(word: str) -> str:
    if word.startswith(("tag", "skip")):
        return "marker"
    return "add_prev" if word.startswith("add_prev") else word


def _pooled(size: int, window: int, stride: int, padding: int) -> int:
    """dlib's (and ONNX's floor-mode) output length of a convolution or pooling."""
    return 1 + (size + 2 * padding - window) // stride


@dataclass
class _Builder:
    """Accumulates nodes and initializers while walking the layers."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    weights: list[onnx.TensorProto] = field(default_factory=list)
    shapes: dict[str, Shape] = field(default_factory=dict)
    count: int = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix: str, value: NDArray[Any]) -> str:
        name = self.name(prefix)
        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], shape: Shape, **attrs: Any) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        self.shapes[out] = shape
        return out


def _input(b: _Builder, layer: InputRGB) -> str:
    """uint8 NHWC -> float32 NCHW, ``(value - mean) / 256`` as dlib computes it (on the
    planes: a per-channel constant over whole rows is cheaper to apply than over pixels)."""
    nhwc, nchw = (layer.rows, layer.cols, 3), (3, layer.rows, layer.cols)
    cast = b.node("Cast", [INPUT_NAME], nhwc, to=TensorProto.FLOAT)
    planes = b.node("Transpose", [cast], nchw, perm=[0, 3, 1, 2])
    mean = b.const("mean_rgb", np.asarray(layer.mean_rgb, dtype=np.float32).reshape(3, 1, 1))
    centred = b.node("Sub", [planes, mean], nchw)
    return b.node("Mul", [centred, b.const("inv256", np.asarray(1 / 256, np.float32))], nchw)


def _conv(b: _Builder, x: str, layer: Conv) -> str:
    _, rows, cols = b.shapes[x]
    kh, kw = layer.weights.shape[2:]
    (sy, sx), (py, px) = layer.stride, layer.padding
    shape = (layer.weights.shape[0], _pooled(rows, kh, sy, py), _pooled(cols, kw, sx, px))
    inputs = [x, b.const("conv_w", layer.weights)]
    if layer.bias is not None:
        inputs.append(b.const("conv_b", layer.bias))
    attrs = {"kernel_shape": [kh, kw], "strides": [sy, sx], "pads": [py, px, py, px]}
    return b.node("Conv", inputs, shape, **attrs)


def _affine(b: _Builder, x: str, layer: Affine) -> str:
    shape = b.shapes[x]
    param_shape = (-1, 1, 1) if layer.conv_mode else shape
    gamma = b.const("gamma", layer.gamma.reshape(param_shape))
    scaled = b.node("Mul", [x, gamma], shape)
    return b.node("Add", [scaled, b.const("beta", layer.beta.reshape(param_shape))], shape)


def _pool(b: _Builder, x: str, layer: Pool) -> str:
    channels, rows, cols = b.shapes[x]
    if layer.window == (0, 0):
        if layer.kind != "avg":
            raise DlibFormatError("only whole-image average pooling is supported")
        return b.node("GlobalAveragePool", [x], (channels, 1, 1))
    (wy, wx), (sy, sx), (py, px) = layer.window, layer.stride, layer.padding
    if layer.kind == "avg" and (py or px):
        raise DlibFormatError("padded average pooling is not supported")
    shape = (channels, _pooled(rows, wy, sy, py), _pooled(cols, wx, sx, px))
    op = "MaxPool" if layer.kind == "max" else "AveragePool"
    attrs = {"kernel_shape": [wy, wx], "strides": [sy, sx], "pads": [py, px, py, px]}
    return b.node(op, [x], shape, **attrs)


def _pad_to(b: _Builder, x: str, shape: Shape) -> str:
    """Zero-pad ``x`` at the end of each axis up to ``shape`` (as dlib's ``add`` reads it)."""
    extra = [want - have for want, have in zip(shape, b.shapes[x], strict=True)]
    if not any(extra):
        return x
    pads = b.const("pads", np.asarray([0, 0, 0, 0, 0, *extra], dtype=np.int64))
    return b.node("Pad", [x, pads], shape)


def _add(b: _Builder, x: str, other: str) -> str:
    (c1, h1, w1), (c2, h2, w2) = b.shapes[x], b.shapes[other]
    full = (max(c1, c2), max(h1, h2), max(w1, w2))
    return b.node("Add", [_pad_to(b, x, full), _pad_to(b, other, full)], full)


def _fc(b: _Builder, x: str, layer: Fc) -> str:
    outputs = layer.weights.shape[1]
    flat = b.node("Flatten", [x], (int(np.prod(b.shapes[x])), 1, 1), axis=1)
    y = b.node("MatMul", [flat, b.const("fc_w", layer.weights)], (outputs, 1, 1))
    if layer.bias is not None:
        y = b.node("Add", [y, b.const("fc_b", layer.bias)], (outputs, 1, 1))
    return y


def _apply(b: _Builder, x: str, layer: Layer) -> str:
    """The node(s) for one computing layer; returns the new current tensor."""
    if isinstance(layer, Conv):
        return _conv(b, x, layer)
    if isinstance(layer, Affine):
        return _affine(b, x, layer)
    if isinstance(layer, Relu):
        return b.node("Relu", [x], b.shapes[x])
    if isinstance(layer, Pool):
        return _pool(b, x, layer)
    if isinstance(layer, Fc):
        return _fc(b, x, layer)
    raise DlibFormatError(f"no ONNX mapping for {layer!r}")


def _walk(b: _Builder, net: DlibNet, layout: list[str]) -> str:
    """Emit every layer, following ``layout`` for tags, skips and additions."""
    if [_kind(layer) for layer in net.layers] != [_expected_kind(w) for w in layout]:
        raise DlibFormatError("the network in the file is not the expected architecture")
    first = net.layers[0]
    assert isinstance(first, InputRGB)
    current = _input(b, first)
    tags: dict[str, str] = {}
    for word, layer in zip(layout[1:], net.layers[1:], strict=True):
        if word.startswith("tag"):
            tags[word[3:]] = current
        elif word.startswith("skip"):
            current = tags[word[4:]]
        elif word.startswith("add_prev"):
            current = _add(b, current, tags[word[8:]])
        else:
            current = _apply(b, current, layer)
    return current


def build_model(
    net: DlibNet, layout: list[str] | None = None, metadata: dict[str, str] | None = None
) -> onnx.ModelProto:
    """An ONNX model computing ``net``; ``metadata`` goes into ``metadata_props``."""
    b = _Builder()
    last = _walk(b, net, layout or anet_layout())
    first = net.layers[0]
    assert isinstance(first, InputRGB)
    outputs = b.shapes[last][0]
    image = helper.make_tensor_value_info(
        INPUT_NAME, TensorProto.UINT8, ["batch", first.rows, first.cols, 3]
    )
    descriptor = helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", outputs])
    b.nodes.append(helper.make_node("Identity", [last], [OUTPUT_NAME], name="output"))
    graph = helper.make_graph(b.nodes, "dlib_net", [image], [descriptor], b.weights)
    return finish_model(graph, metadata)


def finish_model(graph: onnx.GraphProto, metadata: dict[str, str] | None) -> onnx.ModelProto:
    """Wrap a graph as a checked model at our opset, with ``metadata`` attached."""
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="facerec"
    )
    model.ir_version = 8  # opset 17's IR version: readable by older runtimes too
    helper.set_model_props(model, metadata or {})
    onnx.checker.check_model(model)
    return model
