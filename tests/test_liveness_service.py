"""Liveness in the native API of a real `faceprint serve --require-live` on loopback: the liveness
block of detect/verify/identify, and a print of an enrolled person refused with its own code."""
from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from conftest import DATA, need
from service_server import Server, make_key

pytest.importorskip("fastapi")
import httpx  # noqa: E402

NUAA = DATA / "pad_nuaa"


def frame(kind: str, sequence: str, i: int = 0) -> bytes:
    paths = sorted((NUAA / kind / sequence[:4]).glob(f"{sequence}_*.jpg"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    return paths[i].read_bytes()


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    from faceprint import Engine, Gallery
    need(NUAA)
    db = str(tmp_path_factory.mktemp("live") / "gate.db")
    eng = Engine()
    with Gallery.open(db, create=True, engine=eng) as g:
        g.enroll("0006", [eng.template(frame("live", "0006_00_06_03", i)) for i in range(2)], force=True)
    rec, adm = make_key(db, "recognize"), make_key(db, "admin")
    s = Server([db], "--require-live").start()
    yield SimpleNamespace(url=s.url, rec={"x-api-key": rec}, admin={"x-api-key": adm})
    s.stop()
    assert "Traceback" not in s.logs(), s.logs()[-3000:]


def test_liveness_blocks_and_refusals(srv):
    live, attack = frame("live", "0006_00_00_02"), frame("print_attack", "0006_00_08_03")
    with httpx.Client(base_url=srv.url, timeout=60, headers=srv.rec) as c:
        faces = c.post("/v1/detect", files={"file": live}).json()["faces"]
        main = max(faces, key=lambda f: f["box"][2])["liveness"]
        assert main["live"] is True and 0 <= main["threshold"] <= main["score"] <= 1 and set(main["models"]) == {
            "minifasnet_v2", "minifasnet_v1se"}
        faces = c.post("/v1/detect", files={"file": attack}).json()["faces"]
        assert max(faces, key=lambda f: f["box"][2])["liveness"]["live"] is False     # detect judges, never refuses

        r = c.post("/v1/identify", files={"file": live})
        assert r.status_code == 200, r.text
        face = max(r.json()["faces"], key=lambda f: f["box"][2])
        assert face["decision"] == "0006" and face["liveness"]["live"] is True
        r = c.post("/v1/identify", files={"file": attack})
        assert r.status_code == 422 and r.json()["code"] == "presentation_attack", r.text
        assert "live" in r.json()["message"]

        r = c.post("/v1/verify", files={"a": live, "b": frame("live", "0006_00_06_03", 2)})
        assert r.status_code == 200 and r.json()["same"] and r.json()["liveness"]["b"]["live"], r.text
        r = c.post("/v1/verify", files={"a": live, "b": attack})
        assert r.status_code == 422 and r.json()["code"] == "presentation_attack", r.text
    rows = httpx.get(srv.url + "/v1/audit?action=identify", headers=srv.admin, timeout=30).json()["rows"]
    assert any(row["outcome"].get("refused") == "presentation_attack" for row in rows), rows


def test_require_live_without_liveness_is_a_usage_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "faceprint.cli", "serve", "--gallery", str(tmp_path / "x.db"),
                        "--require-live", "--no-liveness"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not allowed with" in r.stderr
