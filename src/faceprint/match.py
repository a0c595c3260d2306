"""Comparison and thresholds: cosine scores between normalised templates, thresholds at a target
FMR (1:1) or FPIR (1:N, from the gallery size), and how a subject's templates make one score."""
from __future__ import annotations

import math

import numpy as np

from .errors import FaceprintError, ModelError, ModelMismatchError, UsageError
from .types import Template

DEFAULT_FPIR = 0.001
AGGREGATIONS = ("max", "mean2", "centroid")


def compare(a: Template, b: Template) -> float:
    if a.model != b.model:
        raise ModelMismatchError(
            f"templates come from different models ({a.model!r} and {b.model!r}); "
            "re-create both with the same embedder")
    probe, other = (a, b) if is_unmasked(a) else (b, a)
    return probe_score(probe, other.vector)


def probe_score(probe: Template, vector: np.ndarray) -> float:
    """A probe template's score against a stored (clean) template vector, equalised like compare."""
    score = float(np.dot(probe.vector, vector))
    return equalised(score, probe.model) if is_unmasked(probe) else score


def is_unmasked(t: Template) -> bool:
    """Whether the template is a masked face's, mapped by occlusion.unmask (its scores are equalised)."""
    return bool(t.quality_detail.get("unmasked"))


def equalised(score: float, model_id: str) -> float:
    from .occlusion import equalise

    return float(equalise(score, model_id))


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

    name, _, variant = model_id.partition(":")
    spec = models.get(name) if name in models.manifest() else None
    table = (spec.thresholds.get(variant or "plain") or {}).get("table") if spec else None
    if not table:
        raise ModelError(f"model {model_id!r} has no FMR calibration; pass a raw threshold instead of an FPIR")
    return table


def threshold_for_fmr(model_id: str, fmr: float) -> float:
    """Threshold at a target FMR, interpolated in log-FMR from the manifest's table (measured on
    LFW down to ~1e-6, extrapolated by a generalized Pareto tail fit below; bench/calibrate.py).
    Below the table's smallest FMR (tables without a tail fit end at 1e-7: a gallery of ~10,000 at
    FPIR 0.001) the last segment is continued in log-FMR rather than held flat: cosine scores are
    bounded, so their tail bends below that line, and the continued threshold errs strict. Above
    its largest FMR the table's end value holds."""
    table = calibration(model_id)
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


def threshold_for_fpir(model_id: str, fpir: float, gallery_size: int) -> float:
    """Open-set threshold: a stranger searched against `gallery_size` subjects is named with
    probability `fpir`."""
    return threshold_for_fmr(model_id, fmr_for_fpir(fpir, gallery_size))


def subject_scores(scores: np.ndarray, method: str = "max") -> float:
    """One subject's score from its templates' scores against a probe: the best one ("max") or the
    mean of the best two ("mean2"; a single template counts alone). "centroid" scores the subject's
    mean template instead and is computed where the vectors are (see Gallery)."""
    s = np.sort(np.asarray(scores, float))[::-1]
    if method == "max" or len(s) == 1:
        return float(s[0])
    if method == "mean2":
        return float(s[:2].mean())
    raise FaceprintError(f"subject score method must be one of {AGGREGATIONS}, not {method!r}")
