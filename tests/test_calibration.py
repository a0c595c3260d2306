"""Calibration across sets: pooling with equal weight, the strictest table, observed FMR."""
import numpy as np

from faceprint.evaluate.calibration import NonMated, calibrate, observed_fmr, pool, strictest


def _nonmated(scores):
    s = np.asarray(scores, np.float32)
    top = np.argsort(-s)[:50]
    return NonMated(s, np.c_[top, top], s[top])


def test_pool_gives_each_set_equal_weight():
    rng = np.random.default_rng(0)
    big, small = _nonmated(rng.normal(0.0, 0.1, 200_000)), _nonmated(rng.normal(0.2, 0.1, 50_000))
    pooled = pool([big, small])
    assert len(pooled.scores) == 100_000
    assert abs(float(np.mean(pooled.scores)) - 0.1) < 0.005      # halfway: neither set dominates
    assert pooled.top_scores[0] == max(big.top_scores[0], small.top_scores[0])


def test_strictest_takes_the_higher_threshold_and_holds_fmr_on_each_set():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.0, 0.1, 300_000), rng.normal(0.05, 0.08, 300_000)
    tables = {"A": calibrate(_nonmated(a), bootstrap=5), "B": calibrate(_nonmated(b), bootstrap=5)}
    t = strictest(tables)
    i = t["fmr"].index(1e-3)
    assert t["threshold"][i] == max(tables["A"]["threshold"][i], tables["B"]["threshold"][i])
    assert set(t["decided_by"]) <= {"A", "B"} and set(t["tail"]) == {"A", "B"}
    for s in (a, b):
        assert observed_fmr(s, t["threshold"][i])["fmr"] <= 1.05e-3


def test_observed_fmr_counts_and_interval():
    r = observed_fmr(np.r_[np.zeros(9_990), np.ones(10)], 0.5)
    assert r["false_matches"] == 10 and r["pairs"] == 10_000 and r["fmr"] == 1e-3
    assert r["ci95"][0] < 1e-3 < r["ci95"][1]
