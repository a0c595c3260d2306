"""`faceprint liveness` and `faceprint evaluate pad` on real NUAA frames, with their exit codes."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import DATA, need

NUAA = DATA / "pad_nuaa"


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "faceprint.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def frames():
    live = sorted((need(NUAA) / "live" / "0006").glob("*.jpg"))
    attack = sorted((NUAA / "print_attack" / "0006").glob("*.jpg"))
    return live, attack


def test_liveness_json_and_exit_codes(frames, tmp_path):
    live, attack = frames
    r = run("liveness", live[1], "--json")           # [0] also shows a colleague far behind: not judged
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["image"] == str(live[1]) and len(out["faces"]) == 1
    face = out["faces"][0]
    assert len(face["box"]) == 4 and face["liveness"]["live"] is True
    assert 0 <= face["liveness"]["threshold"] <= face["liveness"]["score"] <= 1
    r = run("liveness", live[1], attack[0], "--json")
    assert r.returncode == 1, r.stderr                       # one face is not live
    results = json.loads(r.stdout)["results"]
    assert [f["liveness"]["live"] for f in results[0]["faces"]] == [True]
    assert not max(results[1]["faces"], key=lambda f: f["box"][2])["liveness"]["live"]
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 90, np.uint8))
    (tmp_path / "notes.jpg").write_text("not an image")
    for bad in (blank, tmp_path / "notes.jpg", tmp_path / "absent.jpg"):
        r = run("liveness", bad)
        assert r.returncode == 2 and r.stderr.startswith("faceprint: error:") and "Traceback" not in r.stderr, r.stderr
    assert "no face" in run("liveness", blank).stderr
    r = run("liveness", live[1], "--liveness-threshold", "1.5")
    assert r.returncode == 2 and "between 0 and 1" in r.stderr
    r = run("verify", live[1], attack[0], "--liveness", "--json")
    assert r.returncode == 1, r.stderr                       # same person, but b is a print
    out = json.loads(r.stdout)
    assert out["live"] is False and out["image_a"]["liveness"]["live"] and not out["image_b"]["liveness"]["live"]


def test_evaluate_pad_json_and_report(frames, tmp_path):
    live, attack = frames
    data = tmp_path / "set"
    for kind, files in (("live", live[::6]), ("print_attack", attack[::6])):
        (data / "site" / kind / "0006").mkdir(parents=True)
        for f in files:
            (data / "site" / kind / "0006" / f.name).symlink_to(f)
    out, report = tmp_path / "pad.json", tmp_path / "report"
    r = run("evaluate", "pad", "--data", data, "--json", out, "--report", report)
    assert r.returncode == 0, r.stderr
    figures = json.loads(out.read_text())
    assert figures["n_live"] == len(live[::6]) and figures["n_attack"] == len(attack[::6])
    assert all(0 <= figures[k] <= 1 for k in ("threshold", "apcer", "bpcer", "acer"))
    assert figures["apcer"] == 0.0 and figures["apcer_per_type"] == {"print_attack": 0.0}
    assert set(figures["apcer_at_bpcer"]) == {"0.01", "0.05", "0.1"} and figures["det"]["apcer"]
    page = (report / "report.html").read_text()
    assert 'alt="DET curve"' in page and "print_attack" in page
    r = run("evaluate", "pad", "--data", data / "site" / "live")
    assert r.returncode == 2 and "attack" in r.stderr


def _sequence(kind: str, sequence: str) -> list[np.ndarray]:
    paths = sorted((NUAA / kind / sequence[:4]).glob(f"{sequence}_*.jpg"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    return [cv2.imread(str(p)) for p in paths]


def _write_clip(path, frames, fps=10):
    import av
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt, s.bit_rate = 640, 480, "yuv420p", 4_000_000
        for img in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def test_watch_liveness_one_decision_per_track(tmp_path, capsys):
    """Subject 0006 (held out from the threshold's fit) in person, then a print of them: the same
    person is recognised in both tracks, but the print's track gives an `attack` event instead."""
    from faceprint import Engine, Gallery
    from faceprint.cli import main
    need(NUAA)
    eng = Engine()
    with Gallery.open(tmp_path / "g.db", create=True, engine=eng) as g:
        for name, kind, seq in (("0006", "live", "0006_00_06_03"), ("0002", "live", "0002_01_00_01"),
                                ("0008", "live", "0008_00_00_02")):
            g.enroll(name, [eng.template(img) for img in _sequence(kind, seq)[:2]], force=True)
    hold = 3                                     # each NUAA frame (1 s apart) shown for 0.3 s at 10 fps
    gap = [np.full((480, 640, 3), 110, np.uint8)] * 20
    frames = [f for f in _sequence("live", "0006_00_00_01") for _ in range(hold)] + gap + \
             [f for f in _sequence("print_attack", "0006_00_08_03") for _ in range(hold)] + gap
    clip = _write_clip(tmp_path / "gate.mp4", frames)
    assert main(["watch", str(clip), "--gallery", str(tmp_path / "g.db"), "--liveness", "--json", "--fps", "0"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    decided = [(e["event"], e["subject"], e["live"]) for e in events if e["event"] in ("recognized", "attack")]
    assert decided == [("recognized", "0006", True), ("attack", "0006", False)], events
    ends = [e for e in events if e["event"] == "track_end" and e["subject"] == "0006"]
    assert [e["live"] for e in ends] == [True, False] and all(0 <= e["live_score"] <= 1 for e in ends)
    # identify --liveness: the print is refused (no decision) though its best candidate is 0006.
    for kind, seq, code in (("live", "0006_00_00_02", 0), ("print_attack", "0006_00_08_03", 1)):
        photo = tmp_path / f"{kind}.jpg"
        cv2.imwrite(str(photo), _sequence(kind, seq)[0])
        assert main(["identify", str(photo), "--gallery", str(tmp_path / "g.db"), "--liveness", "--json"]) == code
        [face] = [f for f in json.loads(capsys.readouterr().out)["faces"] if f["candidates"]][:1]
        assert face["candidates"][0]["subject"] == "0006"
        assert face["liveness"]["live"] is (code == 0) and (face["decision"] == "0006") is (code == 0)


def test_liveness_of_clips_and_bad_clips(tmp_path):
    """A clip is judged per face track; a clip without a face, or where no face stays 3 frames,
    is bad input (exit 2, one line), never a crash."""
    need(NUAA)
    live = _write_clip(tmp_path / "live.mp4", [f for f in _sequence("live", "0006_00_00_01") for _ in range(3)])
    one = _write_clip(tmp_path / "one.mp4", _sequence("live", "0006_00_00_01")[:1])
    blank = _write_clip(tmp_path / "blank.mp4", [np.full((480, 640, 3), 90, np.uint8)] * 10)
    r = run("liveness", live, "--json")
    assert r.returncode == 0, r.stderr
    tracks = json.loads(r.stdout)["tracks"]
    assert tracks[0]["live"] is True and tracks[0]["frames"] >= 10
    for clip, why in ((one, "no face stays for 3 frames"), (blank, "no face")):
        r = run("liveness", clip)
        assert r.returncode == 2 and why in r.stderr and "Traceback" not in r.stderr, r.stderr
