"""Checking a model file against its contract: load it in ONNX Runtime, run one input.

A file that ONNX Runtime cannot load, whose input is not one NCHW image of 3 channels of
the contract's size, or whose outputs are not what the family gives (one descriptor of
the contract's length; scores, boxes and 5 landmarks per stride) is ``InvalidModel``.
The probe input is seeded noise, so a check never depends on chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facerec.errors import InvalidModel
from facerec.registry.contract import ANCHORS, STRIDES, InputContract

PROBE_DETECTOR_SIDE = 320
"""The side a detector with a dynamic input is probed at."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    input_shape: tuple[int, ...]
    output_shapes: tuple[tuple[int, ...], ...]
    size: int | None
    """The input side the model fixes (None: dynamic)."""
    embedding_size: int | None


def probe(path: Path, contract: InputContract) -> ProbeResult:
    """Run ``path`` once as ``contract`` says; the measured facts, or ``InvalidModel``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # ORT raises its own types for every kind of bad file
        raise InvalidModel(f"not a model ONNX Runtime can load: {_short(exc)}") from exc
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise InvalidModel(f"the model takes {len(inputs)} inputs; one image is expected")
    side = _input_side(inputs[0].shape, inputs[0].type, contract)
    feed = np.random.default_rng(0).uniform(-1, 1, (1, 3, side, side)).astype(np.float32)
    try:
        outputs = [np.asarray(o) for o in session.run(None, {inputs[0].name: feed})]
    except Exception as exc:
        raise InvalidModel(f"the model fails on a {side}x{side} input: {_short(exc)}") from exc
    shapes = tuple(tuple(int(d) for d in o.shape) for o in outputs)
    fixed = side if isinstance(inputs[0].shape[2], int) else None
    if contract.kind == "recogniser":
        dim = _check_recogniser(outputs, contract)
        return ProbeResult(feed.shape, shapes, fixed, dim)
    _check_detector(shapes, contract, side)
    return ProbeResult(feed.shape, shapes, fixed, None)


def _input_side(shape: list[Any], dtype: str, contract: InputContract) -> int:
    if dtype != "tensor(float)":
        raise InvalidModel(f"the model's input is {dtype}; float32 is expected")
    if len(shape) != 4:
        raise InvalidModel(f"the model's input has shape {shape}; NCHW (4 axes) is expected")
    channels, height, width = shape[1:]
    if isinstance(channels, int) and channels != 3:
        raise InvalidModel(f"the model's input has {channels} channels; 3 are expected")
    fixed = [d for d in (height, width) if isinstance(d, int)]
    if fixed and (len(fixed) == 1 or height != width):
        raise InvalidModel(f"the model's input is {height}x{width}; a square is expected")
    if fixed:
        if contract.size is not None and fixed[0] != contract.size:
            raise InvalidModel(
                f"the model's input is {fixed[0]}x{fixed[0]}, the contract says "
                f"{contract.size}x{contract.size}",
                expected=contract.size,
                actual=fixed[0],
            )
        if contract.kind == "detector" and fixed[0] % 32:
            raise InvalidModel(f"a detector's input side must be a multiple of 32, not {fixed[0]}")
        return int(fixed[0])
    return contract.size or PROBE_DETECTOR_SIDE


def _check_recogniser(outputs: list[np.ndarray], contract: InputContract) -> int:
    first = outputs[0]
    if first.ndim != 2 or first.shape[0] != 1:
        raise InvalidModel(
            f"a recogniser gives one descriptor per face ((1, d)); this one gives {first.shape}"
        )
    dim = int(first.shape[1])
    if contract.embedding_size is not None and dim != contract.embedding_size:
        raise InvalidModel(
            f"the model gives {dim}-d descriptors, the contract says {contract.embedding_size}",
            expected=contract.embedding_size,
            actual=dim,
        )
    if dim < 2 or not np.all(np.isfinite(first)):
        raise InvalidModel("the model's descriptor is empty or not finite")
    return dim


def _check_detector(
    shapes: tuple[tuple[int, ...], ...], contract: InputContract, side: int
) -> None:
    anchors = ANCHORS[contract.family]
    found = {(rows, width) for *_, rows, width in (s for s in shapes if len(s) >= 2)}
    missing = [
        f"stride {stride}: {rows} x {width}"
        for stride in STRIDES
        for rows in [anchors * (side // stride) ** 2]
        for width in (1, 4, 10)
        if (rows, width) not in found
    ]
    if missing:
        raise InvalidModel(
            f"not a {contract.family} detector: on a {side}x{side} input its outputs "
            f"{list(shapes)} lack scores (1), boxes (4) or 5 landmarks (10) per stride "
            f"({'; '.join(missing)})"
        )


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:300]
