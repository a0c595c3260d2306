"""The audit log's group commit loses nothing it acknowledged: a real `faceprint serve` is killed
(SIGKILL) in the middle of concurrent identifications and enrolments, and every answered request
has its audit row in the gallery's database afterwards."""
from __future__ import annotations

import asyncio
import time

import pytest

from service_server import Server, make_key

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")


def test_every_answered_request_has_its_audit_row_after_a_kill(tmp_path, fr, lfw):
    from faceprint.service.audit import Filter
    from faceprint.service.tables import ServiceTables
    g = str(tmp_path / "g.db")
    key = make_key(g, "admin")
    probe = (fr / "examples/obama-480p.jpg").read_bytes()           # one face: one identify row per answer
    photos = [p.read_bytes() for p in sorted((lfw / "lfw-deepfunneled").glob("*/*_0001.jpg"))[:40]]
    s = Server([g]).start()
    answered = {"identify": 0, "enroll": []}

    async def identify(c, stop):
        while not stop.is_set():
            r = await c.post("/v1/identify", files={"file": ("p.jpg", probe, "image/jpeg")})
            if r.status_code == 200:
                answered["identify"] += 1

    async def enrol(c, stop):
        for i, data in enumerate(photos):
            if stop.is_set():
                return
            r = await c.post(f"/v1/subjects/person {i}/examples", files={"file": ("p.jpg", data, "image/jpeg")})
            if r.status_code == 201:
                answered["enroll"] += r.json()["added"]

    async def load():
        stop = asyncio.Event()
        async with httpx.AsyncClient(base_url=s.url, headers={"x-api-key": key}, timeout=60) as c:
            tasks = [asyncio.create_task(identify(c, stop)) for _ in range(12)] + [asyncio.create_task(enrol(c, stop))]
            deadline = time.monotonic() + 60
            while (answered["identify"] < 40 or len(answered["enroll"]) < 5) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            s.kill()                      # mid-flight: requests are queued, computing and committing
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    try:
        asyncio.run(load())
    finally:
        s.stop()
    assert answered["identify"] >= 40 and len(answered["enroll"]) >= 5, answered
    with ServiceTables.open(g) as t:
        identified = t.audit.count(Filter(action="identify"))
        enrolled = {r["outcome"]["template_id"] for r in t.audit.rows(Filter(action="enroll"))}
    assert identified >= answered["identify"]
    assert set(answered["enroll"]) <= enrolled
