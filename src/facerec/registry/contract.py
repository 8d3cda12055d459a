"""What a model file expects and gives: its input contract, by family.

A family names how a network is fed and read. ``arcface``: a recogniser fed one face
aligned by 5 points to the standard 112x112 template (``ARCFACE_TEMPLATE``), giving one
descriptor; ``yunet`` and ``scrfd``: detectors fed a whole image (sides multiples of 32),
giving per stride 8, 16 and 32 scores, boxes and 5 landmarks. The pixel transform is
``(pixel - mean) / std`` on the channels in ``colour`` order, NCHW float32.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

Family = Literal["arcface", "yunet", "scrfd"]
Kind = Literal["detector", "recogniser"]
FAMILIES: tuple[Family, ...] = ("arcface", "yunet", "scrfd")

KIND_OF: dict[Family, Kind] = {"arcface": "recogniser", "yunet": "detector", "scrfd": "detector"}

ARCFACE_TEMPLATE: tuple[tuple[float, float], ...] = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)
"""Where the eyes, nose tip and mouth corners go in a 112x112 ArcFace chip (InsightFace)."""

STRIDES = (8, 16, 32)
"""The feature strides of both detector families."""
ANCHORS: dict[Family, int] = {"yunet": 1, "scrfd": 2}
"""Rows per feature-map cell: YuNet is anchor-free, SCRFD has two anchors per cell."""


class InputContract(BaseModel):
    """How to feed a model and what it answers; stored in its manifest."""

    family: Family
    size: int | None = Field(None, ge=16, le=4096)
    """Side of the square input in pixels; None: any multiple of 32 (a detector whose
    input is dynamic)."""
    colour: Literal["RGB", "BGR"] = "RGB"
    mean: float = 0.0
    std: float = Field(1.0, gt=0)
    alignment: Literal["arcface-112-5pt", "none"] = "none"
    """``arcface-112-5pt``: the face is warped onto ``ARCFACE_TEMPLATE`` (similarity)."""
    embedding_size: int | None = Field(None, ge=2, le=8192)
    """A recogniser's descriptor length (measured by the probe when not given)."""

    @property
    def kind(self) -> Kind:
        return KIND_OF[self.family]

    @model_validator(mode="after")
    def _consistent(self) -> InputContract:
        if self.kind == "detector":
            if self.embedding_size is not None:
                raise ValueError("a detector has no embedding size")
            if self.size is not None and self.size % 32:
                raise ValueError("a detector's input side must be a multiple of 32")
            if self.alignment != "none":
                raise ValueError("a detector takes whole images (alignment none)")
        elif self.size is None:
            raise ValueError("a recogniser needs its input size")
        return self


def default_contract(family: Family) -> InputContract:
    """The usual contract of a family, for ``import`` options left out."""
    if family == "arcface":
        return InputContract(
            family=family,
            size=112,
            colour="RGB",
            mean=127.5,
            std=127.5,
            alignment="arcface-112-5pt",
        )
    if family == "yunet":
        return InputContract(family=family, colour="BGR", mean=0.0, std=1.0)
    return InputContract(family=family, colour="RGB", mean=127.5, std=128.0)
