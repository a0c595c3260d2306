"""The same gallery contract on every backend: SQLite + FAISS (default), PostgreSQL + FAISS, SQLite + Milvus."""
import numpy as np
import pytest

from faceprint import ModelMismatchError, NoFaceError
from faceprint.errors import FaceprintError
from faceprint.gallery import Gallery

TRAIN = "examples/knn_examples/train"
TEST = "examples/knn_examples/test"


@pytest.fixture(params=["sqlite", "postgres", "milvus"])
def open_gallery(request, tmp_path, engine):
    kind = request.param
    if kind == "postgres":
        location = request.getfixturevalue("postgres_url")
    else:
        location = tmp_path / "g.db"
    if kind == "milvus":
        kind_opts = {"index": f"milvus:{tmp_path / 'm.milvus.db'}"}
    else:
        kind_opts = {}
    opened = []

    def make(**kw):
        kw.setdefault("engine", engine)
        kw.setdefault("create", True)
        g = Gallery.open(location, **kind_opts, **kw)
        opened.append(g)
        return g
    make.kind = kind
    yield make
    for g in opened:
        try:
            g.close()
        except Exception:
            pass


def unit(rng, n, dim=128):
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def knn_gallery_templates(engine, fr):
    """Templates of the knn_examples training photos, per person (computed once)."""
    out = {}
    for person in sorted((fr / TRAIN).iterdir()):
        out[person.name] = [engine.template(p) for p in sorted(person.iterdir())]
    return out


def test_enroll_photos_and_identify_every_face(open_gallery, fr):
    g = open_gallery()
    for person in sorted((fr / TRAIN).iterdir()):
        g.enroll(person.name, sorted(person.iterdir()), metadata={"consent": "signed 2026-11-02"})
    assert g.stats()["subjects"] == 5 and g.stats()["templates"] == 9
    s = g.subject("obama")
    assert s.templates == 2 and s.metadata == {"consent": "signed 2026-11-02"}
    res = g.identify(fr / TEST / "obama_and_biden.jpg")
    assert len(res) == 3
    decided = sorted(r.decision.subject.name for r in res if r.decision)
    assert decided == ["biden", "obama"]                 # the child is not enrolled: open-set "unknown"
    assert all(r.decision.subject.metadata == {"consent": "signed 2026-11-02"} for r in res if r.decision)
    assert all(r.fpir == 0.001 and r.gallery_size == 5 for r in res)     # the safe default: FPIR-based
    hits = g.search(g.engine.template(fr / TEST / "obama1.jpg"))
    assert hits[0].subject.name == "obama" and all(m.decision is None for m in hits)    # a search decides nothing
    for r in res:
        assert [m.rank for m in r.candidates] == list(range(1, len(r.candidates) + 1))
        assert all(a.score >= b.score for a, b in zip(r.candidates, r.candidates[1:]))
    (top,) = [r for r in g.identify(fr / TEST / "alex_lacamoire1.jpg")]
    assert top.decision.subject.name == "alex_lacamoire"


def test_enroll_refuses_photo_without_face(open_gallery, tmp_path):
    import cv2
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.zeros((120, 120, 3), np.uint8))
    g = open_gallery()
    with pytest.raises(NoFaceError, match="was not enrolled"):
        g.enroll("nobody", [blank])
    assert g.stats()["subjects"] == 0


def test_bulk_add_and_best_template_ranks_subject(open_gallery):
    rng = np.random.default_rng(1)
    vecs = unit(rng, 300)
    names = [f"person{i // 3}" for i in range(300)]
    g = open_gallery()
    ids = g.add_templates(names, vecs)
    assert len(set(ids)) == 300
    assert g.stats()["subjects"] == 100 and g.stats()["indexed"] == 300
    probe = vecs[7] + 0.05 * unit(rng, 1)[0]
    hits = g.search(probe, k=5)
    assert hits[0].subject.name == "person2" and hits[0].rank == 1
    assert len({h.subject.name for h in hits}) == 5      # one entry per subject, not per template


def test_model_mismatch_refused(open_gallery, knn_gallery_templates):
    g = open_gallery()
    g.add_templates(["a"], unit(np.random.default_rng(2), 1))
    with pytest.raises(ModelMismatchError):
        g.add_templates(["b"], unit(np.random.default_rng(2), 1, dim=64))
    with pytest.raises(ModelMismatchError, match="dlib"):
        g.add_templates(["b"], unit(np.random.default_rng(2), 1), model="dlib")


def test_reopen_keeps_everything(open_gallery, knn_gallery_templates):
    g = open_gallery()
    for name, tpls in knn_gallery_templates.items():
        g.enroll(name, tpls)
    before = [(m.subject.name, round(m.score, 5)) for m in g.search(knn_gallery_templates["biden"][0], k=3)]
    g.close()
    g2 = open_gallery()
    assert g2.stats()["templates"] == 9 and g2.stats()["indexed"] == 9
    assert [(m.subject.name, round(m.score, 5)) for m in g2.search(knn_gallery_templates["biden"][0], k=3)] == before


