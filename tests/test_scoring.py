"""Scoring without photos: thresholds (FPIR -> per-comparison FMR -> the manifest's calibrated table,
the tail fit, the empirical threshold), comparison, and masked-face equalisation on synthetic arrays."""
import math

import numpy as np
import pytest

from faceprint import scoring
from faceprint.errors import ModelError, ModelMismatchError, UsageError
from faceprint.evaluate import calibration
from faceprint.modelid import ModelId
from faceprint.scoring import masks
from faceprint.types import Template


def test_fmr_for_fpir_inverts_the_independence_model():
    for fpir, n in ((0.001, 1), (0.001, 2000), (0.01, 1_000_000)):
        fmr = scoring.fmr_for_fpir(fpir, n)
        assert -math.expm1(n * math.log1p(-fmr)) == pytest.approx(fpir, rel=1e-9)
    assert scoring.fmr_for_fpir(0.001, 1_000_000) == pytest.approx(1e-9, rel=1e-3)
    for bad in (0, 1, -0.1, 2, math.nan):
        with pytest.raises(UsageError):
            scoring.fmr_for_fpir(bad, 10)


def test_fpir_threshold_rises_with_gallery_size_and_strictness():
    t = [scoring.threshold_for_fpir("sface", 0.001, n) for n in (1, 1_000, 100_000, 10_000_000)]
    assert t == sorted(t) and t[0] < t[-1]
    assert scoring.threshold_for_fpir("sface", 0.01, 1000) < scoring.threshold_for_fpir("sface", 0.001, 1000)
    # One subject at FPIR 1e-3 is exactly the 1:1 operating point.
    assert scoring.threshold_for_fpir("sface", 0.001, 1) == pytest.approx(scoring.threshold_for_fmr("sface", 1e-3), abs=1e-4)


def test_manifest_table_is_one_consistent_calibration():
    table = scoring.calibration("sface")
    fmr, thr = np.array(table["fmr"]), np.array(table["threshold"])
    assert fmr.min() <= 1e-10 and fmr.max() >= 1e-1
    assert np.all(np.diff(thr[np.argsort(-fmr)]) > 0)           # stricter FMR, higher threshold
    from faceprint import models
    assert models.get("sface").thresholds["plain"]["value"] == pytest.approx(scoring.threshold_for_fmr("sface", 1e-3))
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


def test_label_noise_merge():
    ids = calibration.merge_identities(np.array(["a", "b", "c", "d"]), [("a", "b"), ("c", "b")])
    assert len(set(ids[:3])) == 1 and ids[3] == "d"


def test_thresholds_keep_rising_past_the_end_of_a_table():
    """dlib's table ends at FMR 1e-7 (~10,000 subjects at FPIR 0.001): larger galleries must get
    stricter thresholds, not the table's last value (which would let the FPIR grow with the gallery)."""
    from faceprint.scoring import threshold_for_fpir
    sizes = (10_000, 100_000, 1_000_000)
    for model in ("dlib:flip", "sface+dlib"):
        t = [threshold_for_fpir(model, 0.001, n) for n in sizes]
        assert t[0] < t[1] < t[2], (model, t)
    # The default model's tail fit reaches 1e-10: no extrapolation there, and still rising.
    t = [threshold_for_fpir("sface", 0.001, n) for n in sizes]
    assert t[0] < t[1] < t[2] < 1.0


def test_empirical_threshold_counts_and_excludes_outliers():
    """The one empirical threshold (metrics and the calibration table both use it)."""
    s = np.array([0.1, 0.95, 0.5, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    t = scoring.threshold_at_fmr(s, 0.1)                   # one of ten may reach it: 0.95
    assert 0.9 < t < 0.9 + 1e-12 and np.mean(s >= t) == 0.1
    assert scoring.threshold_at_fmr(s, 1.0) == 0.1
    # Leaving out the top score (a dropped outlier): nine left, none may reach 0.9's successor.
    assert scoring.threshold_at_fmr(s, 0.1, exclude_top=1) == pytest.approx(0.9, abs=1e-12)
    f32 = s.astype(np.float32)                           # large float32 arrays keep their precision
    t32 = scoring.threshold_at_fmr(f32, 0.1)
    assert np.mean(f32 >= t32) == 0.1 and t32 == np.nextafter(np.float32(0.9), np.float32(np.inf))


def test_model_ids_parse_once_and_print_back():
    for text, name, flip, parts in (("sface", "sface", False, ("sface",)), ("sface:flip", "sface", True, ("sface",)),
                                    ("sface+dlib", "sface+dlib", False, ("sface", "dlib")),
                                    ("dlib:flip", "dlib", True, ("dlib",)),
                                    ("onnx:my+model", "onnx:my+model", False, ("onnx:my+model",))):
        mid = ModelId.parse(text)
        assert (mid.name, mid.flip, mid.parts, str(mid)) == (name, flip, parts, text)
        assert ModelId.parse(mid) is mid
    assert ModelId.parse("sface:flip").variant == "flip" and ModelId("sface").variant == "plain"
    assert ModelId.parse("onnx:arcface").is_onnx and not ModelId("sface").is_onnx
    with pytest.raises(ModelError):
        scoring.calibration("onnx:arcface")                # never calibrated


def _unit(rng, n, dim=128):
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_equalise_maps_the_masked_table_onto_the_clean_one():
    """Equalisation is monotone, keeps [-1, 1], and moves the masked threshold of each FMR onto the
    clean threshold of the same FMR, so a clean threshold holds its FMR for unmasked probes."""
    m = masks.unmasking("sface")
    assert m is not None and m.matrix.shape == (128, 128)
    grid = np.linspace(-1, 1, 2001)
    eq = masks.equalise(grid, "sface")
    assert np.all(np.diff(eq) >= 0) and eq[0] == -1.0 and eq[-1] == 1.0
    assert np.allclose(masks.equalise(m.masked, "sface"), m.clean)
    assert masks.unmasking("sface:flip") is None                      # no map: scores unchanged
    assert np.array_equal(masks.equalise(grid, "sface:flip"), grid)
    flags = grid > 0
    both = masks.equalise_where(grid, flags, "sface")
    assert np.array_equal(both[~flags], grid[~flags]) and np.array_equal(both[flags], eq[flags])


def test_unmask_maps_only_confidently_masked_faces():
    v = _unit(np.random.default_rng(1), 1)[0]
    assert masks.unmask(v, "sface", masks.UNMASK_AT - 0.001) is None
    mapped = masks.unmask(v, "sface", masks.UNMASK_AT)
    assert mapped is not None and mapped.dtype == np.float32 and abs(float(np.linalg.norm(mapped)) - 1) < 1e-5
    assert not np.allclose(mapped, v)
    assert masks.unmask(v, "sface:flip", 0.99) is None


def test_compare_equalises_an_unmasked_probe_on_either_side():
    rng = np.random.default_rng(2)
    a, b = _unit(rng, 2)
    clean = Template(a, "sface")
    probe = Template(b, "sface", masked=0.9, unmasked=True)
    raw = float(a @ b)
    want = float(masks.equalise(raw, "sface"))
    assert scoring.compare(clean, probe) == scoring.compare(probe, clean) == pytest.approx(want)
    assert scoring.compare(clean, Template(b, "sface", masked=0.9)) == pytest.approx(raw)   # masked, not mapped
    assert scoring.probe_score(probe, a) == pytest.approx(want)
    assert probe.is_masked and Template(b, "sface", masked=0.2).is_masked is False and clean.is_masked is None
    with pytest.raises(ModelMismatchError):
        scoring.compare(clean, Template(b, "sface:flip"))
