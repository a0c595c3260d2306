"""Safe 1:N by default: the decision comes from a target FPIR and the gallery size, strangers in a
gallery of thousands are not named, a photo enrolled twice adds nothing, low-quality photos need
force. The big gallery holds real LFW templates, made fast from fixed (deep-funneled) face positions."""
import cv2
import numpy as np
import pytest

from faceprint import Template, scoring
from faceprint.errors import UsageError
from faceprint.gallery import Gallery
from faceprint.types import Face


@pytest.fixture(scope="module")
def lfw_gallery_templates(engine, lfw):
    """(names, vectors) of the first photo of 3,000 LFW people (George_W_Bush left out: he is the
    mated probe). LFW deep-funneled photos put the face in one place, so one set of landmarks
    (averaged from 20 detections) aligns them all and only the embedder runs: ~10 s, not ~60."""
    people = sorted(p for p in (lfw / "lfw-deepfunneled").iterdir() if p.is_dir() and p.name != "George_W_Bush")
    first = [sorted(p.iterdir())[0] for p in people[:3000]]
    lms = [engine.detect(p)[0].landmarks for p in first[:20]]
    face = Face(box=np.array([60.0, 60.0, 130.0, 130.0]), landmarks=np.mean(lms, axis=0), score=1.0)
    vecs = []
    for i in range(0, len(first), 250):
        imgs = [cv2.imread(str(p)) for p in first[i:i + 250]]
        crops = [engine.embedder.crops(im, [face])[0] for im in imgs]
        vecs.append(engine.embedder.embed_crops(crops))
    v = np.vstack(vecs)
    return [p.parent.name for p in first], v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def big_gallery(tmp_path, engine, lfw_gallery_templates, lfw):
    names, vecs = lfw_gallery_templates
    g = Gallery.open(tmp_path / "big.db", engine=engine, create=True)
    g.add_templates(names, vecs, model=engine.model_id)
    g.enroll("George_W_Bush", [lfw / "lfw-deepfunneled" / "George_W_Bush" / "George_W_Bush_0001.jpg"])
    yield g
    g.close()


def test_default_decision_is_fpir_based(big_gallery, engine, lfw):
    probe = engine.template(lfw / "lfw-deepfunneled" / "George_W_Bush" / "George_W_Bush_0002.jpg")
    res = big_gallery.identify(probe)[0]
    assert res.fpir == 0.001 and res.gallery_size == 3001
    assert res.threshold == pytest.approx(scoring.threshold_for_fpir(engine.model_id, 0.001, 3001))
    assert res.threshold > engine.threshold + 0.15          # far stricter than the 1:1 (FMR 1e-3) threshold
    assert res.decision is not None and res.decision.subject.name == "George_W_Bush"
    # Per call, and per gallery (stored, so every process that opens it agrees).
    assert big_gallery.identify(probe, fpir=0.01)[0].threshold < res.threshold
    raw = big_gallery.identify(probe, threshold=0.3)[0]
    assert raw.threshold == 0.3 and raw.fpir is None
    big_gallery.set_default_fpir(0.01)
    assert big_gallery.identify(probe)[0].fpir == 0.01
    with pytest.raises(UsageError):
        big_gallery.identify(probe, fpir=0.01, threshold=0.5)
    with pytest.raises(UsageError):
        big_gallery.identify(probe, fpir=1.0)


def test_strangers_in_a_gallery_of_thousands_are_not_enrolled(big_gallery, engine, att):
    """AT&T faces are nobody in LFW: all 40 people come back "not enrolled" with the default
    decision, though each still gets ranked candidates."""
    probes = [engine.template(att / f"s{i}" / "1.pgm") for i in range(1, 41)]
    res = big_gallery.identify(probes)
    assert len(res) == 40 and all(len(r.candidates) == 5 for r in res)
    assert sum(r.decision is not None for r in res) == 0
    assert all(r.gallery_size == 3001 for r in res)


def test_reenrolled_photo_and_near_copy_add_nothing(tmp_path, engine, fr):
    photo = fr / "examples" / "obama.jpg"
    copy = tmp_path / "obama_copy.jpg"              # the same photo re-saved (JPEG q85): other bytes, same face
    cv2.imwrite(str(copy), cv2.imread(str(photo)), [cv2.IMWRITE_JPEG_QUALITY, 85])
    with Gallery.open(tmp_path / "g.db", engine=engine, create=True) as g:
        first = g.enroll("obama", [photo])
        again = g.enroll("obama", [photo])
        near = g.enroll("obama", [copy])
        other = g.enroll("obama", [fr / "examples" / "obama2.jpg"])
        assert len(first.added) == 1 and again.added == [] and near.added == []
        assert "already enrolled" in again.skipped[0].reason and again.skipped[0].code == "duplicate"
        assert "nearly identical" in near.skipped[0].reason and near.skipped[0].code == "near_duplicate"
        assert len(other.added) == 1
        assert g.subject("obama").templates == 2


def test_unusable_face_refused_with_reason_and_force_enrols(tmp_path, engine, fr):
    img = cv2.imread(str(fr / "examples" / "biden.jpg"))
    poor = cv2.GaussianBlur(cv2.resize(img, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA), (0, 0), 4)
    t = engine.template(poor)
    with Gallery.open(tmp_path / "g.db", engine=engine, create=True) as g:
        with pytest.raises(UsageError, match=r"face quality 0\.\d\d: the face cannot be recognised"):
            g.enroll("biden", [t])
        assert g.subject("biden") is None
        enr = g.enroll("biden", [t], force=True)
        assert len(enr.added) == 1


def test_best_keeps_the_highest_quality_photos(tmp_path, engine, fr):
    """enroll(best=1) of a sharp photo and a shrunk, blurred copy of another: the sharp one is kept
    whatever the order, the other is skipped with code not_best (forced, as it is below the floor)."""
    sharp = engine.template(fr / "examples" / "obama.jpg")
    img = cv2.imread(str(fr / "examples" / "obama2.jpg"))
    poor = engine.template(cv2.GaussianBlur(cv2.resize(img, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA), (0, 0), 2))
    assert poor.quality < sharp.quality
    with Gallery.open(tmp_path / "g.db", engine=engine, create=True) as g:
        enr = g.enroll("obama", [poor, sharp], best=1, force=True)
        assert len(enr.added) == 1 and [(s.index, s.code) for s in enr.skipped] == [(0, "not_best")]
        assert "best-quality" in enr.skipped[0].reason
        assert g.search(sharp)[0].score == pytest.approx(1.0, abs=1e-5)
        with pytest.raises(UsageError, match="best must be"):
            g.enroll("obama", [sharp], best=0)


def test_subject_scored_by_its_mean_template(tmp_path, engine):
    """Two templates per subject: the subject's score is the probe's cosine with their normalised
    mean, which a single-template subject cannot fake by sitting close to one of them."""
    rng = np.random.default_rng(3)
    v = rng.normal(size=(3, 128)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    with Gallery.open(tmp_path / "g.db", create=True, model=engine.model_id, dim=128) as g:
        g.add_templates(["a", "a", "b"], v, model=engine.model_id)
        probe = v[0]
        hit = g.search(Template(probe, engine.model_id), k=2)
        cent = (v[0] + v[1]) / np.linalg.norm(v[0] + v[1])
        assert hit[0].subject.name == "a" and hit[0].score == pytest.approx(float(probe @ cent), abs=1e-5)
