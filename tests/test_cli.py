import json
import os
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
    calibration = stats["calibration"]                      # 5 subjects: too few to observe an FMR
    assert calibration["subjects"] == 5 and calibration["one_to_one"]["fmr_observed"] is None
    assert calibration["one_to_one"]["threshold"] > 0 and calibration["open_set"]["fmr_target"] < 1e-3
    r = run("gallery", "--gallery", db, "show", "nobody")
    assert r.returncode == 2 and "no subject named 'nobody'" in r.stderr


def _small_folders(att, root):
    """Four AT&T identities, three photos each: enough for a whole `evaluate folders` run in seconds."""
    for person in ("s1", "s2", "s3", "s4"):
        (root / person).mkdir(parents=True)
        for photo in ("1.pgm", "2.pgm", "3.pgm"):
            (root / person / photo).symlink_to(att / person / photo)
    return root


def _evaluate_small(att, tmp_path, stderr):
    return subprocess.Popen(*_evaluate_argv(att, tmp_path), stdout=subprocess.PIPE, stderr=stderr, text=True)


def _evaluate_argv(att, tmp_path):
    data = _small_folders(att, tmp_path / "data")
    env = {**os.environ, "FACEPRINT_CACHE": str(tmp_path / "cache")}     # templates computed, not cached
    return [sys.executable, "-m", "faceprint.cli", "evaluate", "folders", "--data", str(data)], {"env": env}


def test_evaluate_into_a_log_file_writes_no_progress_bar(att, tmp_path):
    log = tmp_path / "log"
    argv, kw = _evaluate_argv(att, tmp_path)
    with open(log, "w") as err:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=err, text=True, timeout=300, **kw)
    assert r.returncode == 0, log.read_text()
    assert "sface" in r.stdout and "accuracy" in r.stdout
    # Bytes: reading text would turn every carriage return into a newline.
    assert b"\r" not in log.read_bytes(), "a progress bar went to a redirected stderr"


def test_evaluate_on_a_terminal_shows_the_progress_bar(att, tmp_path):
    import fcntl
    import pty
    import struct
    import termios
    argv, kw = _evaluate_argv(att, tmp_path)
    master, slave = pty.openpty()
    # A terminal 100 columns wide (a fresh pty has 0, where tqdm draws nothing).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=slave, **kw)
    os.close(slave)
    seen = b""
    while True:                           # read while it runs: a full terminal buffer would block it
        try:
            chunk = os.read(master, 65536)
        except OSError:                   # EIO: the program closed its end of the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert p.wait(timeout=300) == 0, seen.decode(errors="replace")
    assert b"templates (sface" in seen and b"\r" in seen


# Every optional package (the extras in pyproject.toml): hidden, as on a `pip install .` without extras.
EXTRAS_MODULES = ("onnxruntime", "matplotlib", "psycopg", "pymilvus", "milvus_lite", "dlib", "face_recognition_models",
                  "fastapi", "uvicorn", "httpx", "av", "paho")


def test_core_install_runs_the_commands_that_name_no_extra(att, fr, tmp_path):
    """A None in sys.modules makes an import fail as if the package were not installed (and find_spec
    say so); CI also runs `faceprint` from a wheel installed without extras."""
    data = _small_folders(att, tmp_path / "data")
    db = tmp_path / "g.db"
    runs = [["evaluate", "folders", "--data", str(data), "--json", str(tmp_path / "r.json")], ["models"],
            ["verify", str(fr / "examples/obama.jpg"), str(fr / "examples/obama2.jpg")],
            ["enroll", "--gallery", str(db), "obama", str(fr / "examples/obama.jpg")],
            ["identify", "--gallery", str(db), str(fr / "examples/obama2.jpg")]]
    code = ("import sys\n"
            f"for m in {EXTRAS_MODULES!r}: sys.modules[m] = None\n"
            "from faceprint.cli import main\n"
            f"for argv in {runs!r}:\n"
            "    code = main(argv)\n"
            "    if code: sys.exit(f'{argv[0]} exited {code}')\n")
    env = {**os.environ, "FACEPRINT_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "onnxruntime" not in json.loads((tmp_path / "r.json").read_text())["software"]
    assert "SAME person" in r.stdout and "obama" in r.stdout


def test_commands_use_the_model_the_gallery_holds(tmp_path, fr):
    """A gallery of flipped SFace templates: identify and a second enrol need no --embedder/--flip,
    and a probe of another model named on the command line is refused, saying which."""
    db, ex = tmp_path / "flip.db", fr / "examples"
    r = run("enroll", "--gallery", db, "obama", ex / "obama.jpg", "--flip")
    assert r.returncode == 0, r.stderr
    assert run("enroll", "--gallery", db, "biden", ex / "biden.jpg").returncode == 0
    stats = json.loads(run("gallery", "--gallery", db, "stats").stdout)
    assert stats["model"] == "sface:flip" and stats["subjects"] == 2
    r = run("identify", "--gallery", db, ex / "obama2.jpg", "--json")
    assert r.returncode == 0, r.stderr
    assert [f["decision"] for f in json.loads(r.stdout)["faces"]] == ["obama"]
    r = run("identify", "--gallery", db, ex / "obama2.jpg", "--no-flip")
    assert r.returncode == 2 and "sface:flip" in r.stderr, r.stderr
