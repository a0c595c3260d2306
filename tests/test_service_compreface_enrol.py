"""Enrolment through the CompreFace routes as CompreFace clients expect it: CompreFace's own SDK
(0.6.0 from PyPI, unmodified) enrols the first frontal photo of 20 in-the-wild people (CFP, not
LFW) on a fresh gallery and then recognises each from another photo; under `--enrol-policy strict`
every refusal names its real reason (quality, mask, duplicate, near duplicate, no face)."""
from __future__ import annotations

import json

import pytest

from conftest import DATA, need
from service_clients import sdk_venv
from service_server import Server, make_key

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
CFP = DATA / "cfp" / "Data"
ADD = "/api/v1/recognition/faces"


@pytest.fixture(scope="module")
def people() -> list[dict]:
    """The first 20 CFP people: frontal/01.jpg to enrol, frontal/02.jpg to recognise."""
    names = need(CFP / "list_name.txt").read_text().splitlines()
    return [{"name": names[i - 1], "enrol": str(CFP / f"Images/{i:03d}/frontal/01.jpg"),
             "probe": str(CFP / f"Images/{i:03d}/frontal/02.jpg")} for i in range(1, 21)]


@pytest.fixture(scope="module")
def sdk(tmp_path_factory):
    try:
        return sdk_venv.make(tmp_path_factory.mktemp("compreface-sdk"))
    except RuntimeError as exc:
        pytest.fail(str(exc))


def _server(tmp_path_factory, *flags: str):
    g = str(tmp_path_factory.mktemp("cf-enrol") / "g.db")
    key = make_key(g, "admin")
    return Server([g], *flags).start(), key


@pytest.fixture(scope="module")
def warn(tmp_path_factory):
    s, key = _server(tmp_path_factory)            # warn is the default for the CompreFace routes
    yield s, key
    s.stop()


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    s, key = _server(tmp_path_factory, "--enrol-policy", "strict")
    yield s, key
    s.stop()


def _refusal(engine, photo) -> tuple[str, str] | None:
    """What the library's quality gate says of this photo's face: (code, reason) or None."""
    from faceprint import quality
    return quality.enrolment_refusal(engine.template(photo))


def _expected_warning(engine, photo) -> str | None:
    """What the warn policy should say of this photo: the gate's refusal, else the weak-photo warning."""
    from faceprint import quality
    t = engine.template(photo)
    refusal = quality.enrolment_refusal(t)
    return refusal[1] if refusal else quality.enrolment_warning(t)


def _tiny(scale: float) -> bytes:
    """A CFP face shrunk by `scale` on a small canvas: at 0.12 too small to recognise (the gate's
    low_quality), at 0.15 enrolled but weak."""
    import cv2
    import numpy as np
    img = cv2.imread(str(CFP / "Images/012/frontal/01.jpg"))
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((120, 160, 3), 120, np.uint8)
    canvas[10:10 + small.shape[0], 10:10 + small.shape[1]] = small
    return cv2.imencode(".png", canvas)[1].tobytes()


def _unusable(engine) -> bytes:
    data = _tiny(0.12)
    refusal = _refusal(engine, data)
    if not refusal or refusal[0] != "low_quality":
        pytest.fail(f"the 12%-scale face is no longer refused as low quality ({refusal}); pick another size")
    return data


def test_sdk_enrols_first_photo_of_20_people_then_recognises_them(warn, sdk, people, engine):
    s, key = warn
    port = s.url.rsplit(":", 1)[1]
    out = json.loads(sdk_venv.drive(sdk, "compreface_sdk_enrol.py", "http://127.0.0.1", port, key, json.dumps(people)))
    errors = [(p["name"], a) for p, a in zip(people, out["added"]) if "image_id" not in a]
    assert errors == []
    assert [a["subject"] for a in out["added"]] == [p["name"] for p in people]
    assert sorted(out["subjects"]["subjects"]) == sorted(p["name"] for p in people)
    # A photo the quality gate would refuse, or a weak one, is enrolled with a warning that says why
    # (extra fields a CompreFace client ignores); the others carry none.
    for p, a in zip(people, out["added"]):
        expected = _expected_warning(engine, p["enrol"])
        assert 0 <= a["quality"] <= 1
        assert (a.get("warning") is not None) == (expected is not None), (p["name"], a, expected)
        if expected:
            assert expected.split(";")[0] in a["warning"]
    top = [r["result"][0]["subjects"][0] if "result" in r else r for r in out["recognised"]]
    wrong = [(p["name"], t) for p, t in zip(people, top) if t.get("subject") != p["name"]]
    assert wrong == []


def _post(c, key, subject, data: bytes, det: float = 0.8):
    """faces.add as the SDK sends it; the tiny test faces need a lower det_prob_threshold."""
    return c.post(ADD, params={"subject": subject, "det_prob_threshold": det}, headers={"x-api-key": key},
                  files={"file": ("p.jpg", data, "image/jpeg")})


