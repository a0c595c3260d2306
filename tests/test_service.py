"""The service end to end: a real `faceprint serve` on loopback, driven over HTTP (and by
CompreFace's own Python SDK, installed from PyPI into its own venv)."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import httpx
import pytest

from service_server import Server, fingerprint, make_key, malformed_requests

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def srv(tmp_path_factory, fr):
    d = tmp_path_factory.mktemp("serve")
    a, b, cf = str(d / "a.db"), str(d / "b.db"), str(d / "cf.db")
    keys = {"admin_a": make_key(a, "admin"), "rec_a": make_key(a, "recognize"), "admin_b": make_key(b, "admin"), "rec_b": make_key(b, "recognize"),
            "admin_cf": make_key(cf, "admin"), "rec_cf": make_key(cf, "recognize")}
    s = Server([f"a={a}", f"b={b}", f"cf={cf}"], "--max-pending", "4").start()
    yield SimpleNamespace(url=s.url, a=a, b=b, cf=cf, server=s, dir=d, **keys)
    s.stop()
    assert "Traceback" not in s.logs(), s.logs()[-3000:]


def h(key: str) -> dict:
    return {"x-api-key": key}


def photo(fr, name: str) -> bytes:
    return (fr / "examples" / name).read_bytes()


def test_open_routes_need_no_key(srv):
    assert httpx.get(srv.url + "/health").json()["status"] == "ok"
    assert httpx.get(srv.url + "/docs").status_code == 200
    spec = httpx.get(srv.url + "/openapi.json").json()
    assert "/api/v1/recognition/recognize" in spec["paths"] and "/v1/identify" in spec["paths"]
    page = httpx.get(srv.url + "/")
    assert page.status_code == 200 and "<title>faceprint" in page.text
    for asset in ("/", "/app.js", "/style.css"):        # works offline: nothing fetched from elsewhere
        text = httpx.get(srv.url + asset).text
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, asset


def _routes():
    """Every API route of the app with the role it needs (from its auth dependency)."""
    from faceprint.service import auth
    from faceprint.service.routes import admin, compreface, detect, gallery, verify
    for mod in (detect, verify, gallery, admin, compreface):
        for r in mod.router.routes:
            calls = {d.call for d in r.dependant.dependencies}
            role = "admin" if auth.admin in calls else "recognize" if auth.recognize in calls else None
            for m in r.methods:
                yield m, r.path, role


def _fill(path: str) -> str:
    return (path.replace("{name}", "nobody").replace("{subject}", "nobody").replace("{image_id}", "999999")
            .replace("{template_id}", "999999").replace("{key_id}", "nokey"))


def test_every_route_needs_a_key_and_the_right_role(srv):
    routes = list(_routes())
    assert len(routes) >= 25 and all(role for _, _, role in routes), routes
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        for method, path, role in routes:
            url = _fill(path)
            assert c.request(method, url).status_code == 401, (method, path)
            assert c.request(method, url, headers=h("fp_not-a-key")).status_code == 401, (method, path)
            r = c.request(method, url, headers=h(srv.rec_a))
            if role == "admin":
                assert r.status_code == 403, (method, path, r.text)
                assert r.json()["message"]
            else:
                assert r.status_code not in (401, 403), (method, path, r.text)


def test_native_api_flow_and_audit(srv, fr, engine):
    obama, obama2, biden = photo(fr, "obama.jpg"), photo(fr, "obama2.jpg"), photo(fr, "biden.jpg")
    import cv2
    import numpy as np

    from faceprint.evaluate.masks import draw_mask
    noface = cv2.imencode(".jpg", np.full((200, 200, 3), 127, np.uint8))[1].tobytes()
    img = cv2.imread(str(fr / "examples" / "obama-480p.jpg"))
    masked = cv2.imencode(".jpg", draw_mask(img, engine.detect(img)[0]))[1].tobytes()
    A = h(srv.admin_a)
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        r = c.post("/v1/subjects", headers=A, json={"name": "Barack Obama", "consent": "signed 2026-11-02",
                                                    "metadata": {"team": "ops"}})
        assert r.status_code == 201 and r.json()["metadata"] == {"team": "ops", "consent": "signed 2026-11-02"}
        assert c.post("/v1/subjects", headers=A, json={"name": "Barack Obama"}).json()["code"] == "subject_exists"
        r = c.post("/v1/subjects/Barack Obama/examples", headers=A,
                   files=[("file", ("1.jpg", obama)), ("file", ("2.jpg", obama2)), ("file", ("3.jpg", noface)),
                          ("file", ("4.jpg", masked))])
        assert r.status_code == 201, r.text
        added = r.json()
        assert len(added["added"]) == 2
        assert [(s["index"], s["code"]) for s in added["skipped"]] == [(2, "no_face"), (3, "masked")]
        listed = c.get("/v1/subjects?q=OBAMA", headers=A).json()
        assert listed["total"] == 1 and listed["subjects"][0]["name"] == "Barack Obama"
        ex = c.get("/v1/subjects/Barack Obama/examples", headers=A).json()
        assert ex["total"] == 2 and ex["examples"][0]["source_sha256"] == hashlib.sha256(obama).hexdigest()
        # base64 JSON works as well as multipart
        import base64
        r = c.post("/v1/bulk", headers=A, json={"items": [{"subject": "Joe Biden", "image": base64.b64encode(biden).decode()},
                                                          {"subject": "Nobody", "image": base64.b64encode(noface).decode()}]})
        assert r.status_code == 200 and r.json()["enrolled"] == 1 and r.json()["results"][1]["code"] == "no_face"
        r = c.post("/v1/identify?k=2", headers=h(srv.rec_a), files={"file": photo(fr, "obama-480p.jpg")})
        face = r.json()["faces"][0]
        assert face["decision"] == "Barack Obama" and face["fpir"] == 0.001 and face["threshold"] > 0.3
        assert [c_["subject"] for c_ in face["candidates"]] == ["Barack Obama", "Joe Biden"]
        assert face["masked"] is False
        face = c.post("/v1/identify", headers=h(srv.rec_a), files={"file": masked}).json()["faces"][0]
        assert face["masked"] is True
        r = c.post("/v1/identify", headers=h(srv.rec_a), files={"file": noface})
        assert r.status_code == 200 and r.json() == {"faces": [], "gallery_size": 2}
        r = c.post("/v1/identify?threshold=0.99", headers=h(srv.rec_a), files={"file": photo(fr, "obama-480p.jpg")})
        assert r.json()["faces"][0]["decision"] is None and r.json()["faces"][0]["fpir"] is None
        r = c.post("/v1/verify", headers=h(srv.rec_a), files={"a": obama, "b": obama2})
        assert r.json()["same"] is True
        assert c.patch("/v1/subjects/Barack Obama", headers=A, json={"name": "Obama"}).json()["name"] == "Obama"
        first = added["added"][0]
        assert c.delete(f"/v1/subjects/Obama/examples/{first}", headers=A).json() == {"deleted": True}
        assert c.get("/v1/subjects/Obama", headers=A).json()["templates"] == 1
        stats = c.get("/v1/stats", headers=A).json()
        assert stats["gallery"] == "a" and stats["templates"] == stats["indexed"] == 2
        assert stats["calibration"]["subjects"] == 2 and stats["calibration"]["open_set"]["fmr_observed"] is None
        assert c.delete("/v1/subjects/Obama", headers=A).json() == {"deleted": True}
        assert c.get("/v1/subjects/Obama", headers=A).status_code == 404
        r = c.post("/v1/identify", headers=A, files={"file": photo(fr, "obama-480p.jpg")})
        assert r.json()["faces"][0]["decision"] is None
        assert c.delete("/v1/subjects/Joe Biden", headers=A).status_code == 200
    from faceprint.service import serve
    rows = serve.audit_rows(srv.a)
    actions = {r["action"] for r in rows}
    assert {"create_subject", "enroll", "identify", "verify", "rename", "delete_example", "delete_subject"} <= actions
    assert all(r["key_id"] and r["client"] == "127.0.0.1" for r in rows)
    assert not any(srv.admin_a in json.dumps(r) or srv.rec_a in json.dumps(r) for r in rows)
    enrol = [r for r in rows if r["action"] == "enroll" and r["subject"] == "Barack Obama"]
    assert {r["image_sha256"] for r in enrol} == {hashlib.sha256(obama).hexdigest(), hashlib.sha256(obama2).hexdigest()}
    # the deleted subject's audit rows stay; its biometric data is gone
    assert serve.audit_rows(srv.a, subject="Obama") and fingerprint(srv.a)[0] == 0
    out = subprocess.run([sys.executable, "-m", "faceprint.cli", "audit", "--gallery", srv.a, "--subject", "Obama", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and {r["action"] for r in json.loads(out.stdout)} >= {"rename", "delete_subject"}


def test_galleries_are_isolated(srv, fr):
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        r = c.post("/api/v1/recognition/faces?subject=Biden", headers=h(srv.admin_b), files={"file": photo(fr, "biden.jpg")})
        assert r.status_code == 201
        image_id = r.json()["image_id"]
        before = fingerprint(srv.b)
        assert "Biden" not in c.get("/api/v1/recognition/subjects", headers=h(srv.admin_a)).json()["subjects"]
        assert c.get("/v1/subjects/Biden", headers=h(srv.admin_a)).status_code == 404
        assert c.delete(f"/api/v1/recognition/faces/{image_id}", headers=h(srv.admin_a)).status_code in (404,)
        assert c.delete("/api/v1/recognition/subjects", headers=h(srv.admin_a)).json() == {"deleted": 0}
        r = c.post("/v1/identify", headers=h(srv.admin_a), files={"file": photo(fr, "biden.jpg")})
        assert all(m["subject"] != "Biden" for f in r.json()["faces"] for m in f["candidates"])
        assert fingerprint(srv.b) == before
        assert c.get("/v1/stats", headers=h(srv.admin_b)).json()["gallery"] == "b"


def test_compreface_calls_the_sdk_lacks(srv, fr):
    """POST /faces/delete (several ids) and a rename onto an existing subject (CompreFace merges)."""
    H = h(srv.admin_b)
    with httpx.Client(base_url=srv.url, timeout=60, headers=H) as c:
        ids = [c.post("/api/v1/recognition/faces?subject=" + s, files={"file": photo(fr, p)}).json()["image_id"]
               for s, p in (("O1", "obama.jpg"), ("O2", "obama2.jpg"), ("O2", "obama-480p.jpg"))]
        assert c.put("/api/v1/recognition/subjects/O1", json={"subject": "O2"}).json() == {"updated": True}
        listed = c.get("/api/v1/recognition/faces?subject=O2").json()
        assert listed["total_elements"] == 3 and "O1" not in c.get("/api/v1/recognition/subjects").json()["subjects"]
        r = c.post("/api/v1/recognition/faces/delete", json=[ids[0], ids[1], "no-such-id", "999999"])
        assert sorted(x["image_id"] for x in r.json()) == sorted(ids[:2])
        assert c.get("/api/v1/recognition/faces?subject=O2").json()["total_elements"] == 1
        assert c.delete("/api/v1/recognition/subjects/O2").json() == {"subject": "O2"}


def test_revoked_key_stops_at_once(srv):
    from faceprint.service import serve
    out = subprocess.run([sys.executable, "-m", "faceprint.cli", "keys", "create", "--gallery", srv.a, "--role", "recognize",
                          "--name", "door", "--json"], capture_output=True, text=True, timeout=60)
    made = json.loads(out.stdout)
    assert set(made) == {"key", "id", "role", "gallery"} and made["role"] == "recognize"
    with httpx.Client(base_url=srv.url) as c:
        assert c.get("/v1/stats", headers=h(made["key"])).status_code == 200
        out = subprocess.run([sys.executable, "-m", "faceprint.cli", "keys", "revoke", made["id"], "--gallery", srv.a],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert c.get("/v1/stats", headers=h(made["key"])).status_code == 401
    listed = {k["id"]: k for k in serve.keys(srv.a, "list")}
    assert listed[made["id"]]["revoked"] and "key" not in listed[made["id"]]


def test_malformed_uploads_never_5xx_and_change_nothing(srv, fr):
    n = int(os.environ.get("FACEPRINT_MALFORMED_N", "120"))
    before = [fingerprint(g) for g in (srv.a, srv.b, srv.cf)]
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=srv.url, timeout=60, headers=h(srv.admin_a)) as c:
        for path, kw, kind in malformed_requests(n, photo(fr, "obama.jpg")):
            r = c.post(path, **kw)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code < 500, (path, kind, r.status_code, r.text[:300])
            body = r.json()
            if path == "/v1/bulk" and r.status_code == 200:     # per-photo results: every photo refused
                assert body["enrolled"] == 0 and body["failed"] >= 1, body
                continue
            assert isinstance(body, dict) and body.get("message") and body["code"] not in (None, ""), (path, kind, body)
    assert set(statuses) <= {200, 400, 404, 413, 415, 422}, statuses
    assert [fingerprint(g) for g in (srv.a, srv.b, srv.cf)] == before
    assert httpx.get(srv.url + "/health").status_code == 200


def test_double_take_request_chunked_with_undefined_plugins(srv, fr):
    """Double Take posts face_plugins=undefined, streams the photo without Content-Length, and reads
    subjects[0]: it must get a list (empty when the gallery is empty), never an error."""
    data = photo(fr, "obama.jpg")

    def chunks():
        for i in range(0, len(data), 8192):
            yield data[i:i + 8192]
    boundary = "doubletake"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="frame.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n").encode()

    def body():
        yield head
        yield from chunks()
        yield f"\r\n--{boundary}--\r\n".encode()
    r = httpx.post(srv.url + "/api/v1/recognition/recognize?face_plugins=undefined&det_prob_threshold=0.8",
                   content=body(), headers={**h(srv.rec_b), "content-type": f"multipart/form-data; boundary={boundary}"},
                   timeout=60)
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["result"][0]["subjects"], list)


def test_upload_limit_applies_to_chunked_uploads(srv):
    def chunks():
        for _ in range(11):
            yield b"\0" * 2**20
    r = httpx.post(srv.url + "/api/v1/recognition/recognize", content=chunks(), timeout=60,
                   headers={**h(srv.rec_a), "content-type": "image/jpeg"})
    assert r.status_code == 413 and r.json()["code"] == 26 and "MiB" in r.json()["message"]


def test_full_queue_answers_503_with_retry_after(srv, fr):
    big = photo(fr, "obama-1080p.jpg")

    async def go():
        async with httpx.AsyncClient(base_url=srv.url, timeout=120) as c:
            return await asyncio.gather(*[c.post("/v1/detect", headers=h(srv.rec_a), files={"file": big})
                                          for _ in range(24)])
    rs = asyncio.run(go())
    codes = [r.status_code for r in rs]
    assert set(codes) <= {200, 503} and codes.count(200) >= 4 and codes.count(503) >= 1, codes
    assert all(r.headers.get("retry-after") for r in rs if r.status_code == 503)


@pytest.fixture(scope="session")
def compreface_sdk(tmp_path_factory):
    """CompreFace's Python SDK from PyPI in its own venv (its pinned requests-toolbelt 0.9.1 only
    imports with urllib3<2), made once per session."""
    venv = tmp_path_factory.mktemp("compreface-sdk")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "compreface-sdk==0.6.0", "urllib3<2"],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail(f"cannot install compreface-sdk==0.6.0 from PyPI: {r.stderr[-2000:]}")
    return py


def test_compreface_sdk_drives_every_call(srv, fr, lfw, compreface_sdk, tmp_path):
    import cv2
    import numpy as np
    noface = tmp_path / "wall.jpg"
    cv2.imwrite(str(noface), np.full((240, 320, 3), 90, np.uint8))
    people = ["Tony_Blair", "Colin_Powell", "Gerhard_Schroeder"]
    photos = {"obama": str(fr / "examples/obama.jpg"), "obama2": str(fr / "examples/obama2.jpg"),
              "biden": str(fr / "examples/biden.jpg"), "group": str(fr / "examples/two_people.jpg"),
              "obama_probe": str(fr / "examples/obama-480p.jpg"), "noface": str(noface),
              "lfw": {p: str(lfw / "lfw-deepfunneled" / p / f"{p}_0001.jpg") for p in people}}
    port = srv.url.rsplit(":", 1)[1]
    script = os.path.join(os.path.dirname(__file__), "service_clients", "compreface_sdk_drive.py")
    r = subprocess.run([str(compreface_sdk), script, "http://127.0.0.1", port, srv.admin_cf, srv.rec_cf,
                        json.dumps(photos)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)

    assert out["add_subject"] == {"subject": "Joe Biden"}
    assert out["add_obama"]["subject"] == "Barack Obama" and out["add_obama"]["image_id"]
    assert [a["subject"] for a in out["add_lfw"]] == people
    assert out["add_noface"] == {"message": "No face is found in the given image", "code": 28}
    assert out["list_faces"]["total_elements"] == 6 and {"image_id", "subject"} == set(out["list_faces"]["faces"][0])
    assert sorted(out["subjects"]["subjects"]) == sorted(["Barack Obama", "Joe Biden", *people])

    group = out["recognize_group"]["result"]
    assert len(group) == 2 and out["recognize_group"]["plugins_versions"]["calculator"]
    for face in group:
        assert set(face["box"]) == {"probability", "x_min", "y_min", "x_max", "y_max"}
        assert len(face["landmarks"]) == 5 and len(face["embedding"]) == 128 and "detector" in face["execution_time"]
        assert face["mask"]["value"] == "without_mask" and face["mask"]["probability"] > 0.5
        assert len(face["subjects"]) == 2 and face["subjects"][0]["similarity"] >= face["subjects"][1]["similarity"]
    left, right = sorted(group, key=lambda f: f["box"]["x_min"])
    assert left["subjects"][0]["subject"] == "Barack Obama" and right["subjects"][0]["subject"] == "Joe Biden"
    assert left["subjects"][0]["similarity"] >= 0.6 and left["subjects"][1]["similarity"] < 0.6
    probe = out["recognize_no_plugins"]["result"][0]
    assert probe["subjects"][0]["subject"] == "Barack Obama" and "landmarks" not in probe and "embedding" not in probe
    assert out["recognize_noface"] == {"message": "No face is found in the given image", "code": 28}

    assert out["verify_by_id"]["result"][0]["similarity"] >= 0.6
    assert len(out["detect"]["result"]) == 2 and "subjects" not in out["detect"]["result"][0]
    ver = out["verify"]["result"][0]
    assert "box" in ver["source_image_face"] and len(ver["face_matches"]) == 2
    assert max(m["similarity"] for m in ver["face_matches"]) >= 0.6 and min(m["similarity"] for m in ver["face_matches"]) < 0.4
    assert "message" in out["recognize_forbidden_add"]

    assert out["rename"] == {"updated": True} and "Joseph Biden" in out["subjects_after_rename"]["subjects"]
    assert out["delete_one"] == {"image_id": out["add_obama2"]["image_id"], "subject": "Barack Obama"}
    assert out["list_after_delete_one"]["total_elements"] == 5
    assert out["delete_all_of_subject"] == {"deleted": 1}
    assert all(s["subject"] != "Joseph Biden" for f in out["recognize_after_delete"]["result"] for s in f["subjects"])
    assert out["delete_subject"] == {"subject": "Barack Obama"}
    assert out["delete_all"] == {"deleted": 4}
    assert out["subjects_end"] == {"subjects": []} and out["faces_end"]["total_elements"] == 0
    assert fingerprint(srv.cf)[0] == 0


def test_audit_log_is_append_only_and_filtered(srv, fr):
    import sqlite3

    from faceprint.service import serve
    httpx.post(srv.url + "/v1/identify", headers=h(srv.rec_a), files={"file": photo(fr, "biden.jpg")}, timeout=60)
    rows = serve.audit_rows(srv.a)
    assert rows and serve.audit_rows(srv.a, since="2999-01-01") == []
    assert len(serve.audit_rows(srv.a, since=rows[-1]["ts"])) >= 1
    con = sqlite3.connect(srv.a)
    for sql in ("UPDATE service_audit SET subject = 'x'", "DELETE FROM service_audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute(sql)
    con.close()
    assert len(serve.audit_rows(srv.a)) >= len(rows)


def test_serve_refuses_a_gallery_that_does_not_exist(tmp_path):
    missing = tmp_path / "nope.db"
    r = subprocess.run([sys.executable, "-m", "faceprint.cli", "serve", "--gallery", str(missing)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "does not exist" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not missing.exists()
    from faceprint.service.settings import parse_galleries
    assert parse_galleries(["a.db"]) == {"default": "a.db"}
    assert parse_galleries(["hq=a.db", "lab=postgresql://u@h/db"]) == {"hq": "a.db", "lab": "postgresql://u@h/db"}


def test_errors_map_by_type_not_by_message():
    """503 only for the typed busy error; a message that says "busy" changes nothing."""
    import sqlite3

    from faceprint import errors as fe
    from faceprint.gallery.store_sqlite import _open_error
    from faceprint.service.errors import from_faceprint
    locked = _open_error("g.db", sqlite3.OperationalError("database is locked"))
    assert isinstance(locked, fe.GalleryBusyError)
    busy = from_faceprint(locked)
    assert (busy.status, busy.code, busy.headers) == (503, "busy", {"Retry-After": "1"})
    assert from_faceprint(fe.GalleryError("the busy-box volume is full")).status == 500
    assert from_faceprint(fe.SubjectExistsError("taken")).status == 409
    assert from_faceprint(fe.UsageError("no")).status == 422
    assert (from_faceprint(fe.NoFaceError("x")).status, from_faceprint(fe.NoFaceError("x")).cf_code) == (400, 28)


def test_keys_audit_and_subject_updates_over_http(srv):
    A = h(srv.admin_a)
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        me = c.get("/v1/me", headers=h(srv.rec_a)).json()
        assert me["role"] == "recognize" and me["gallery"] == "a"
        made = c.post("/v1/keys", headers=A, json={"role": "recognize", "name": "kiosk"})
        assert made.status_code == 201 and made.json()["key"].startswith("fp_")
        made = made.json()
        assert c.get("/v1/me", headers=h(made["key"])).json()["key_id"] == made["id"]
        listed = {k["id"]: k for k in c.get("/v1/keys", headers=A).json()["keys"]}
        assert listed[made["id"]]["name"] == "kiosk" and "key" not in listed[made["id"]]
        admin_id = c.get("/v1/me", headers=A).json()["key_id"]
        assert c.delete(f"/v1/keys/{admin_id}", headers=A).json()["code"] == "own_key"
        assert c.delete(f"/v1/keys/{made['id']}", headers=A).json() == {"revoked": made["id"]}
        assert c.get("/v1/me", headers=h(made["key"])).status_code == 401
        assert c.delete(f"/v1/keys/{made['id']}", headers=A).status_code == 404
        assert "kiosk" not in json.dumps(c.get("/v1/keys", headers=h(srv.admin_b)).json())    # another gallery's
        # subjects: rename and consent in one call; a taken name is 409
        assert c.post("/v1/subjects", headers=A, json={"name": "Ada", "metadata": {"team": "lab"}}).status_code == 201
        c.post("/v1/subjects", headers=A, json={"name": "Grace"})
        r = c.patch("/v1/subjects/Ada", headers=A, json={"name": "Ada L", "consent": "signed"})
        assert r.json()["name"] == "Ada L" and r.json()["metadata"] == {"team": "lab", "consent": "signed"}
        assert c.patch("/v1/subjects/Ada L", headers=A, json={"consent": None}).json()["metadata"] == {"team": "lab"}
        assert c.patch("/v1/subjects/Ada L", headers=A, json={"name": "Grace"}).status_code == 409
        assert c.patch("/v1/subjects/Ada L", headers=A, json={}).status_code == 400
        stats = c.get("/v1/stats", headers=A).json()
        assert stats["default_fpir"] == 0.001 and 0 < stats["threshold"] < 1
        page = c.get("/v1/audit", headers=A, params={"subject": "Ada L", "limit": 1}).json()
        assert page["total"] == 3 and [r["action"] for r in page["rows"]] == ["update_subject"]
        actions = [r["action"] for r in c.get("/v1/audit", headers=A, params={"since": "2000-01-01"}).json()["rows"]]
        assert {"create_key", "revoke_key", "rename", "update_subject"} <= set(actions)
        assert c.get("/v1/audit", headers=A, params={"until": "yesterday"}).json()["code"] == "bad_request"
        assert c.get("/v1/audit", headers=h(srv.rec_a)).status_code == 403
        for name in ("Ada L", "Grace"):
            c.delete(f"/v1/subjects/{name}", headers=A)
