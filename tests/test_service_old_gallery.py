"""A gallery made by the faceprint of before the service owned its tables (tests/fixtures/old_gallery,
made by make_old_gallery.py with commit f1dd34c: encrypted templates, API keys and audit rows in the
store's old `api_keys`/`audit` tables) opens with today's code: it serves, its keys authenticate,
a revoked key stays revoked, its audit rows are kept and listed, and search finds its subjects."""
from __future__ import annotations

import glob
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from service_server import Server

pytest.importorskip("fastapi")

OLD = Path(__file__).parent / "fixtures" / "old_gallery"
MADE = json.loads((OLD / "keys.json").read_text())
OLD_ACTIONS = ["create_subject", "enroll", "enroll", "enroll", "enroll", "rename", "identify", "identify"]


def _restore_postgres(url: str) -> None:
    psql = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))[-1]
    r = subprocess.run([psql, "-v", "ON_ERROR_STOP=1", "-q", "-f", str(OLD / "gallery_pg.sql"), url],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.fixture(params=["sqlite", "postgres"])
def old_gallery(request, tmp_path):
    """(location, the keys and counts recorded when it was made)."""
    if request.param == "sqlite":
        for f in ("gallery.db", "gallery.db.index"):
            shutil.copy(OLD / f, tmp_path / f)
        return str(tmp_path / "gallery.db"), MADE["sqlite"]
    url = request.getfixturevalue("postgres_url")
    _restore_postgres(url)
    return url, MADE["postgres"]


def test_old_gallery_serves_with_its_keys_audit_and_encrypted_templates(old_gallery, fr):
    from faceprint.service import serve
    location, made = old_gallery
    key_file = str(OLD / "test.key")
    srv = Server([location], "--encryption-key-file", key_file).start()
    try:
        admin, rec = {"x-api-key": made["admin"]["key"]}, {"x-api-key": made["recognize"]["key"]}
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            stats = c.get("/v1/stats", headers=admin).json()
            assert (stats["subjects"], stats["templates"], stats["indexed"]) == (4, 4, 4), stats
            assert [s["name"] for s in c.get("/v1/subjects", headers=rec).json()["subjects"]] == made["subjects"]
            assert c.get("/v1/stats", headers={"x-api-key": made["revoked"]["key"]}).status_code == 401
            r = c.post("/v1/identify", headers=rec, files={"file": (fr / "examples" / "obama-480p.jpg").read_bytes()})
            assert r.status_code == 200 and r.json()["faces"][0]["decision"] == "Barack Obama", r.text
            r = c.post("/api/v1/recognition/recognize", headers=rec, files={"file": (fr / "examples" / "biden.jpg").read_bytes()})
            assert r.json()["result"][0]["subjects"][0]["subject"] == "Joe Biden", r.text
    finally:
        srv.stop()
    assert "Traceback" not in srv.logs(), srv.logs()[-3000:]
    rows = serve.audit_rows(location, key_file=key_file)
    assert [r["action"] for r in rows[:len(OLD_ACTIONS)]] == OLD_ACTIONS
    assert rows[5]["subject"] == "Alex" and rows[5]["outcome"] == {"old_name": "Alex Lacamoire"}
    assert [r["action"] for r in rows[len(OLD_ACTIONS):]] == ["identify", "identify"]
    assert {r["key_id"] for r in rows} == {made["admin"]["id"], made["recognize"]["id"]}
    listed = {k["id"]: k for k in serve.keys(location, "list", key_file=key_file)}
    assert set(listed) == {made[r]["id"] for r in ("admin", "recognize", "revoked")}
    assert listed[made["revoked"]["id"]]["revoked"] and not listed[made["admin"]["id"]]["revoked"]


def test_old_sqlite_tables_become_the_services_and_stay_append_only(tmp_path):
    from faceprint.service.tables import ServiceTables
    db = tmp_path / "gallery.db"
    shutil.copy(OLD / "gallery.db", db)
    for _ in range(2):          # the migration runs once; opening again changes nothing
        with ServiceTables.open(str(db)) as t:
            assert t.audit.count() == made_rows() and len(t.keys.all()) == 3
    con = sqlite3.connect(db)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"service_keys", "service_audit"} <= tables and not {"api_keys", "audit"} & tables
    for sql in ("UPDATE service_audit SET subject = 'x'", "DELETE FROM service_audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute(sql)
    con.close()


def made_rows() -> int:
    return MADE["sqlite"]["audit_rows"]
