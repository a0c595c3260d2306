import json
import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "faceprint.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_verify_json(fr, engine, tmp_path):
    r = run("verify", fr / "examples/obama.jpg", fr / "examples/obama2.jpg", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["same"] is True and out["score"] > out["threshold"]
    assert out["image_a"]["masked"] is False and out["image_b"]["masked"] is False
    # A masked probe is said to be one.
    import cv2
    from faceprint.evaluate.masks import draw_mask
    img = cv2.imread(str(fr / "examples/obama2.jpg"))
    cv2.imwrite(str(tmp_path / "masked.jpg"), draw_mask(img, engine.detect(img)[0], shape="n95", colour="white"))
    r = run("verify", fr / "examples/obama.jpg", tmp_path / "masked.jpg", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["image_b"]["masked"] is True


def test_detect_json_group_photo(fr):
    r = run("detect", fr / "examples/two_people.jpg", "--json")
    assert r.returncode == 0
    faces = json.loads(r.stdout)["faces"]
    assert len(faces) == 2 and len(faces[0]["landmarks"]) == 5


def test_models_all_ok():
    r = run("models", "--json")
    assert r.returncode == 0
    assert all(m["ok"] for m in json.loads(r.stdout))


@pytest.mark.parametrize("content,needle", [
    (b"", "empty"),
    (b"hello, I am text\n", "not a recognised image"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "truncated"),
])
def test_bad_input_one_line_no_traceback(tmp_path, fr, content, needle):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(content)
    r = run("verify", bad, fr / "examples/obama.jpg")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "bad.jpg" in lines[0]


def test_no_face_exits_nonzero(tmp_path, fr):
    import cv2
    import numpy as np
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.zeros((100, 100, 3), np.uint8))
    r = run("verify", blank, fr / "examples/obama.jpg")
    assert r.returncode == 2 and "no face found in" in r.stderr and "Traceback" not in r.stderr


def test_enroll_identify_gallery_commands(tmp_path, fr):
    db = tmp_path / "staff.db"
    r = run("enroll", "--gallery", db, "--from-folders", fr / "examples/knn_examples/train", "--consent", "signed 2026-11-02")
    assert r.returncode == 0, r.stderr
    assert "enrolled 5 subjects" in r.stdout
    r = run("enroll", "--gallery", db, "Joe Biden", fr / "examples/biden.jpg")
    assert r.returncode == 0 and "1 template(s)" in r.stdout
    r = run("enroll", "--gallery", db, "barack", fr / "examples/obama.jpg", fr / "examples/obama-240p.jpg", "--best", "1")
    assert r.returncode == 0 and "1 template(s)" in r.stdout and "best-quality" in r.stderr, r.stderr
    assert run("gallery", "--gallery", db, "delete", "barack").returncode == 0
    r = run("identify", "--gallery", db, fr / "examples/knn_examples/test/obama_and_biden.jpg", "--k", "3", "--json")
    assert r.returncode == 0, r.stderr
    faces = json.loads(r.stdout)["faces"]
    assert len(faces) == 3
    decisions = sorted(f["decision"] for f in faces if f["decision"])
    assert decisions in (["Joe Biden", "obama"], ["biden", "obama"])
    assert all({"subject", "score", "rank"} <= set(c) for f in faces for c in f["candidates"])
    assert sum(f["decision"] is None for f in faces) == 1                # the child is not enrolled
    r = run("gallery", "--gallery", db, "show", "obama")
    assert json.loads(r.stdout)["metadata"] == {"consent": "signed 2026-11-02"}
    assert run("gallery", "--gallery", db, "delete", "obama").returncode == 0
    listed = json.loads(run("gallery", "--gallery", db, "list", "--json").stdout)
    assert "obama" not in {s["name"] for s in listed} and len(listed) == 5
    stats = json.loads(run("gallery", "--gallery", db, "stats").stdout)
    assert stats["templates"] == stats["indexed"] == 8
    r = run("gallery", "--gallery", db, "show", "nobody")
    assert r.returncode == 2 and "no subject named 'nobody'" in r.stderr
