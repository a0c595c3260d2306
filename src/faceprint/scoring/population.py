"""Calibration that follows the population: the scores between templates of different subjects of
one gallery are non-mated pairs of *its* population (FMR differs between populations, FRVT Part 3),
so the false-match rate they show at a threshold checks the shipped table on the people enrolled.
Pure numpy over vectors + subject labels; Gallery.population_calibration() feeds it."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import models
from ..errors import ModelError
from ..modelid import ModelId
from .tail import fit_top, top_sorted
from .thresholds import fmr_for_fpir, threshold_at_fmr, threshold_for_fmr

MAX_PAIRS = 2_000_000       # at most this many pairs scored: larger galleries are sampled
DUPLICATE_AT = 0.9          # two subjects with a pair above this cosine are taken as one person enrolled twice
MIN_SUBJECTS = 10           # fewer distinct subjects: no FMR is reported
MIN_TAIL_PAIRS = 50_000     # fewer non-mated pairs: too few to fit the gallery's own tail (the table is used)
TAIL_RATE = 1e-4            # the tail level: the score this fraction of pairs exceed (as bench/calibrate.py)
MIN_EXCEEDANCES = 50        # ... but at least this many pairs above it, for the fit


@dataclass(frozen=True)
class ObservedFmr:
    """The false-match rate a threshold shows on a population's non-mated pairs."""
    threshold: float | None
    fmr_target: float | None          # the FMR per comparison the threshold was set for
    fmr_observed: float | None        # None: too few subjects (or no threshold)
    pairs: int                        # non-mated pairs the observation rests on
    false_matches: int | None


@dataclass(frozen=True)
class PopulationCalibration:
    subjects: int                     # distinct subjects among the templates scored
    templates: int                    # templates scored
    sampled: bool                     # True: a uniform sample of the gallery's templates
    duplicate_subject_pairs: int      # subject pairs left out as the same person enrolled twice
    checks: dict[str, ObservedFmr]    # e.g. {"one_to_one": ..., "open_set": ...}

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(out.pop("checks"))
        return out


