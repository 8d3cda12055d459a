"""Public shapes of a classification."""

from __future__ import annotations

from pydantic import BaseModel, Field

DEFAULT_TOP_K = 5
MAX_TOP_K = 20


class LabelScore(BaseModel):
    index: int = Field(description="The class index (ImageNet-1k: 0 to 999)")
    label: str
    probability: float


class ClassifyResult(BaseModel):
    model: str
    labels: list[LabelScore] = Field(description="Most probable first")
