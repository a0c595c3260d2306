"""Calibration that follows the population: observed FMR among a gallery's own subjects."""
import numpy as np
import pytest

from faceprint.gallery import Gallery
from faceprint.scoring import population


def unit(rng, n, dim=128):
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_observed_fmr_counts_only_pairs_of_different_subjects():
    rng = np.random.default_rng(0)
    v = unit(rng, 600)
    subjects = np.arange(600) // 3                      # 200 subjects, 3 templates each
    r = population.population_calibration(v, subjects, {"t": (0.2, 1e-2)})
    pairs = 600 * 599 // 2 - 200 * 3                    # every pair less the mated ones
    assert r.checks["t"].pairs == pairs and r.subjects == 200 and not r.sampled
    sims = v @ v.T
    iu = np.triu_indices(600, 1)
    cross = subjects[iu[0]] != subjects[iu[1]]
    expected = int(np.sum(sims[iu][cross] >= 0.2))
    assert r.checks["t"].false_matches == expected
    assert r.checks["t"].fmr_observed == pytest.approx(expected / pairs)
    # random 128-d unit vectors: cosine ~ N(0, 1/128), P(>= 0.2) ~ 1.2%
    assert 0.005 < r.checks["t"].fmr_observed < 0.02


def test_a_subject_enrolled_twice_under_two_names_is_left_out():
    rng = np.random.default_rng(1)
    v = unit(rng, 100)
    v[1] = v[0] + 0.01 * unit(rng, 1)[0]                # subject 1 is subject 0 again
    v[1] /= np.linalg.norm(v[1])
    subjects = np.arange(100)
    r = population.population_calibration(v, subjects, {"t": (0.95, 1e-3)})
    assert r.duplicate_subject_pairs == 1
    assert r.checks["t"].pairs == 100 * 99 // 2 - 1 and r.checks["t"].false_matches == 0


def test_too_few_subjects_gives_nulls_not_a_crash():
    rng = np.random.default_rng(2)
    for n in (0, 1, 5):
        r = population.population_calibration(unit(rng, n) if n else np.zeros((0, 128), np.float32),
                                              np.arange(n), {"one_to_one": (0.36, 1e-3), "open_set": (None, None)})
        d = r.as_dict()
        assert d["one_to_one"]["fmr_observed"] is None and d["open_set"]["threshold"] is None
        assert d["one_to_one"]["threshold"] == 0.36 and d["subjects"] == n


def test_large_gallery_is_sampled_within_the_pair_bound(tmp_path):
    rng = np.random.default_rng(3)
    with Gallery.open(tmp_path / "g.db", create=True, model="sface") as g:
        g.add_templates([f"p{i}" for i in range(3000)], unit(rng, 3000), model="sface")
        vectors, subjects, sampled = population_sample(g, 500)
        assert sampled and len(vectors) == len(subjects) <= 500 and len(set(subjects.tolist())) > 400
        d = g.population_calibration()
    assert d["sampled"] and d["templates"] <= population.sample_size()
    assert d["one_to_one"]["pairs"] <= population.MAX_PAIRS
    assert d["one_to_one"]["threshold"] == population.one_to_one("sface")[0]
    assert d["open_set"]["threshold"] > d["one_to_one"]["threshold"]       # 3,000 subjects: stricter
    assert d["open_set"]["fmr_target"] < d["one_to_one"]["fmr_target"]
    assert d["one_to_one"]["fmr_observed"] < 1e-3     # random vectors hardly ever reach SFace's threshold


def population_sample(g, m):
    from faceprint.gallery.population import sample_templates
    return sample_templates(g.store, m)


def test_real_small_gallery_reports_its_own_fmr(att, engine, tmp_path):
    """Twelve AT&T people, two photos each: FMR observed at the shipped thresholds on their pairs."""
    with Gallery.open(tmp_path / "att.db", engine=engine, create=True) as g:
        for k in range(1, 13):
            g.enroll(f"s{k}", [att / f"s{k}" / "1.pgm", att / f"s{k}" / "5.pgm"])
        d = g.population_calibration()
    assert d["subjects"] == 12 and d["templates"] == 24 and not d["sampled"]
    one = d["one_to_one"]
    assert one["threshold"] == population.one_to_one("sface")[0] and one["fmr_target"] == 1e-3
    assert one["pairs"] == 24 * 23 // 2 - 12 - 4 * d["duplicate_subject_pairs"]
    assert 0.0 <= one["fmr_observed"] <= 0.05 and one["false_matches"] == round(one["fmr_observed"] * one["pairs"])
    assert d["open_set"]["threshold"] >= one["threshold"]


def test_tail_threshold_follows_a_known_tail():
    """Cosines of random 128-d directions ~ N(0, 1/128): the fitted threshold far below what the
    pair count measures lands near the true quantile."""
    from scipy.stats import norm
    scores = np.random.default_rng(4).normal(0, 128 ** -0.5, 2_000_000)
    for fmr in (1e-4, 1e-6, 1e-7):
        assert population.tail_threshold(scores, fmr) == pytest.approx(norm.isf(fmr) * 128 ** -0.5, abs=0.02)


@pytest.fixture(scope="module")
def att_gallery(att, tmp_path_factory):
    """12 AT&T people, 10 photos each, enrolled with SFace."""
    from faceprint import Engine
    db = tmp_path_factory.mktemp("fpir_from") / "g.db"
    with Gallery.open(db, engine=Engine(), create=True) as g:
        for i in range(1, 13):
            g.enroll(f"s{i}", [str(p) for p in sorted((att / f"s{i}").iterdir())])
    return db


def test_fpir_from_gallery_never_loosens_and_says_which(att_gallery, att, capsys):
    import json

    from faceprint.cli.app import main
    from faceprint.gallery.population import open_set_threshold
    with Gallery.open(att_gallery, readonly=True) as g:
        table = g.threshold_for_fpir(0.001)
        small = open_set_threshold(g)                   # under 50,000 pairs: the table, saying why
        own = open_set_threshold(g, 0.001, min_pairs=5_000)
    assert small.source == "table" and small.threshold == pytest.approx(table) and "fewer than" in small.reason
    assert own.pairs > 5_000 and own.gallery_threshold is not None and own.threshold >= table
    assert own.threshold == pytest.approx(max(table, own.gallery_threshold))
    assert own.source == ("gallery" if own.gallery_threshold > table else "table")
    probe = str(att / "s5" / "3.pgm")
    assert main(["identify", probe, "--gallery", str(att_gallery), "--fpir-from", "gallery", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["threshold_from"]["source"] == "table" and out["faces"][0]["decision"] == "s5"
    assert out["faces"][0]["threshold"] == pytest.approx(table, abs=1e-6)
    assert main(["identify", probe, "--gallery", str(att_gallery), "--fpir-from", "gallery",
                 "--threshold", "0.5"]) == 2


def test_a_heavier_tail_than_the_table_raises_the_threshold():
    """Non-mated scores spread wider than SFace's (16-d random directions): the gallery's own
    threshold is above the table's and is the one used."""
    scores = np.random.default_rng(5).normal(0, 0.25, 200_000)
    r = population.open_set_threshold(scores, "sface", 0.001, 10)
    assert r.source == "gallery" and r.threshold == r.gallery_threshold > r.table_threshold
    assert r.fmr == pytest.approx(1e-4, rel=0.01)
