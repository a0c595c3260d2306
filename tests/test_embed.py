import numpy as np
import pytest

from faceprint import ModelNotFoundError, models
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


@pytest.mark.parametrize("model", ["sface", "dlib"])
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


@pytest.mark.parametrize("runtime", ["onnxruntime", "opencv"])
def test_bring_your_own_onnx_matches_builtin(engine, faces, runtime):
    """A user's .onnx file (here SFace's own int8 file, prepared the same way), with SFace's
    normalisation, in another runtime, gives the built-in embedder's templates."""
    byo = OnnxEmbedder.from_path(str(models.get("sface").path()), mean=0.0, std=1.0, runtime=runtime)
    img, f = faces["biden"]
    ours = embed(byo, img, f)
    builtin = embed(engine.embedder, img, f)
    assert byo.dim == 128 and byo.runtime == runtime and engine.embedder.runtime == "openvino"
    assert float(ours[0] @ builtin[0]) > 0.9999


def test_missing_onnx_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        create_embedder(str(tmp_path / "nope.onnx"))


def test_batches_larger_than_one_forward_pass(engine, faces):
    """More crops than one batch (onnx_generic.BATCH): same templates as one at a time."""
    from faceprint.embed.onnx_generic import BATCH
    img, f = faces["obama"]
    crop = engine.embedder.crops(img, f)[0]
    crops = [np.ascontiguousarray(np.roll(crop, i, axis=1)) for i in range(BATCH + 3)]
    batch = embed_crops(engine.embedder, crops)
    single = np.vstack([embed_crops(engine.embedder, [c]) for c in crops[::7]])
    assert batch.shape == (BATCH + 3, 128)
    assert np.allclose(batch[::7], single, atol=1e-4)


def test_empty_face_list_gives_empty_matrix(engine, faces):
    img, _ = faces["obama"]
    assert embed(engine.embedder, img, []).shape == (0, 128)


def test_unknown_runtime_names_the_choices():
    from faceprint import Engine, ModelError
    with pytest.raises(ModelError, match="openvino, onnxruntime, opencv"):
        Engine(runtime="tensorrt")