def _masked(engine, fr) -> bytes:
    import cv2

    from faceprint.evaluate.masks import draw_mask
    img = cv2.imread(str(fr / "examples/obama-480p.jpg"))
    return cv2.imencode(".jpg", draw_mask(img, engine.detect(img)[0]))[1].tobytes()


def _reencoded(path) -> bytes:
    """The same photo saved again (other bytes, the same face): a near duplicate."""
    import cv2
    return cv2.imencode(".jpg", cv2.imread(str(path)), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()


def test_strict_refusals_name_the_real_reason(strict, engine, fr, people):
    import cv2
    import numpy as np
    s, key = strict
    good = open(people[2]["enrol"], "rb").read()
    noface = cv2.imencode(".jpg", np.full((240, 320, 3), 90, np.uint8))[1].tobytes()
    with httpx.Client(base_url=s.url, timeout=60) as c:
        r = _post(c, key, "Tiny Face", _unusable(engine), det=0.3)
        assert r.status_code == 400 and r.json()["reason"] == "low_quality", r.text
        assert "cannot be recognised" in r.json()["message"] and "duplicate" not in r.json()["message"]
        assert "--force" not in r.json()["message"]
        r = _post(c, key, "Masked Obama", _masked(engine, fr))
        assert r.status_code == 400 and r.json()["reason"] == "masked", r.text
        assert "mask" in r.json()["message"] and "already enrolled" not in r.json()["message"]
        r = _post(c, key, "Nobody", noface)
        assert r.status_code == 400 and r.json() == {"message": "No face is found in the given image", "code": 28}

        r = _post(c, key, people[2]["name"], good)
        assert r.status_code == 201 and "warning" not in r.json(), r.text
        first = r.json()["image_id"]
        r = _post(c, key, people[2]["name"], good)
        assert r.status_code == 409 and r.json()["reason"] == "duplicate", r.text
        assert "already enrolled" in r.json()["message"] and "quality" not in r.json()["message"]
        r = _post(c, key, people[2]["name"], _reencoded(people[2]["enrol"]))
        assert r.status_code == 409 and r.json()["reason"] == "near_duplicate", r.text
        assert "nearly identical" in r.json()["message"]
        # nothing refused was stored, and the refused subjects were not created
        listed = c.get(ADD, headers={"x-api-key": key}).json()
        assert [f["image_id"] for f in listed["faces"]] == [first]
        assert c.get("/api/v1/recognition/subjects", headers={"x-api-key": key}).json()["subjects"] == [people[2]["name"]]


def test_warn_enrols_what_strict_refuses_but_never_a_duplicate(warn, engine, fr):
    s, key = warn
    masked = _masked(engine, fr)
    with httpx.Client(base_url=s.url, timeout=60) as c:
        r = _post(c, key, "Tiny Face", _unusable(engine), det=0.3)
        assert r.status_code == 201 and "cannot be recognised" in r.json()["warning"], r.text
        r = _post(c, key, "Small Face", _tiny(0.15), det=0.3)
        assert r.status_code == 201 and r.json()["warning"].startswith("weak photo"), r.text
        r = _post(c, key, "Masked Obama", masked)
        assert r.status_code == 201 and "mask" in r.json()["warning"], r.text
        r = _post(c, key, "Masked Obama", masked)
        assert r.status_code == 409 and r.json()["reason"] == "duplicate", r.text


def test_sdk_shows_the_strict_refusal(strict, sdk, engine, tmp_path):
    """What a CompreFace client's user sees: the SDK hands back the error JSON, which says why."""
    s, key = strict
    tiny = tmp_path / "tiny.png"
    tiny.write_bytes(_unusable(engine))
    port = s.url.rsplit(":", 1)[1]
    who = [{"name": "Tiny Face", "enrol": str(tiny), "probe": str(tiny), "det": 0.3}]
    out = json.loads(sdk_venv.drive(sdk, "compreface_sdk_enrol.py", "http://127.0.0.1", port, key, json.dumps(who)))
    assert "image_id" not in out["added"][0] and "cannot be recognised" in out["added"][0]["message"]


def test_native_api_keeps_its_explicit_force(warn, engine, fr):
    """The native route ignores --enrol-policy: a masked face is refused, saying so, unless force=true."""
    s, key = warn
    masked = _masked(engine, fr)
    with httpx.Client(base_url=s.url, headers={"x-api-key": key}, timeout=60) as c:
        r = c.post("/v1/subjects/Masked Person/examples", files={"file": ("m.jpg", masked, "image/jpeg")})
        assert r.status_code == 400 and r.json()["code"] == "masked" and "mask" in r.json()["message"], r.text
        assert c.get("/v1/subjects/Masked Person").status_code == 404
        r = c.post("/v1/subjects/Masked Person/examples", params={"force": "true"},
                   files={"file": ("m.jpg", masked, "image/jpeg")})
        assert r.status_code == 201 and len(r.json()["added"]) == 1, r.text
