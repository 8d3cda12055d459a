"""Build the ONNX graph of an ImageNet classifier from its PyTorch state dict.

Two families, both inverted-residual networks (MobileNetV2's blocks):

- ``mobilenet_v2``: torchvision's layout (``features.N...``, ``classifier.1``),
  symmetric padding, BatchNorm eps 1e-5;
- ``efficientnet_lite``: the TensorFlow EfficientNet-Lite ported to PyTorch
  (``_conv_stem``, ``_blocks.N._expand_conv`` / ``_depthwise_conv`` / ``_project_conv``,
  ``_conv_head``, ``_fc``), TensorFlow's "SAME" padding (the extra row and column at the
  end after a stride-2 layer), BatchNorm eps 1e-3.

Both use ReLU6 and the same seven stages, whose first blocks have strides
``STAGE_STRIDES``; channels and kernel sizes are read from the weights, a stage starts
where a block changes the channel count, and a block adds its input when its stride is 1
and its channels do not change. BatchNorm is folded into the convolution before it.

The graph takes ``image``: uint8 ``N x size x size x 3`` RGB (already cropped and
resized), normalises it as the network was trained, and gives ``probabilities``:
float32 ``N x classes`` (softmax).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from facerec.inference.torch_weights import StateDict, WeightsFormatError

OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
Family = Literal["mobilenet_v2", "efficientnet_lite"]
Array = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Normalisation:
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class ConvBn:
    """A convolution (no bias) followed by BatchNorm, as four weight-name prefixes apart."""

    conv: str
    bn: str
    stride: int = 1
    depthwise: bool = False
    relu6: bool = True


@dataclass
class _Builder:
    weights: StateDict
    eps: float
    same_padding: bool
    size: int
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    count: int = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix: str, value: NDArray[Any]) -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def tensor(self, key: str) -> Array:
        if key not in self.weights:
            raise WeightsFormatError(f"the weights lack {key}")
        return self.weights[key].astype(np.float32)

    def conv_bn(self, x: str, layer: ConvBn) -> str:
        """Convolution with BatchNorm folded in, then ReLU6 unless ``relu6`` is False."""
        weight = self.tensor(f"{layer.conv}.weight")
        scale = self.tensor(f"{layer.bn}.weight") / np.sqrt(
            self.tensor(f"{layer.bn}.running_var") + np.float32(self.eps)
        )
        bias = self.tensor(f"{layer.bn}.bias") - self.tensor(f"{layer.bn}.running_mean") * scale
        folded = weight * scale.reshape(-1, 1, 1, 1)
        kernel = int(weight.shape[2])
        attrs: dict[str, Any] = {
            "kernel_shape": [kernel, kernel],
            "strides": [layer.stride, layer.stride],
            "pads": self._pads(kernel, layer.stride),
            "group": int(weight.shape[0]) if layer.depthwise else 1,
        }
        out = self.node("Conv", [x, self.const("w", folded), self.const("b", bias)], **attrs)
        if layer.relu6:
            low, high = (
                self.const("zero", np.array(0, np.float32)),
                self.const("six", np.array(6, np.float32)),
            )
            out = self.node("Clip", [out, low, high])
        self.size = -(-self.size // layer.stride)
        return out

    def _pads(self, kernel: int, stride: int) -> list[int]:
        if not self.same_padding:
            half = (kernel - 1) // 2
            return [half, half, half, half]
        out = -(-self.size // stride)
        total = max((out - 1) * stride + kernel - self.size, 0)
        before = total // 2
        return [before, before, total - before, total - before]

    def residual(self, x: str, layers: list[ConvBn], *, skip: bool) -> str:
        out = x
        for layer in layers:
            out = self.conv_bn(out, layer)
        return self.node("Add", [out, x]) if skip else out


def _channels(weights: StateDict, conv: str) -> tuple[int, int]:
    """(out, in) channels of a convolution; in is the group count for a depthwise one."""
    shape = weights[f"{conv}.weight"].shape
    return int(shape[0]), int(shape[1])


def _block_count(weights: StateDict, prefix: str, marker: str) -> int:
    count = 0
    while f"{prefix}{count}.{marker}.weight" in weights:
        count += 1
    return count


class _Stages:
    """Assigns strides: a block whose channels change starts the next stage."""

    def __init__(self) -> None:
        self.index = -1

    def stride(self, changes: bool) -> int:
        if not changes:
            return 1
        self.index += 1
        if self.index >= len(STAGE_STRIDES):
            raise WeightsFormatError("the weights have more stages than the network")
        return STAGE_STRIDES[self.index]


def _mobilenet_v2(b: _Builder, x: str) -> tuple[str, str]:
    w = b.weights
    x = b.conv_bn(x, ConvBn("features.0.0", "features.0.1", stride=2))
    stages = _Stages()
    blocks = 1
    while f"features.{blocks}.conv.0.0.weight" in w:
        blocks += 1
    for i in range(1, blocks):
        p = f"features.{i}.conv"
        expands = f"{p}.3.weight" in w
        project = f"{p}.2" if expands else f"{p}.1"
        out_ch = _channels(w, project)[0]
        in_ch = _channels(w, f"{p}.0.0")[1] if expands else _channels(w, f"{p}.0.0")[0]
        stride = stages.stride(out_ch != in_ch)
        layers = [ConvBn(f"{p}.0.0", f"{p}.0.1")] if expands else []
        dw = f"{p}.1" if expands else f"{p}.0"
        layers.append(ConvBn(f"{dw}.0", f"{dw}.1", stride=stride, depthwise=True))
        bn = f"{p}.3" if expands else f"{p}.2"
        layers.append(ConvBn(project, bn, relu6=False))
        x = b.residual(x, layers, skip=stride == 1 and in_ch == out_ch)
    head = f"features.{blocks}"
    x = b.conv_bn(x, ConvBn(f"{head}.0", f"{head}.1"))
    return x, "classifier.1"


def _efficientnet_lite(b: _Builder, x: str) -> tuple[str, str]:
    w = b.weights
    x = b.conv_bn(x, ConvBn("_conv_stem", "_bn0", stride=2))
    stages = _Stages()
    for i in range(_block_count(w, "_blocks.", "_project_conv")):
        p = f"_blocks.{i}"
        expands = f"{p}._expand_conv.weight" in w
        out_ch = _channels(w, f"{p}._project_conv")[0]
        in_ch = (
            _channels(w, f"{p}._expand_conv")[1]
            if expands
            else _channels(w, f"{p}._depthwise_conv")[0]
        )
        stride = stages.stride(out_ch != in_ch)
        layers = [ConvBn(f"{p}._expand_conv", f"{p}._bn0")] if expands else []
        layers.append(ConvBn(f"{p}._depthwise_conv", f"{p}._bn1", stride=stride, depthwise=True))
        layers.append(ConvBn(f"{p}._project_conv", f"{p}._bn2", relu6=False))
        x = b.residual(x, layers, skip=stride == 1 and in_ch == out_ch)
    x = b.conv_bn(x, ConvBn("_conv_head", "_bn1"))
    return x, "_fc"


FAMILIES = {
    "mobilenet_v2": (_mobilenet_v2, 1e-5, False),
    "efficientnet_lite": (_efficientnet_lite, 1e-3, True),
}


def build_classifier(
    weights: StateDict, *, family: Family, size: int, norm: Normalisation
) -> onnx.ModelProto:
    """The checked ONNX model of ``family`` with ``weights``, for ``size`` x ``size`` input."""
    body, eps, same = FAMILIES[family]
    b = _Builder(weights=weights, eps=eps, same_padding=same, size=size)
    x = _normalise(b, norm)
    x, fc = body(b, x)
    pooled = b.node("Flatten", [b.node("GlobalAveragePool", [x])])
    fc_weight, fc_bias = b.tensor(f"{fc}.weight"), b.tensor(f"{fc}.bias")
    logits = b.node(
        "Gemm", [pooled, b.const("fc_w", fc_weight), b.const("fc_b", fc_bias)], transB=1
    )
    b.nodes.append(helper.make_node("Softmax", [logits], [OUTPUT_NAME], axis=1))
    classes = int(fc_bias.shape[0])
    graph = helper.make_graph(
        b.nodes,
        f"facerec-{family}",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["N", size, size, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", classes])],
        b.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _normalise(b: _Builder, norm: Normalisation) -> str:
    """uint8 NHWC -> float32 NCHW, ``(value - mean) / std`` per channel."""
    cast = b.node("Cast", [INPUT_NAME], to=TensorProto.FLOAT)
    centred = b.node("Sub", [cast, b.const("mean", np.asarray(norm.mean, np.float32))])
    inv_std = 1.0 / np.asarray(norm.std, np.float64)
    scaled = b.node("Mul", [centred, b.const("inv_std", inv_std.astype(np.float32))])
    return b.node("Transpose", [scaled], perm=[0, 3, 1, 2])
