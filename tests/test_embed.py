import numpy as np
import pytest

from faceprint import models
from faceprint.embed import create_embedder, embed, embed_crops
from faceprint.embed.onnx_generic import OnnxEmbedder
from faceprint.imageio import load_image


@pytest.fixture(scope="module")
def faces(engine, fr):
    out = {}
    for name, rel in [("obama", "examples/obama.jpg"), ("obama2", "examples/obama2.jpg"),
                      ("biden", "examples/biden.jpg"), ("biden2", "examples/knn_examples/train/biden/biden2.jpg")]:
        img = load_image(fr / rel)
        out[name] = (img, engine.detect(img)[:1])
    return out


@pytest.mark.parametrize("model", ["sface", "sface-int8", "dlib"])
def test_same_person_closer_than_different(model, faces):
    emb = create_embedder(model)
    v = {k: embed(emb, img, f)[0] for k, (img, f) in faces.items()}
    assert v["obama"].shape == (emb.dim,)
    assert abs(np.linalg.norm(v["obama"]) - 1) < 1e-5
    same = [v["obama"] @ v["obama2"], v["biden"] @ v["biden2"]]
    diff = [v["obama"] @ v["biden"], v["obama2"] @ v["biden2"], v["obama"] @ v["biden2"]]
    assert min(same) > max(diff) + 0.1   # dlib packs its scores into a narrower range than SFace


def test_batch_equals_single(engine, fr):
    img = load_image(fr / "examples" / "two_people.jpg")
    faces = engine.detect(img)
    batch = embed(engine.embedder, img, faces)
    single = np.vstack([embed(engine.embedder, img, [f]) for f in faces])
    assert np.allclose(batch, single, atol=1e-5)


def test_flip_tta_is_normalised_and_close_to_plain(engine, faces):
    img, f = faces["obama"]
    crops = engine.embedder.crops(img, f)
    plain, flipped = embed_crops(engine.embedder, crops), embed_crops(engine.embedder, crops, flip=True)
    assert abs(np.linalg.norm(flipped) - 1) < 1e-5
    assert 0.85 < float(plain[0] @ flipped[0]) < 0.9999


def test_bring_your_own_onnx_matches_builtin(engine, faces):
    """The generic onnxruntime embedder, given SFace's own file and its normalisation, agrees with cv2.dnn."""
    byo = OnnxEmbedder(models.get("sface").path(), mean=0.0, std=1.0)
    img, f = faces["biden"]
    ours = embed(byo, img, f)
    builtin = embed(engine.embedder, img, f)
    assert byo.dim == 128
    assert float(ours[0] @ builtin[0]) > 0.999


def test_empty_face_list_gives_empty_matrix(engine, faces):
    img, _ = faces["obama"]
    assert embed(engine.embedder, img, []).shape == (0, 128)
