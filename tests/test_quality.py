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
    assert tiny_blurred.quality < quality.WEAK_BELOW <= sharp.quality
    assert "hard to recognise" in quality.explain(tiny_blurred.quality_detail)
    # Weak, not unusable: enrolled with a warning that says why.
    assert quality.enrolment_refusal(sharp) is None and quality.enrolment_warning(sharp) is None
    assert "weak photo" in quality.enrolment_warning(tiny_blurred)


def test_small_face_explained(engine, fr):
    img = cv2.imread(str(fr / "examples" / "obama.jpg"))
    t = engine.template(degrade(img, 0.1, 0))
    assert t.quality_detail["eye_distance_px"] < 15
    assert "small" in quality.explain(t.quality_detail)
    assert np.isfinite(t.quality) and 0 <= t.quality <= 1


def test_only_unusable_faces_are_refused(engine, fr):
    """A face with 5 px between the eyes is refused as too small (naming the size); the same photo
    at 12 px is enrolled (LFW pairs still match 98% of the time at that size: bench/enrolment.py)."""
    img = cv2.imread(str(fr / "examples" / "obama.jpg"))
    eyes = quality.eye_distance(engine.detect(img)[0])
    for px, refused in ((5.0, True), (12.0, False)):
        canvas = np.full((320, 320, 3), 127, np.uint8)
        small = degrade(img, px / eyes, 0)
        canvas[:small.shape[0], :small.shape[1]] = small[:320, :320]
        faces = engine.detect(canvas)
        if not faces:
            assert refused, f"no face found at {px} px"
            continue
        t = engine.templates_for(canvas, faces[:1])[0]
        r = quality.enrolment_refusal(t)
        assert (r is not None) == refused, (px, t.quality_detail, r)
        if refused:
            assert r[0] == "low_quality" and "too small" in r[1]
