"""CompreFace's `similarity` (in [0, 1], rising with the cosine score) calibrated so that clients'
usual cut-offs are safe: similarity 0.60 sits at the cosine threshold whose false-positive
identification rate is 1% in a 10,000-subject gallery (a stranger reaches 0.60 in at most 1% of
searches), and 0.40 at the model's 1:1 threshold for FMR 1e-3. In between and beyond, the map is
linear in cosine, so the order of candidates is the order of their scores."""
from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..scoring import threshold_for_fmr, threshold_for_fpir

ANCHOR_FPIR, ANCHOR_N = 0.01, 10_000
LOW_FMR = 1e-3


class SimilarityMap:
    def __init__(self, model: str):
        try:
            t40 = threshold_for_fmr(model, LOW_FMR)
            t60 = threshold_for_fpir(model, ANCHOR_FPIR, ANCHOR_N)
        except ModelError:      # an uncalibrated (bring-your-own) model: cosine clipped to [0, 1]
            t40, t60 = 0.4, 0.6
        self.cos = np.array([-1.0, t40, t60, 1.0])
        self.sim = np.array([0.0, 0.40, 0.60, 1.0])

    def __call__(self, cosine) -> np.ndarray | float:
        out = np.interp(cosine, self.cos, self.sim)
        return float(out) if np.ndim(out) == 0 else out
