"""Face stages on synthetic arrays (no photos needed): each is named and versioned, and the
masked path (P(masked) -> unmasking -> Template.unmasked) runs in a plain checkout."""
import numpy as np

from faceprint.modelid import ModelId
from faceprint.scoring import masks
from faceprint.stages import FaceWork, MaskClassifier, QualityAssessor, Unmasking
from faceprint.types import Face

LM = np.array([[40, 50], [72, 50], [56, 66], [44, 84], [68, 84]], np.float32)


def _work(p_masked):
    rng = np.random.default_rng(3)
    faces = [Face(box=np.array([20, 20, 72, 90], np.float32), landmarks=LM, score=0.95) for _ in p_masked]
    w = FaceWork(np.zeros((128, 128, 3), np.uint8), faces, None)
    w.views = [rng.integers(0, 255, (112, 112, 3), np.uint8) for _ in p_masked]
    w.masked = np.asarray(p_masked, np.float32)
    v = rng.normal(size=(len(p_masked), 128)).astype(np.float32)
    w.vectors = list(v / np.linalg.norm(v, axis=1, keepdims=True))
    w.norms = [5.0] * len(p_masked)
    return w


def test_unmasking_stage_maps_confident_masks_only():
    w = _work([0.1, masks.UNMASK_AT - 0.0004, masks.UNMASK_AT, 0.99])
    before = [v.copy() for v in w.vectors]
    stage = Unmasking(ModelId("sface"))
    assert stage.name == "unmask" and stage.version == masks.unmasking_version("sface")
    stage.run(w)
    # 0.6996 is reported (3 decimals) as 0.700: the reported figure decides, as templates carry it.
    assert w.unmasked == [False, True, True, True]
    assert np.array_equal(w.vectors[0], before[0])
    assert np.allclose(w.vectors[3], masks.unmask(before[3], "sface", 0.99))
    assert Unmasking(ModelId("sface", flip=True)).version is None      # no map: the engine leaves it out


def test_quality_stage_reports_p_masked_and_the_mask_stage_reads_112px_views():
    w = _work([0.25, 0.9])
    QualityAssessor((2.0, 8.0)).run(w)
    assert [d["masked"] for d in w.detail] == [0.25, 0.9] and all(0 < q <= 1 for q in w.quality)
    assert all(d["norm"] == 0.5 for d in w.detail) and "unmasked" not in w.detail[0]
    MaskClassifier().run(w)
    assert w.masked.shape == (2,) and np.all((w.masked >= 0) & (w.masked <= 1))
    w.views = [np.zeros((150, 150, 3), np.uint8)]              # a dlib chip: not assessed
    MaskClassifier().run(w)
    assert w.masked is None
