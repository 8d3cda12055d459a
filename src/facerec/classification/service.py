"""Turning class probabilities into the answer: the ``top_k`` most probable labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facerec.classification.models import MAX_TOP_K, ClassifyResult, LabelScore
from facerec.errors import ValidationFailed
from facerec.inference.classifying import Classified


def checked_top_k(value: int) -> int:
    if not 1 <= value <= MAX_TOP_K:
        raise ValidationFailed(f"top_k must be between 1 and {MAX_TOP_K}", field="top_k")
    return value


def top_labels(*, classified: Classified, labels: Sequence[str], top_k: int) -> ClassifyResult:
    """The ``top_k`` classes by probability, highest first (ties: lower index first)."""
    probabilities = np.asarray(classified.probabilities, dtype=np.float64)
    order = np.lexsort((np.arange(len(probabilities)), -probabilities))[: checked_top_k(top_k)]
    scores = [
        LabelScore(index=int(i), label=labels[int(i)], probability=float(probabilities[i]))
        for i in order
    ]
    return ClassifyResult(model=classified.model, labels=scores)
