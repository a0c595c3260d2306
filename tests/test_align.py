import cv2
import numpy as np

from faceprint import models
from faceprint.align import ARCFACE_112, align, similarity_transform
from faceprint.imageio import load_image


def test_similarity_transform_recovers_known_transform():
    angle, scale, t = np.deg2rad(17), 1.7, np.array([12.0, -5.0])
    r = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = ARCFACE_112 @ r.T + t
    m = similarity_transform(ARCFACE_112, dst)
    assert np.allclose(m[:, :2], r, atol=1e-6) and np.allclose(m[:, 2], t, atol=1e-5)


def test_crop_matches_opencv_aligncrop(engine, fr):
    img = load_image(fr / "examples" / "obama.jpg")
    face = engine.detect(img)[0]
    rec = cv2.FaceRecognizerSF.create(str(models.get("sface").path()), "")
    row = np.r_[face.box, face.landmarks.ravel(), face.score].astype(np.float32)[None]
    ref = rec.alignCrop(img, row)
    ours = align(img, face.landmarks)
    assert ours.shape == (112, 112, 3)
    assert np.abs(ref.astype(int) - ours).mean() < 1.0
