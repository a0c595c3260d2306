"""Passive liveness: the shipped MiniFASNet conversions, their decisions on real NUAA frames of
subjects the threshold was not fitted on, simulated replays, the PAD metrics, and bad input."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import DATA, ROOT, need
from faceprint import models, runtime
from faceprint.errors import LivenessError, UsageError
from faceprint.evaluate import pad
from faceprint.evaluate.replay import replay
from faceprint.stages.liveness import MIN_FACE_PX, PassiveLiveness, track_score
from faceprint.types import Face
from faceprint.util import sha256

REFERENCE = json.loads((Path(__file__).with_name("minifasnet_reference.json")).read_text())
SAMPLES = ROOT.parent / "shared" / "models" / "minifasnet"
NUAA = DATA / "pad_nuaa"


@pytest.fixture(scope="module")
def liveness():
    return PassiveLiveness()


@pytest.fixture(scope="module")
def detector():
    from faceprint.detect import create_detector
    return create_detector("yunet")


def largest(detector, img):
    faces = detector.detect([img])[0]
    assert faces, "no face found"
    return max(faces, key=lambda f: f.area)


def test_shipped_conversions_match_manifest_reference_and_carry_licence():
    for name in ("minifasnet_v2", "minifasnet_v1se"):
        spec = models.get(name, task="liveness")
        path = spec.path()                      # verifies the manifest's SHA-256
        assert sha256(path) == spec.files["weights"]["sha256"] == REFERENCE["models"][name]["sha256"]
        assert spec.license == "Apache-2.0"
    folder = models.MANIFEST.parent
    notice = (folder / "MINIFASNET_NOTICE").read_text()
    assert "Apache License" in (folder / "MINIFASNET_LICENSE").read_text()
    assert all(m["source_sha256"] in notice for m in REFERENCE["models"].values())


@pytest.mark.parametrize("rt", runtime.available())
def test_every_runtime_matches_pytorch_on_the_upstream_samples(rt):
    """The same crops give PyTorch's logits (recorded by scripts/convert_minifasnet.py) in every runtime."""
    need(SAMPLES / "image_T1.jpg")
    live = PassiveLiveness(runtime=rt)
    for image, entry in REFERENCE["samples"].items():
        img = cv2.imread(str(SAMPLES / image))
        for part in live.parts:
            x0, y0, x1, y1 = entry[part.name]["crop"]
            got = part.logits([cv2.resize(img[y0:y1 + 1, x0:x1 + 1], (80, 80))])[0]
            assert np.abs(got - entry[part.name]["logits"]).max() < 1e-3, (rt, image, part.name)


def test_upstream_samples_are_judged_as_upstream_labels_them(liveness, detector):
    need(SAMPLES / "image_T1.jpg")
    for image, entry in REFERENCE["samples"].items():
        img = cv2.imread(str(SAMPLES / image))
        [result] = liveness.assess(img, [largest(detector, img)])
        assert result.live == (entry["truth"] == "live"), (image, result)
        assert 0.0 <= result.score <= 1.0 and set(result.models) == {"minifasnet_v2", "minifasnet_v1se"}


def test_nuaa_held_out_subjects(liveness, detector):
    """Live frames judged live and print attacks rejected, on subjects the threshold never saw."""
    samples = pad.walk(need(NUAA))
    fit, held_out = pad.subject_split(s.subject for s in samples)
    assert ", ".join(fit) in liveness.spec.thresholds["bpcer"]["source"], "the shipped threshold's fit subjects changed"
    test = [s for s in samples if s.subject in held_out][::2]
    scored = pad.score_samples(test, detector, liveness)
    r = pad.rates(scored.data, liveness.threshold)
    assert r["n_live"] >= 20 and r["n_attack"] >= 40 and not scored.no_face
    assert r["apcer"] <= 0.02           # measured 0.000 on all held-out frames (bench/results/liveness.json)
    assert r["pooled"]["bpcer"] <= 0.15   # measured 0.083 pooled, 0.100 subject-averaged


def test_simulated_replays_are_rejected(liveness, detector):
    """Weaker evidence than recorded replays: a live frame shown on a simulated screen."""
    sources = [s for s in pad.walk(need(NUAA)) if s.live][::20]
    accepted = []
    for i, s in enumerate(sources):
        frame = replay(cv2.imread(str(s.path)), "full", seed=i)
        faces = detector.detect([frame])[0]
        if faces:
            accepted.append(liveness.assess(frame, [max(faces, key=lambda f: f.area)])[0].live)
    assert len(accepted) >= 4 and sum(accepted) <= 1


def test_bad_input_gives_typed_errors(liveness):
    face = Face(box=np.array([10, 10, 60, 60], np.float32), landmarks=np.zeros((5, 2), np.float32), score=0.9)
    img = np.full((120, 120, 3), 128, np.uint8)
    assert liveness.assess(img, []) == []
    with pytest.raises(LivenessError, match="BGR uint8"):
        liveness.assess(img[:, :, 0], [face])
    with pytest.raises(LivenessError, match="at least 16 px"):
        liveness.assess(img[:8, :8], [face])
    empty = Face(box=np.array([10, 10, 0, 40], np.float32), landmarks=np.zeros((5, 2), np.float32), score=0.9)
    with pytest.raises(LivenessError, match="empty"):
        liveness.assess(img, [empty])
    tiny = Face(box=np.array([10, 10, 20, 20], np.float32), landmarks=np.zeros((5, 2), np.float32), score=0.9)
    [result] = liveness.assess(img, [tiny])
    assert not result.live and f"{MIN_FACE_PX} px" in result.reason
    with pytest.raises(LivenessError):
        track_score([])
    with pytest.raises(LivenessError, match="outside"):
        PassiveLiveness(threshold=2.0)


