"""Comparison and thresholds: cosine similarity between normalised templates, thresholds at a target FMR."""
from __future__ import annotations

import numpy as np

from .errors import ModelMismatchError
from .types import Template


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of a with every row of b ((N, D) x (M, D) -> (N, M))."""
    return np.atleast_2d(a).astype(np.float32) @ np.atleast_2d(b).astype(np.float32).T


def compare(a: Template, b: Template) -> float:
    if a.model != b.model:
        raise ModelMismatchError(
            f"templates come from different models ({a.model!r} and {b.model!r}); "
            "re-create both with the same embedder")
    return float(np.dot(a.vector, b.vector))


def threshold_at_fmr(nonmated_scores: np.ndarray, fmr: float) -> float:
    """Smallest threshold whose false-match rate on these non-mated scores is at most `fmr`
    (a comparison matches when score >= threshold)."""
    s = np.sort(np.asarray(nonmated_scores, np.float64))[::-1]
    allowed = int(np.floor(fmr * len(s)))   # how many non-mated scores may reach the threshold
    if allowed >= len(s):
        return float(s[-1])
    # Just above the (allowed+1)-th highest non-mated score.
    return float(np.nextafter(s[allowed], np.inf))
