"""Thresholds: empirical (from measured non-mated scores), calibrated at a target FMR (1:1, the
model's manifest table) and at a target FPIR (1:N, from the gallery size)."""
from __future__ import annotations

import math

import numpy as np

from .. import models
from ..errors import ModelError, UsageError
from ..modelid import ModelId

DEFAULT_FPIR = 0.001


def threshold_at_fmr(nonmated_scores: np.ndarray, fmr: float, *, exclude_top: int = 0) -> float:
    """Smallest threshold whose false-match rate on these non-mated scores is at most `fmr` (a
    comparison matches when score >= threshold), leaving out the `exclude_top` highest scores
    (outliers a tail fit dropped): just above the (allowed+1)-th highest score kept, in the scores'
    own float precision (no copy of a large float32 array)."""
    s = np.asarray(nonmated_scores)
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float64)
    n = len(s) - exclude_top
    allowed = int(np.floor(fmr * n))        # how many non-mated scores may reach the threshold
    if allowed >= n:
        return float(s.min())
    idx = n - 1 - allowed                   # a partial sort is enough
    return float(np.nextafter(np.partition(s, idx)[idx], np.inf))


def calibration(model: ModelId | str) -> dict:
    """The model's FMR -> threshold table from the manifest (or its model card)."""
    mid = ModelId.parse(model)
    spec = models.cards.spec_of(mid.name)      # the manifest entry, or a calibrated card
    table = (spec.thresholds.get(mid.variant) or {}).get("table") if spec else None
    if not table:
        raise ModelError(f"model {str(mid)!r} has no FMR calibration; pass a raw threshold instead of an FPIR")
    return table


def threshold_for_fmr(model: ModelId | str, fmr: float) -> float:
    """Threshold at a target FMR, interpolated in log-FMR from the manifest's table (bench/calibrate.py:
    measured, with a generalized Pareto tail fit below). Below the table's smallest FMR the last
    segment is continued in log-FMR (cosine tails bend below that line, so it errs strict); above
    its largest FMR the table's end value holds."""
    table = calibration(model)
    fmrs = np.log10(np.asarray(table["fmr"], float))
    thrs = np.asarray(table["threshold"], float)
    order = np.argsort(fmrs)
    fmrs, thrs = fmrs[order], thrs[order]
    x = np.log10(max(fmr, 1e-300))
    if x < fmrs[0] and len(fmrs) > 1:
        slope = (thrs[1] - thrs[0]) / (fmrs[1] - fmrs[0])
        return float(thrs[0] + slope * (x - fmrs[0]))
    return float(np.interp(x, fmrs, thrs))


def check_fpir(fpir: float) -> float:
    fpir = float(fpir)
    if not (0.0 < fpir < 1.0) or math.isnan(fpir):
        raise UsageError(f"FPIR must be a rate between 0 and 1 (exclusive), e.g. 0.001; got {fpir!r}")
    return fpir


def fmr_for_fpir(fpir: float, comparisons: int) -> float:
    """Per-comparison FMR that gives this FPIR over `comparisons` independent non-mated
    comparisons: FPIR = 1 - (1 - FMR)^N."""
    return -math.expm1(math.log1p(-check_fpir(fpir)) / max(1, int(comparisons)))


def threshold_for_fpir(model: ModelId | str, fpir: float, gallery_size: int) -> float:
    """Open-set threshold: a stranger searched against `gallery_size` subjects is named with
    probability `fpir`."""
    return threshold_for_fmr(model, fmr_for_fpir(fpir, gallery_size))
