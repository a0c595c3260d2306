import io

import numpy as np
import pytest
from PIL import Image

from faceprint import Engine, ImageDecodeError, ImageTooLargeError
from faceprint.imageio import Limits, load_image


def test_jpeg_path_gives_bgr_uint8(fr):
    img = load_image(fr / "examples" / "obama.jpg")
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def test_bytes_and_path_decode_identically(fr):
    p = fr / "examples" / "biden.jpg"
    assert np.array_equal(load_image(p), load_image(p.read_bytes()))


def test_rgb_array_order_is_respected(fr):
    bgr = load_image(fr / "examples" / "biden.jpg")
    assert np.array_equal(load_image(bgr[:, :, ::-1].copy(), rgb=True), bgr)


def test_rgba_png_composited(fr, engine):
    img = load_image(fr / "tests" / "test_images" / "32bit.png")
    assert img.shape == (1200, 626, 3)
    assert len(engine.detect(img)) == 1


def test_grayscale_pgm(att, engine):
    img = load_image(att / "s1" / "1.pgm")
    assert img.shape == (112, 92, 3)
    assert np.array_equal(img[:, :, 0], img[:, :, 1])
    assert len(engine.detect(att / "s1" / "1.pgm")) == 1


@pytest.fixture(scope="module")
def obama_rgb(fr):
    return np.asarray(Image.open(fr / "examples" / "obama.jpg").convert("RGB"))


def _save(tmp_path, name, img, **kw):
    p = tmp_path / name
    img.save(p, **kw)
    return p


def test_16bit_png(tmp_path, obama_rgb, engine):
    gray16 = (np.asarray(Image.fromarray(obama_rgb).convert("L")).astype(np.uint16) * 257)
    p = _save(tmp_path, "g16.png", Image.fromarray(gray16))
    img = load_image(p)
    assert img.dtype == np.uint8 and img.max() > 200
    assert len(engine.detect(p)) == 1


def test_palette_png(tmp_path, obama_rgb, engine):
    p = _save(tmp_path, "pal.png", Image.fromarray(obama_rgb).convert("P", palette=Image.ADAPTIVE))
    assert len(engine.detect(p)) == 1


def test_exif_orientation_applied(tmp_path, obama_rgb, engine):
    # Store the pixels rotated and let the EXIF tag (6 = rotate 90 CW to display) undo it.
    rotated = Image.fromarray(obama_rgb).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    p = _save(tmp_path, "exif.jpg", rotated, exif=exif.tobytes(), quality=95)
    img = load_image(p)
    assert img.shape[:2] == obama_rgb.shape[:2]
    faces = engine.detect(p)
    assert len(faces) == 1
    right_eye, left_eye = faces[0].landmarks[0], faces[0].landmarks[1]
    assert abs(right_eye[1] - left_eye[1]) < 0.2 * abs(right_eye[0] - left_eye[0])   # eyes level: upright


def test_empty_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty"):
        load_image(p)


def test_truncated_jpeg(tmp_path, fr):
    data = (fr / "examples" / "obama.jpg").read_bytes()
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageDecodeError, match="truncated"):
        load_image(p)


def test_text_renamed_jpg(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a picture\n" * 20)
    with pytest.raises(ImageDecodeError, match="not a recognised image"):
        load_image(p)


def test_missing_file(tmp_path):
    with pytest.raises(ImageDecodeError, match="no such file"):
        load_image(tmp_path / "nope.jpg")


def test_50000_pixel_wide_image_refused_before_decoding(tmp_path):
    buf = io.BytesIO()
    Image.new("L", (50_000, 8)).save(buf, format="PNG")
    with pytest.raises(ImageTooLargeError, match="50000x8"):
        load_image(buf.getvalue())


def test_byte_limit(fr):
    with pytest.raises(ImageTooLargeError, match="MiB"):
        load_image(fr / "examples" / "obama-1080p.jpg", limits=Limits(max_bytes=10_000))


def test_bad_arrays():
    with pytest.raises(ImageDecodeError):
        load_image(np.zeros((10, 10, 7), np.uint8))
    with pytest.raises(ImageDecodeError):
        load_image(np.full((10, 10), np.nan))
    assert load_image(np.ones((4, 4), np.float32)).max() == 255


def test_engine_limits_apply(fr):
    eng = Engine(limits=Limits(max_side=200))
    with pytest.raises(ImageTooLargeError, match="limit is 200 px"):
        eng.detect(fr / "examples" / "obama.jpg")