def test_track_score_is_not_decided_by_one_frame():
    assert track_score([0.9, 0.9, 0.9]) == pytest.approx(0.9)
    assert track_score([0.01, 0.01, 0.01, 0.01, 1.0]) < 0.2     # one certain frame among four attacks


def test_pad_walker_finds_classes_and_subjects_at_any_depth(tmp_path):
    for rel in ("site/live/s1/a.jpg", "site/live/s1/b.jpg", "site/print_attack/s1/c.png",
                "site/replay_attack/s2/d.jpg", "site/live/e.jpg", "other/x.jpg", "site/live/s1/notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = {(s.path.name, s.attack, s.subject) for s in pad.walk(tmp_path)}
    assert found == {("a.jpg", None, "site/s1"), ("b.jpg", None, "site/s1"), ("c.png", "print_attack", "site/s1"),
                     ("d.jpg", "replay_attack", "site/s2"), ("e.jpg", None, "site/e")}
    (tmp_path / "only" / "live").mkdir(parents=True)
    (tmp_path / "only" / "live" / "a.jpg").write_bytes(b"x")
    with pytest.raises(UsageError, match="both a live/ folder and an"):
        pad.walk(tmp_path / "only")
    with pytest.raises(UsageError, match="not a folder"):
        pad.walk(tmp_path / "absent")


def test_pad_rates_are_per_subject_and_per_attack_type():
    """Subject B's one rejected live frame weighs as much as subject A's ten accepted ones; the worst
    attack type is the APCER."""
    scores = [0.9] * 10 + [0.1] + [0.8, 0.1, 0.1, 0.1] + [0.1, 0.1]
    attacks = [None] * 11 + ["print"] * 4 + ["replay"] * 2
    subjects = ["A"] * 10 + ["B"] + ["A", "A", "B", "B"] + ["A", "B"]
    r = pad.rates(pad.PadScores(scores, attacks, subjects), 0.5)
    assert r["bpcer"] == pytest.approx(0.5) and r["pooled"]["bpcer"] == pytest.approx(1 / 11)
    assert r["apcer_per_type"] == {"print": pytest.approx(0.25), "replay": 0.0}
    assert r["apcer"] == pytest.approx(0.25) and r["acer"] == pytest.approx(0.375)
    assert r["worst_subject"] == {"bpcer": 1.0, "apcer": 0.5}
    data = pad.PadScores(scores, attacks, subjects)
    assert pad.threshold_for_bpcer(data, 0.01) == pytest.approx(0.1)     # rejecting B's frame costs 50%
    d = pad.det(data)
    assert np.all(np.diff(d["bpcer"]) >= 0) and np.all(np.diff(d["apcer"]) <= 0)


def nuaa_sequence(kind: str, sequence: str, frames: int) -> list[Path]:
    """The first frames of one NUAA sequence (file names ID_glasses_position_session_frame), in order."""
    paths = sorted((need(NUAA) / kind / sequence[:4]).glob(f"{sequence}_*.jpg"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    assert len(paths) >= frames
    return paths[:frames]


def test_clip_tracks_get_one_decision_each(liveness, detector):
    """A live person and a print side by side: two tracks, judged apart, each over all its frames."""
    from faceprint.stream.liveness import clip_liveness
    # Sequences where the print moves less than a face width between frames (NUAA keeps every 25th
    # frame, one second apart: the tracker follows what a 25 fps video would show in small steps).
    live = [cv2.imread(str(p)) for p in nuaa_sequence("live", "0006_00_00_01", 4)]
    attack = [cv2.imread(str(p)) for p in nuaa_sequence("print_attack", "0003_01_08_03", 4)]
    tracks = clip_liveness([np.hstack([a, b]) for a, b in zip(live, attack)], detector=detector, liveness=liveness)
    main = [t for t in tracks if t.frames == 4]
    assert len(main) == 2 and {t.live for t in main} == {True, False}
    # A passer-by seen in one frame behind the print stays undecided rather than judged on one frame.
    assert all(t.live is None and t.score is None for t in tracks if t.frames < 3)


def test_bad_clips_give_typed_errors(liveness, detector, monkeypatch):
    from faceprint.errors import NoFaceError
    from faceprint.stream import liveness as stream_liveness
    frame = cv2.imread(str(nuaa_sequence("live", "0004_01_00_01", 1)[0]))
    with pytest.raises(LivenessError, match="no face stays for 3 frames"):
        stream_liveness.clip_liveness([frame], detector=detector, liveness=liveness)
    with pytest.raises(NoFaceError, match="no face"):
        stream_liveness.clip_liveness([np.zeros((240, 320, 3), np.uint8)] * 3, detector=detector, liveness=liveness)
    with pytest.raises(LivenessError, match="no frames"):
        stream_liveness.clip_liveness([], detector=detector, liveness=liveness)
    monkeypatch.setattr(stream_liveness, "MAX_CLIP_FRAMES", 3)
    with pytest.raises(LivenessError, match="short clip"):
        stream_liveness.clip_liveness([frame] * 5, detector=detector, liveness=liveness)
