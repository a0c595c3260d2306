"""Thresholds: FPIR -> per-comparison FMR -> the manifest's calibrated table, and the tail fit."""
import math

import numpy as np
import pytest

from faceprint import match
from faceprint.errors import UsageError
from faceprint.evaluate import calibration


def test_fmr_for_fpir_inverts_the_independence_model():
    for fpir, n in ((0.001, 1), (0.001, 2000), (0.01, 1_000_000)):
        fmr = match.fmr_for_fpir(fpir, n)
        assert -math.expm1(n * math.log1p(-fmr)) == pytest.approx(fpir, rel=1e-9)
    assert match.fmr_for_fpir(0.001, 1_000_000) == pytest.approx(1e-9, rel=1e-3)
    for bad in (0, 1, -0.1, 2, math.nan):
        with pytest.raises(UsageError):
            match.fmr_for_fpir(bad, 10)


def test_fpir_threshold_rises_with_gallery_size_and_strictness():
    t = [match.threshold_for_fpir("sface", 0.001, n) for n in (1, 1_000, 100_000, 10_000_000)]
    assert t == sorted(t) and t[0] < t[-1]
    assert match.threshold_for_fpir("sface", 0.01, 1000) < match.threshold_for_fpir("sface", 0.001, 1000)
    # One subject at FPIR 1e-3 is exactly the 1:1 operating point.
    assert match.threshold_for_fpir("sface", 0.001, 1) == pytest.approx(match.threshold_for_fmr("sface", 1e-3), abs=1e-4)


def test_manifest_table_is_one_consistent_calibration():
    table = match.calibration("sface")
    fmr, thr = np.array(table["fmr"]), np.array(table["threshold"])
    assert fmr.min() <= 1e-10 and fmr.max() >= 1e-1
    assert np.all(np.diff(thr[np.argsort(-fmr)]) > 0)           # stricter FMR, higher threshold
    from faceprint import models
    assert models.get("sface").thresholds["plain"]["value"] == pytest.approx(match.threshold_for_fmr("sface", 1e-3))
    for f, ci, t in zip(table["fmr"], table["ci95"], table["threshold"]):
        if ci is not None:                                      # extrapolated rows carry their interval
            assert ci[0] <= t <= ci[1], f


def test_tail_fit_recovers_a_known_tail():
    """Non-mated scores drawn from a known distribution: the GPD fit's threshold at 1e-7, far below
    what 2 million scores measure, lands on the true quantile within its interval."""
    rng = np.random.default_rng(0)
    ids = np.arange(2000)
    vecs = rng.normal(size=(2000, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    nm = calibration.nonmated_scores(vecs, ids)
    assert len(nm.scores) == 2000 * 1999 // 2
    table = calibration.calibrate(nm, bootstrap=40)
    i = table["fmr"].index(1e-7)
    # Cosine of random unit vectors in 16-d: exact tail from the Beta distribution of (1+c)/2.
    from scipy.stats import beta
    true = 2 * beta.isf(1e-7, 7.5, 7.5) - 1
    lo, hi = table["ci95"][i]
    assert lo - 0.02 <= true <= hi + 0.02
    assert abs(table["threshold"][i] - true) < 0.05


def test_label_noise_merge_and_subject_scores():
    ids = calibration.merge_identities(np.array(["a", "b", "c", "d"]), [("a", "b"), ("c", "b")])
    assert len(set(ids[:3])) == 1 and ids[3] == "d"
    assert match.subject_scores([0.2, 0.9, 0.5], "max") == 0.9
    assert match.subject_scores([0.2, 0.9, 0.5], "mean2") == pytest.approx(0.7)
    assert match.subject_scores([0.4], "mean2") == 0.4


def test_thresholds_keep_rising_past_the_end_of_a_table():
    """dlib's table ends at FMR 1e-7 (~10,000 subjects at FPIR 0.001): larger galleries must get
    stricter thresholds, not the table's last value (which would let the FPIR grow with the gallery)."""
    from faceprint.match import threshold_for_fpir
    sizes = (10_000, 100_000, 1_000_000)
    for model in ("dlib:flip", "sface+dlib"):
        t = [threshold_for_fpir(model, 0.001, n) for n in sizes]
        assert t[0] < t[1] < t[2], (model, t)
    # The default model's tail fit reaches 1e-10: no extrapolation there, and still rising.
    t = [threshold_for_fpir("sface", 0.001, n) for n in sizes]
    assert t[0] < t[1] < t[2] < 1.0
