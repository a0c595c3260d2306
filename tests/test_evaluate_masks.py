"""Realistic masks (real cut-outs warped on the face): they cover nose and mouth, follow the face,
are seeded, and the shipped classifier calls them masked."""
import cv2
import numpy as np
import pytest

from conftest import DATA, need
from faceprint import occlusion
from faceprint.engine import pick_face
from faceprint.evaluate.masks import MASK_KINDS, mask_textures, read_mask_table, realistic_mask, realistic_transform


@pytest.fixture(scope="module")
def masks():
    root = need(DATA / "masks")
    return root, read_mask_table(root), mask_textures(root)


def test_every_kind_covers_nose_and_mouth_not_eyes(engine, fr, masks):
    root, table, textures = masks
    img = cv2.imread(str(fr / "examples" / "obama.jpg"))
    face = engine.detect(img)[0]
    lm = face.landmarks.astype(int)
    for kind in MASK_KINDS:
        out, drawn = realistic_mask(img, face, "obama.jpg", table, seed=1, kind=kind, textures=textures)
        assert drawn["kind"] == kind
        changed = np.abs(out.astype(int) - img.astype(int)).sum(2) > 30
        for x, y in lm[2:]:                                   # nose tip, mouth corners covered
            assert changed[y - 2:y + 3, x - 2:x + 3].mean() > 0.5, (kind, "lower face")
        for x, y in lm[:2]:                                   # eyes left free
            assert changed[y - 2:y + 3, x - 2:x + 3].mean() < 0.5, (kind, "eyes")
        again, _ = realistic_mask(img, face, "obama.jpg", table, seed=1, kind=kind, textures=textures)
        assert np.array_equal(out, again)


def test_classifier_calls_realistic_masks_masked(engine, lfw, masks):
    root = masks[0]
    transform = realistic_transform(root, seed=5)
    photos = sorted((lfw / "lfw-deepfunneled").glob("A*/*_0001.jpg"))[:12]
    masked, clean = [], []
    for p in photos:
        img = engine.load(p)
        for im, out in ((img, clean), (transform(engine, img, p), masked)):
            faces = engine.detect(im)
            crop = engine.embedder.crops(im, [faces[pick_face(faces, im.shape, "center")]])[0]
            out.append(float(occlusion.mask_probability([engine.embedder.view(crop)])[0]))
    assert np.mean(np.array(masked) >= 0.5) >= 0.9 and np.mean(np.array(clean) < 0.5) >= 0.9, (masked, clean)
