"""Verification metrics: k-fold accuracy, TAR/FNMR at a fixed FAR/FMR, EER, DET points."""
from __future__ import annotations

import numpy as np

from ..scoring import threshold_at_fmr


def best_accuracy_threshold(scores: np.ndarray, mated: np.ndarray) -> float:
    """The threshold (midway between adjacent scores) that maximises accuracy on this set."""
    order = np.argsort(scores)
    s, m = scores[order], mated[order].astype(np.int64)
    # Threshold placed just above s[i]: pairs 0..i rejected, i+1.. accepted.
    correct_rejects = np.cumsum(1 - m)                    # non-mated at or below
    correct_accepts = m.sum() - np.cumsum(m)              # mated above
    acc = correct_rejects + correct_accepts
    cands = np.r_[m.sum(), acc]                           # index 0: threshold below everything
    i = int(np.argmax(cands))
    if i == 0:
        return float(s[0] - 1e-6)
    if i == len(s):
        return float(s[-1] + 1e-6)
    return float((s[i - 1] + s[i]) / 2)


def kfold_accuracy(scores: np.ndarray, mated: np.ndarray, folds: np.ndarray) -> dict:
    """Accuracy per fold with the threshold chosen on the other folds (the LFW protocol)."""
    scores, mated, folds = np.asarray(scores, float), np.asarray(mated, bool), np.asarray(folds)
    accs, thrs = [], []
    for f in np.unique(folds):
        train, test = folds != f, folds == f
        thr = best_accuracy_threshold(scores[train], mated[train])
        accs.append(float(np.mean((scores[test] >= thr) == mated[test])))
        thrs.append(thr)
    return {"accuracy_mean": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
            "fold_accuracies": accs, "fold_thresholds": thrs}


def rates_at_threshold(scores: np.ndarray, mated: np.ndarray, thr: float) -> tuple[float, float]:
    """(FMR, FNMR) at a threshold."""
    scores, mated = np.asarray(scores, float), np.asarray(mated, bool)
    fmr = float(np.mean(scores[~mated] >= thr)) if (~mated).any() else float("nan")
    fnmr = float(np.mean(scores[mated] < thr)) if mated.any() else float("nan")
    return fmr, fnmr


def fnmr_at_fmr(scores: np.ndarray, mated: np.ndarray, fmr: float) -> dict:
    scores, mated = np.asarray(scores, float), np.asarray(mated, bool)
    thr = threshold_at_fmr(scores[~mated], fmr)
    real_fmr, fnmr = rates_at_threshold(scores, mated, thr)
    return {"threshold": thr, "fnmr": fnmr, "fmr": real_fmr, "tar": 1.0 - fnmr}


def det_curve(scores: np.ndarray, mated: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, FMR, FNMR) at every distinct score, thresholds ascending."""
    scores, mated = np.asarray(scores, float), np.asarray(mated, bool)
    thr = np.unique(scores)
    non = np.sort(scores[~mated])
    mat = np.sort(scores[mated])
    fmr = 1.0 - np.searchsorted(non, thr, side="left") / max(len(non), 1)
    fnmr = np.searchsorted(mat, thr, side="left") / max(len(mat), 1)
    return thr, fmr, fnmr


def eer(scores: np.ndarray, mated: np.ndarray) -> float:
    """Equal error rate: where FMR and FNMR cross (mean of the two at the closest threshold)."""
    _, fmr, fnmr = det_curve(scores, mated)
    i = int(np.argmin(np.abs(fmr - fnmr)))
    return float((fmr[i] + fnmr[i]) / 2)


def cmc(mate_ranks: np.ndarray, max_rank: int = 20) -> list[float]:
    """Cumulative match characteristic: fraction of mated searches whose mate is at rank <= r,
    r = 1..max_rank (rank 0 / negative = mate not returned)."""
    ranks = np.asarray(mate_ranks)
    found = ranks > 0
    return [float(np.mean(found & (ranks <= r))) if len(ranks) else float("nan") for r in range(1, max_rank + 1)]


def fnir_at_fpir(mated_rank1_scores: np.ndarray, nonmated_top_scores: np.ndarray, fpir: float) -> dict:
    """FRVT open-set metric. mated_rank1_scores: per mated search, the mate's score if it came back
    at rank 1, else -inf. The threshold is set so that a fraction `fpir` of non-mated searches
    return a candidate at or above it; FNIR is the fraction of mated searches that then miss."""
    non = np.asarray(nonmated_top_scores, float)
    thr = threshold_at_fmr(non, fpir)
    mated = np.asarray(mated_rank1_scores, float)
    return {"threshold": thr, "fnir": float(np.mean(mated < thr)), "fpir": float(np.mean(non >= thr)),
            "nonmated_searches": int(len(non))}


FMR_GRID = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)   # report columns; calibration.FMR_GRID is finer


def fnmr_at_fmrs(scores: np.ndarray, mated: np.ndarray, grid=FMR_GRID) -> dict[str, float]:
    """FNMR at each FMR that the non-mated count can support (at least 1/FMR comparisons)."""
    n_non = int(np.sum(~np.asarray(mated, bool)))
    return {f"{f:g}": fnmr_at_fmr(scores, mated, f)["fnmr"] for f in grid if n_non * f >= 1}


def bootstrap_ci(fn, n: int, *, reps: int = 500, seed: int = 0, groups: np.ndarray | None = None) -> list[float]:
    """95% percentile bootstrap interval of fn(indices) over n items (resampled with replacement;
    with `groups`, mated and non-mated items are resampled separately so both stay represented)."""
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(reps):
        if groups is None:
            idx = rng.integers(0, n, n)
        else:
            idx = np.concatenate([rng.choice(np.flatnonzero(groups == g), np.sum(groups == g)) for g in np.unique(groups)])
        vals.append(fn(idx))
    lo, hi = np.nanpercentile(vals, [2.5, 97.5])
    return [float(lo), float(hi)]


def fnmr_by_bins(scores: np.ndarray, values: np.ndarray, threshold: float, edges: list[float]) -> list[dict]:
    """FNMR of mated comparisons binned by a quality value (e.g. the smaller eye distance of the pair)."""
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (values >= lo) & (values < hi)
        out.append({"bin": [round(float(lo), 2), round(float(hi), 2)], "mated_pairs": int(sel.sum()),
                    "fnmr": float(np.mean(scores[sel] < threshold)) if sel.any() else None})
    return out
