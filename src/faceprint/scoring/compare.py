"""Comparison: the cosine score of two normalised templates of one model, equalised where the
probe is an unmasked template (scoring.masks)."""
from __future__ import annotations

import numpy as np

from ..errors import ModelMismatchError
from ..types import Template
from .masks import equalise


def compare(a: Template, b: Template) -> float:
    if a.model != b.model:
        raise ModelMismatchError(
            f"templates come from different models ({a.model!r} and {b.model!r}); "
            "re-create both with the same embedder")
    probe, other = (a, b) if a.unmasked else (b, a)
    return probe_score(probe, other.vector)


def probe_score(probe: Template, vector: np.ndarray) -> float:
    """A probe template's score against a stored (clean) template vector, equalised like compare."""
    score = float(np.dot(probe.vector, vector))
    return float(equalise(score, probe.model)) if probe.unmasked else score
