import cv2
import numpy as np
import pytest

from faceprint.imageio import load_image


@pytest.mark.parametrize("rel,count", [
    ("examples/two_people.jpg", 2),
    ("examples/knn_examples/test/kit_with_rose.jpg", 2),
    # Obama, Biden and the child at the lower right.
    ("examples/knn_examples/test/obama_and_biden.jpg", 3),
    ("examples/obama.jpg", 1),
    ("examples/obama_small.jpg", 1),
    ("tests/test_images/obama_partial_face.jpg", 1),
    ("tests/test_images/obama_partial_face2.jpg", 1),
])
def test_face_counts(engine, fr, rel, count):
    assert len(engine.detect(fr / rel)) == count


def test_landmarks_inside_boxes_and_scores_sorted(engine, fr):
    faces = engine.detect(fr / "examples" / "two_people.jpg")
    for f in faces:
        x, y, w, h = f.box
        assert ((f.landmarks[:, 0] > x) & (f.landmarks[:, 0] < x + w)).all()
        assert ((f.landmarks[:, 1] > y) & (f.landmarks[:, 1] < y + h)).all()
        assert 0.5 < f.score <= 1.0
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)


def test_large_photo_boxes_map_back_to_full_resolution(engine, fr):
    """1080p is downscaled for detection, 720p is not; boxes must agree after scaling by 1.5."""
    small = engine.detect(fr / "examples" / "obama-720p.jpg")[0]
    big = engine.detect(fr / "examples" / "obama-1080p.jpg")[0]
    ratio = load_image(fr / "examples" / "obama-1080p.jpg").shape[0] / 720
    assert np.allclose(big.box, small.box * ratio, atol=0.06 * big.box[2])
    assert np.allclose(big.landmarks, small.landmarks * ratio, atol=0.04 * big.box[2])


def test_no_face_in_blank_image(engine):
    assert engine.detect(np.full((300, 400, 3), 128, np.uint8)) == []


def test_every_att_face_found(engine, att):
    """Tightly cropped 92x112 grayscale faces (upscaled/padded internally)."""
    missed = [p for p in sorted(att.glob("s*/*.pgm"))[::7] if not engine.detect(p)]
    assert missed == []


# -- the numpy decoding against OpenCV's own, and every runtime --------------------------------------

def _photos(fr, lfw_dir, n_lfw=60):
    group = sorted(fr.glob("examples/**/*.jpg")) + sorted(fr.glob("tests/test_images/*.jpg"))
    lfw_imgs = sorted(lfw_dir.glob("*/*.jpg"))
    return group + lfw_imgs[::max(1, len(lfw_imgs) // n_lfw)][:n_lfw]


def test_numpy_decoding_finds_what_opencv_finds(engine, fr, lfw):
    """Same weights, same image: our decoding (priors, boxes, landmarks, NMS) and cv2.FaceDetectorYN
    agree on the count of faces and on every box and landmark within 1 px."""
    import cv2
    det = engine.detector
    ref = cv2.FaceDetectorYN.create(str(det.spec.onnx(dynamic_hw=True)), "", (320, 320),
                                    det.score_threshold, det.nms_threshold, det.top_k)
    checked = 0
    for p in _photos(fr, lfw / "lfw-deepfunneled"):
        img = load_image(p)
        scale = det._scale_for(*img.shape[:2])
        if scale != 1:
            img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)))
        ours = det.raw(img)
        ref.setInputSize((img.shape[1], img.shape[0]))
        theirs = ref.detect(img)[1]
        theirs = np.zeros((0, 15), np.float32) if theirs is None else theirs
        assert len(ours) == len(theirs), p
        assert np.abs(ours[:, :14] - theirs[:, :14]).max(initial=0) < 1.0, p
        checked += len(ours)
    assert checked > 60


@pytest.mark.parametrize("runtime", ["onnxruntime", "opencv"])
def test_every_runtime_finds_the_same_faces(engine, fr, runtime):
    from faceprint import Engine
    other = Engine(runtime=runtime)
    for rel in ("examples/two_people.jpg", "examples/knn_examples/test/obama_and_biden.jpg"):
        a, b = engine.detect(fr / rel), other.detect(fr / rel)
        assert len(a) == len(b)
        for fa, fb in zip(a, b):
            assert np.abs(fa.landmarks - fb.landmarks).max() < 1.0
            assert np.abs(fa.box - fb.box).max() < 1.0


def test_recurring_input_size_gets_a_static_graph_with_the_same_faces(fr):
    """OpenVINO compiles a shape that recurs (a camera, a folder of same-sized photos) into its own
    static graph; its faces equal the dynamic graph's."""
    from faceprint import Engine, runtime
    if "openvino" not in runtime.available():
        pytest.skip("OpenVINO is not installed")
    det = Engine(runtime="openvino").detector
    img = load_image(fr / "examples/two_people.jpg")
    first = det.detect_one(img)                  # dynamic graph
    assert not det.session._static
    runs = [det.detect_one(img) for _ in range(2)]
    assert len(det.session._static) == 1
    for faces in runs:
        assert len(faces) == len(first) == 2
        for a, b in zip(first, faces):
            assert np.abs(a.landmarks - b.landmarks).max() < 0.5 and abs(a.score - b.score) < 1e-3


def test_photos_of_many_sizes_do_not_recompile_graphs(fr):
    """Once every static slot holds a recurring shape, rarer sizes run the dynamic graph instead of
    evicting and recompiling (photo folders of many sizes spent most of their time compiling)."""
    from faceprint import Engine, runtime
    if "openvino" not in runtime.available():
        pytest.skip("OpenVINO is not installed")
    det = Engine(runtime="openvino").detector
    img = load_image(fr / "examples/obama_small.jpg")
    sizes = [(64 + 32 * k, 96) for k in range(det.session.max_static + 4)]
    for w, h in sizes[:det.session.max_static]:          # the frequent sizes: 3 sightings each
        for _ in range(3):
            det.detect_one(np.ascontiguousarray(cv2.resize(img, (w, h))))
    frequent = set(det.session._static)
    assert len(frequent) == det.session.max_static
    for w, h in sizes[det.session.max_static:]:          # rarer ones, seen twice: no slot taken
        for _ in range(2):
            det.detect_one(np.ascontiguousarray(cv2.resize(img, (w, h))))
    assert set(det.session._static) == frequent
