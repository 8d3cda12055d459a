"""The classifiers in plain PyTorch: the reference the ONNX conversion is compared with.

EfficientNet-Lite comes from ``efficientnet_lite_pytorch`` (the implementation its
weights were published for); MobileNetV2 is torchvision's architecture written out here
(torchvision's wheels pin other torch builds), loading the same state dict with
``strict=True``. Only tests and ``bench/classify.py`` import this (torch is test-only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from facerec.inference.classifier import ClassifierSpec

# t (expansion), c (channels), n (blocks), s (first stride): torchvision's table
MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]  # fmt: skip


def _conv_bn(inp: int, out: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out),
        nn.ReLU6(inplace=True),
    )


class _InvertedResidual(nn.Module):
    def __init__(self, inp: int, out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inp * expand
        layers: list[nn.Module] = [] if expand == 1 else [_conv_bn(inp, hidden, 1, 1)]
        layers += [
            _conv_bn(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, out, 1, 1, 0, bias=False),
            nn.BatchNorm2d(out),
        ]
        self.conv = nn.Sequential(*layers)
        self.skip = stride == 1 and inp == out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(x)
        return x + out if self.skip else out


class MobileNetV2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        features: list[nn.Module] = [_conv_bn(3, 32, 3, 2)]
        inp = 32
        for t, c, n, s in MOBILENET_V2:
            for i in range(n):
                features.append(_InvertedResidual(inp, c, s if i == 0 else 1, t))
                inp = c
        features.append(_conv_bn(inp, 1280, 1, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        logits: torch.Tensor = self.classifier(torch.flatten(x, 1))
        return logits


def reference_network(spec: ClassifierSpec, weights: Path) -> nn.Module:
    """The torch network of ``spec`` with the weights at ``weights``, in eval mode."""
    if spec.family == "mobilenet_v2":
        net: nn.Module = MobileNetV2()
        net.load_state_dict(torch.load(weights, weights_only=True), strict=True)
    else:
        from efficientnet_lite_pytorch import EfficientNet  # type: ignore[import-untyped]

        net = EfficientNet.from_pretrained(spec.name, weights_path=str(weights))
    return net.eval()


def reference_probabilities(
    net: nn.Module, spec: ClassifierSpec, batch: NDArray[np.uint8]
) -> NDArray[np.float32]:
    """Softmax of ``net`` on prepared uint8 NHWC images, normalised in torch."""
    x = torch.from_numpy(batch.astype(np.float32)).permute(0, 3, 1, 2)
    mean = torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1)
    with torch.no_grad():
        out = torch.softmax(net((x - mean) / std), dim=1)
    return out.numpy().astype(np.float32)