def sample_size(pairs: int = MAX_PAIRS) -> int:
    """The most templates whose pairs (m (m - 1) / 2) stay within `pairs`."""
    return int((1 + np.sqrt(1 + 8 * pairs)) // 2)


def nonmated_among(vectors: np.ndarray, subjects: np.ndarray, *,
                   duplicate_at: float = DUPLICATE_AT) -> tuple[np.ndarray, int]:
    """Scores of every pair of templates of different subjects (upper triangle), leaving out every
    pair of two subjects that have any pair scoring >= duplicate_at; and how many subject pairs
    were left out."""
    v = np.ascontiguousarray(vectors, np.float32)
    _, codes = np.unique(np.asarray(subjects), return_inverse=True)
    rows, cols = np.triu_indices(len(v), 1)
    a, b = codes[rows], codes[cols]
    cross = a != b
    scores = (v @ v.T)[rows[cross], cols[cross]]
    lo, hi = np.minimum(a[cross], b[cross]).astype(np.int64), np.maximum(a[cross], b[cross]).astype(np.int64)
    keys = lo * (int(codes.max(initial=0)) + 1) + hi
    duplicates = np.unique(keys[scores >= duplicate_at])
    if len(duplicates):
        scores = scores[~np.isin(keys, duplicates)]
    return scores, len(duplicates)


def observe(scores: np.ndarray, threshold: float | None, fmr_target: float | None, *,
            enough: bool = True) -> ObservedFmr:
    """FMR at `threshold` over non-mated `scores` (a pair matches when score >= threshold)."""
    n = len(scores)
    if threshold is None or not enough or n == 0:
        return ObservedFmr(threshold, fmr_target, None, n, None)
    k = int(np.count_nonzero(scores >= threshold))
    return ObservedFmr(float(threshold), fmr_target, k / n, n, k)


def population_calibration(vectors: np.ndarray, subjects: np.ndarray,
                           thresholds: dict[str, tuple[float | None, float | None]], *,
                           sampled: bool = False, duplicate_at: float = DUPLICATE_AT,
                           min_subjects: int = MIN_SUBJECTS) -> PopulationCalibration:
    """Observed FMR at each named (threshold, fmr_target) over the non-mated pairs of these
    templates (all pairs: sample the templates first, sample_size(), to bound the time)."""
    subjects = np.asarray(subjects)
    n_subjects = len(np.unique(subjects)) if len(subjects) else 0
    scores, duplicates = nonmated_among(vectors, subjects, duplicate_at=duplicate_at) if len(subjects) else (np.zeros(0), 0)
    enough = n_subjects >= min_subjects
    checks = {name: observe(scores, t, f, enough=enough) for name, (t, f) in thresholds.items()}
    return PopulationCalibration(n_subjects, len(subjects), sampled, duplicates, checks)


def one_to_one(model: ModelId | str | None) -> tuple[float | None, float | None]:
    """The model's shipped 1:1 threshold and the FMR it was set for ((None, None): none shipped)."""
    if not model:
        return None, None
    mid = ModelId.parse(model)
    spec = models.cards.spec_of(mid.name)          # the manifest entry, or a calibrated card
    entry = (spec.thresholds.get(mid.variant) or {}) if spec else {}
    if "value" not in entry:
        return None, None
    return float(entry["value"]), (float(entry["fmr"]) if "fmr" in entry else None)


def tail_threshold(scores: np.ndarray, fmr: float) -> float:
    """Threshold at `fmr` over non-mated `scores`: measured where the count resolves it, else from a
    generalized Pareto fit of the exceedances over the tail level (peaks over threshold, the model
    the shipped tables use; evaluate/calibration.py)."""
    s = np.asarray(scores, np.float64)
    k = min(len(s) - 1, max(int(TAIL_RATE * len(s)), MIN_EXCEEDANCES))
    if fmr * len(s) >= k:
        return threshold_at_fmr(s, fmr)
    return fit_top(top_sorted(s, k + 1), n=len(s), k=k)[0].threshold(fmr)


@dataclass(frozen=True)
class OpenSetThreshold:
    """The open-set threshold from a gallery's own non-mated tail (`--fpir-from gallery`), never
    below the model table's: a population with a lighter tail keeps the table's threshold."""
    threshold: float                  # the one in force
    source: str                       # "gallery" (its own tail was stricter) or "table"
    reason: str
    fpir: float
    fmr: float                        # the FMR per comparison the FPIR asks for at this size
    table_threshold: float | None
    gallery_threshold: float | None   # None: too few pairs to fit
    pairs: int

    def as_dict(self) -> dict:
        return asdict(self)


def open_set_threshold(scores: np.ndarray, model: ModelId | str, fpir: float, size: int, *,
                       min_pairs: int = MIN_TAIL_PAIRS) -> OpenSetThreshold:
    """The threshold at `fpir` over `size` subjects from these non-mated scores (a gallery's own,
    nonmated_among), floored at the model's table threshold; the table alone below `min_pairs`."""
    fmr = fmr_for_fpir(fpir, size)
    try:
        table: float | None = threshold_for_fmr(model, fmr)
    except ModelError:
        table = None
    n = len(scores)
    if n < min_pairs:
        if table is None:
            raise ModelError(f"model {str(model)!r} has no FMR table and the gallery has {n:,} non-mated pairs, "
                             f"fewer than the {min_pairs:,} its own tail needs; pass a raw threshold")
        return OpenSetThreshold(table, "table", f"{n:,} non-mated pairs among the gallery's subjects, fewer than "
                                f"the {min_pairs:,} a tail fit needs", fpir, fmr, table, None, n)
    own = tail_threshold(scores, fmr)
    if table is not None and table >= own:
        return OpenSetThreshold(table, "table", "the gallery's own tail is lighter: the table's threshold is the "
                                "floor", fpir, fmr, table, own, n)
    return OpenSetThreshold(own, "gallery", "the gallery's own tail is heavier than the table's", fpir, fmr,
                            table, own, n)