def test_delete_removes_subject_everywhere(open_gallery, knn_gallery_templates, tmp_path):
    g = open_gallery()
    for name, tpls in knn_gallery_templates.items():
        g.enroll(name, tpls)
    victim = knn_gallery_templates["rose_leslie"]
    assert g.search(victim[0], k=1)[0].subject.name == "rose_leslie"
    assert g.delete("rose_leslie") and not g.delete("rose_leslie")
    assert g.subject("rose_leslie") is None
    assert all(m.subject.name != "rose_leslie" for m in g.search(victim[0], k=10))
    assert g.stats()["templates"] == 7 and g.stats()["indexed"] == 7
    g.close()
    if open_gallery.kind == "sqlite":
        # No byte pattern of the deleted templates survives in any file of the gallery.
        needles = [t.vector.tobytes()[:64] for t in victim]
        files = list(tmp_path.glob("g.db*"))
        assert any(f.name == "g.db.index" for f in files)
        for f in files:
            blob = f.read_bytes()
            assert not any(n in blob for n in needles), f"deleted template found in {f.name}"
        # ...while an enrolled one is found, so the check can fail.
        assert knn_gallery_templates["biden"][0].vector.tobytes()[:64] in (tmp_path / "g.db").read_bytes()


def test_identify_threshold_from_fpir(open_gallery, knn_gallery_templates, fr):
    g = open_gallery()
    for name, tpls in knn_gallery_templates.items():
        g.enroll(name, tpls)
    strict, loose = g.threshold_for_fpir(0.001), g.threshold_for_fpir(0.1)
    assert 0 < loose < strict < 1
    res = g.identify(fr / TEST / "obama1.jpg", fpir=0.01)
    assert res[0].decision.subject.name == "obama"


def test_hnsw_index_delete_rebuilds(tmp_path, knn_gallery_templates):
    g = Gallery.open(tmp_path / "h.db", index="HNSW32", create=True)
    for name, tpls in knn_gallery_templates.items():
        g.enroll(name, tpls)
    g.delete("obama")
    assert g.stats()["indexed"] == 7
    assert all(m.subject.name != "obama" for m in g.search(knn_gallery_templates["obama"][0], k=10))
    g.close()


def test_ivf_index_needs_training_data(tmp_path):
    g = Gallery.open(tmp_path / "ivf.db", index="IVF64,Flat", create=True)
    with pytest.raises(FaceprintError, match="trained on at least 64"):
        g.add_templates(["a"] * 10, unit(np.random.default_rng(0), 10))
    assert g.stats()["templates"] == 0          # refused before anything was written
    vecs = unit(np.random.default_rng(3), 3000)
    g.add_templates([f"p{i}" for i in range(3000)], vecs)
    assert g.search(vecs[42], k=1)[0].subject.name == "p42"
    g.close()
    g = Gallery.open(tmp_path / "ivf.db", index="IVF64,Flat", create=True)
    assert g.stats()["indexed"] == 3000 and g.search(vecs[7], k=1)[0].subject.name == "p7"
    g.close()


def test_bad_factory_string(tmp_path):
    with pytest.raises(FaceprintError, match="not a valid FAISS factory string"):
        Gallery.open(tmp_path / "x.db", index="NoSuchIndex99", create=True)


def test_subject_and_example_operations_the_service_uses(open_gallery, knn_gallery_templates):
    from faceprint.errors import SubjectExistsError
    g = open_gallery()
    ids = {name: g.enroll(name, ts).added for name, ts in knn_gallery_templates.items()}
    assert g.create_subject("Nobody Yet", {"team": "ops"}).templates == 0 and g.size == 6
    with pytest.raises(SubjectExistsError):
        g.create_subject("obama")
    page, total = g.subject_page("OB", offset=1, limit=1)         # any case: "Nobody Yet", "obama"
    assert total == 2 and [s.name for s in page] == ["obama"]
    assert g.subject_page("%")[1] == 0 and g.subject_page(None, 5, 10)[1] == 6
    examples, total = g.examples("obama")
    assert total == 2 and [e.id for e in examples] == ids["obama"] and examples[0].quality > 0.5
    assert examples[0].source_sha256 == knn_gallery_templates["obama"][0].source
    assert g.examples(None, offset=8, limit=5)[1] == 9 and len(g.examples(None, offset=8, limit=5)[0]) == 1
    assert g.example_owners([ids["biden"][0], 10**9]) == {ids["biden"][0]: "biden"}
    assert np.allclose(g.example_vector(ids["biden"][0]), knn_gallery_templates["biden"][0].vector, atol=1e-6)
    assert g.example_vector(10**9) is None
    with pytest.raises(SubjectExistsError):
        g.rename_subject("biden", "obama")
    assert g.rename_subject("nobody", "x") is None
    assert g.rename_subject("biden", "Joe Biden").templates == len(ids["biden"])
    assert g.set_metadata("Joe Biden", {"team": "press"}).metadata == {"team": "press"}
    # a merge (CompreFace's rename onto a taken name) moves the templates; search scores the merged subject
    merged = g.rename_subject("kit_harington", "Joe Biden", merge=True)
    assert merged.templates == len(ids["biden"]) + len(ids["kit_harington"]) and g.subject("kit_harington") is None
    probe = knn_gallery_templates["kit_harington"][0]
    assert g.search(probe, k=1)[0].subject.name == "Joe Biden"
    # deleting examples: only the named subject's, and the subject stays
    assert g.delete_examples(ids["obama"], subject="Joe Biden") == []
    assert g.delete_examples(ids["obama"] + [10**9], subject="obama") == [(i, "obama") for i in ids["obama"]]
    assert g.subject("obama").templates == 0 and g.stats()["indexed"] == 9 - len(ids["obama"])
    assert all(m.subject.name != "obama" for m in g.search(knn_gallery_templates["obama"][0], k=5))
