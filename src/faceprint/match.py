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
    s = np.asarray(nonmated_scores, np.float64)
    n = len(s)
    allowed = int(np.floor(fmr * n))        # how many non-mated scores may reach the threshold
    if allowed >= n:
        return float(s.min())
    # Just above the (allowed+1)-th highest non-mated score (a partial sort is enough).
    return float(np.nextafter(np.partition(s, n - 1 - allowed)[n - 1 - allowed], np.inf))


def calibration(model_id: str) -> dict:
    """The model's FMR -> threshold table from the manifest (model ids look like "sface" or "sface:flip")."""
    from . import models
    from .errors import ModelError

    name, _, variant = model_id.partition(":")
    spec = models.get(name) if name in models.manifest() else None
    table = (spec.thresholds.get(variant or "plain") or {}).get("table") if spec else None
    if not table:
        raise ModelError(f"model {model_id!r} has no FMR calibration; pass a raw threshold instead of an FPIR")
    return table


def threshold_for_fmr(model_id: str, fmr: float) -> float:
    """Threshold at a target FMR, interpolated in log-FMR from the calibration table; FMRs beyond
    the table's measured range take its end values (the table says how many pairs it rests on)."""
    table = calibration(model_id)
    fmrs = np.log10(np.asarray(table["fmr"], float))
    thrs = np.asarray(table["threshold"], float)
    order = np.argsort(fmrs)
    return float(np.interp(np.log10(max(fmr, 1e-300)), fmrs[order], thrs[order]))
