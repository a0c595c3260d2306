"""Peaks over threshold: a generalized Pareto fit of the non-mated scores above a tail level, which
gives thresholds at FMRs below what the pair count can measure. One fit for the shipped tables and
`faceprint calibrate` (evaluate/calibration.py) and a gallery's own tail (scoring/population.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TailFit:
    u: float                      # tail level
    rate: float                   # fraction of non-mated scores above u
    shape: float                  # GPD xi
    scale: float                  # GPD sigma
    n: int                        # non-mated pairs the fit rests on (after cleaning)
    exceedances: int
    dropped: list[int] = field(default_factory=list)   # indices of top pairs left out as label noise

    def fmr(self, t: np.ndarray | float) -> np.ndarray:
        """Fitted FMR at thresholds t >= u."""
        from scipy.stats import genpareto
        return self.rate * genpareto.sf(np.asarray(t, float) - self.u, self.shape, scale=self.scale)

    def threshold(self, fmr: float) -> float:
        from scipy.stats import genpareto
        return float(self.u + genpareto.isf(fmr / self.rate, self.shape, scale=self.scale))


def fit_gpd(excess: np.ndarray) -> tuple[float, float]:
    """(shape, scale) of the generalized Pareto distribution of these exceedances (location 0)."""
    from scipy.stats import genpareto
    shape, _, scale = genpareto.fit(excess, floc=0.0)
    return float(shape), float(scale)


def top_sorted(scores: np.ndarray, k: int) -> np.ndarray:
    """The k highest scores, descending."""
    k = min(k, len(scores))
    return np.sort(np.partition(scores, len(scores) - k)[len(scores) - k:])[::-1]


def fit_top(top: np.ndarray, *, n: int, k: int, dropped: int = 0) -> tuple[TailFit, np.ndarray]:
    """The fit whose tail level is top[-1], the lowest of `top` (the k + 1 highest of n scores,
    descending, after `dropped` higher ones left out); returns it and the exceedances it rests on."""
    u = float(top[-1])
    excess = top[:-1] - u
    shape, scale = fit_gpd(excess)
    return TailFit(u, k / n, shape, scale, n, k, list(range(dropped))), excess
