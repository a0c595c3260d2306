"""Face quality on real photos: it falls as the face gets smaller and blurrier, and says why."""
import cv2
import numpy as np

from faceprint import quality


def degrade(img, scale, blur):
    out = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(out, (0, 0), blur) if blur else out


def test_quality_falls_with_blur_and_size(engine, fr):
    img = cv2.imread(str(fr / "examples" / "obama.jpg"))
    sharp = engine.template(degrade(img, 0.5, 0))
    blurred = engine.template(degrade(img, 0.5, 4))
    tiny_blurred = engine.template(degrade(img, 0.25, 4))
    assert sharp.quality > 0.9 > blurred.quality > tiny_blurred.quality
    # The embedding norm (SFace's manifest gives its useful range) is what drops most under blur.
    assert sharp.quality_detail["embedding_norm"] > blurred.quality_detail["embedding_norm"] > \
        tiny_blurred.quality_detail["embedding_norm"]
    assert tiny_blurred.quality < quality.ENROL_FLOOR <= sharp.quality
    assert "hard to recognise" in quality.explain(tiny_blurred.quality_detail)


def test_small_face_explained(engine, fr):
    img = cv2.imread(str(fr / "examples" / "obama.jpg"))
    t = engine.template(degrade(img, 0.1, 0))
    assert t.quality_detail["eye_distance_px"] < 15
    assert "small" in quality.explain(t.quality_detail)
    assert np.isfinite(t.quality) and 0 <= t.quality <= 1
