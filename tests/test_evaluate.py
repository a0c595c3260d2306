import numpy as np
import pytest

from faceprint.evaluate import metrics
from faceprint.evaluate.experiment import Dataset, run
from faceprint.evaluate.protocols import lfw_pairs
from faceprint.scoring import threshold_at_fmr


def test_threshold_at_fmr_hand_computed():
    non = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    t = threshold_at_fmr(non, 0.1)          # one of ten non-mated may match: the 0.95 one
    assert 0.9 < t <= 0.95
    assert np.mean(non >= t) == pytest.approx(0.1)
    t0 = threshold_at_fmr(non, 0.01)        # none may match
    assert 0.95 < t0 < 0.9500001


def test_best_accuracy_threshold_and_kfold():
    scores = np.array([0.1, 0.2, 0.35, 0.6, 0.7, 0.9])
    mated = np.array([0, 0, 1, 0, 1, 1], bool)
    thr = metrics.best_accuracy_threshold(scores, mated)
    assert np.mean((scores >= thr) == mated) == pytest.approx(5 / 6)
    # Two folds of a perfectly separable set: 100% each.
    s = np.array([0.1, 0.9, 0.2, 0.8])
    m = np.array([0, 1, 0, 1], bool)
    r = metrics.kfold_accuracy(s, m, np.array([0, 0, 1, 1]))
    assert r["accuracy_mean"] == 1.0 and r["accuracy_std"] == 0.0


def test_eer_and_rates_hand_computed():
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    mated = np.array([0, 0, 1, 1], bool)
    fmr, fnmr = metrics.rates_at_threshold(scores, mated, 0.37)
    assert (fmr, fnmr) == (0.5, 0.5)
    assert metrics.eer(scores, mated) == pytest.approx(0.5)
    assert metrics.eer(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1], bool)) == 0.0


def test_lfw_protocol_counts(lfw):
    pairs = lfw_pairs(lfw)
    assert len(pairs) == 6000 and sum(p.mated for p in pairs) == 3000
    assert all(p.a.is_file() for p in pairs[:50])


def test_one_lfw_fold_through_the_single_evaluation_path(engine, lfw):
    """Fold 0 of 10 (600 pairs), as `faceprint evaluate lfw --folds 0` runs it: the 1:1 threshold
    reported is the manifest's calibrated one, the same number verify uses."""
    pairs = lfw_pairs(lfw, [0])
    ds = Dataset(name="LFW fold 0", protocol="test", pairs=pairs, counts={"pairs": len(pairs)})
    rep, _ = run(ds, [engine.model_id], progress=False, identification=False)
    r = rep["models"][engine.model_id]
    assert r["mated_pairs"] == 300 and r["nonmated_pairs"] == 300 and r["failures_to_detect"] == 0
    assert r["threshold_at_far_1e-3"] == pytest.approx(engine.threshold, abs=1e-4)
    assert r["threshold_source"].startswith("model manifest")
    assert r["tar_at_far_1e-3"] >= 0.97 and r["eer"] < 0.02
    assert set(r["fnmr_at_fmr"]) >= {"0.001", "1e-05"}      # calibrated below what 300 pairs measure
