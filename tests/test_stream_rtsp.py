"""`faceprint watch rtsp://...` against a real RTSP server on loopback (GStreamer's, from Debian): the
same people recognised as in the file of the same clip, and source_lost / source_back across a server
that is killed and started again mid-stream."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from faceprint import Gallery
from faceprint.cli import main
from faceprint.stream import watch
from stream_clips import (
    Clip,
    RTSPCamera,
    appearance,
    check_outcomes,
    make_gallery,
    rtsp_server_missing,
)

KNOWN = ["Colin_Powell", "Tony_Blair"]


@pytest.fixture(scope="module")
def rtsp_server():
    missing = rtsp_server_missing()
    if missing:
        if os.environ.get("FACEPRINT_REQUIRE_DATA"):
            pytest.fail(f"{missing}; CI must have it")
        pytest.skip(missing)


def test_cli_watch_rtsp_recognises_and_survives_a_server_restart(rtsp_server, lfw, engine, tmp_path):
    gallery_path = make_gallery(tmp_path / "g.db", engine, lfw, KNOWN, 5)
    apps = [appearance(lfw, "Colin_Powell", 0.3, 4.3, known=KNOWN, lane=0.28),
            appearance(lfw, "Vladimir_Putin", 0.8, 4.8, known=KNOWN, lane=0.74, leftward=True),
            appearance(lfw, "Tony_Blair", 6.5, 10.5, known=KNOWN, lane=0.5)]
    clip = Clip(apps, engine=engine, fps=15, duration=10.8)
    with Gallery.open(gallery_path, engine=engine, readonly=True) as g:
        from_file = [e.to_dict() for e in watch(clip.write(tmp_path / "clip.mp4"), gallery=g, engine=engine)]
    check_outcomes(clip, from_file)

    camera = RTSPCamera(clip, tmp_path / "frames").start()
    watching = threading.Event()

    def director():
        """Kill the server 5 s into the clip and start it again; stop the watch (Ctrl-C) after the
        clip, or after 30 s whatever happened."""
        started = time.time()
        try:
            while camera.epoch is None or time.time() - camera.epoch < 5.0:
                assert time.time() - started < 30, "the watcher never connected"
                time.sleep(0.02)
            camera.stop()
            camera.start()
        finally:
            while time.time() - (camera.epoch or started) < 11.3 and time.time() - started < 30:
                time.sleep(0.05)
            if watching.is_set():
                os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "events.jsonl"
    threading.Thread(target=director, daemon=True).start()
    watching.set()
    try:
        assert main(["watch", camera.url, "--gallery", str(gallery_path), "--events", str(out), "--json"]) == 0
    finally:
        watching.clear()
        camera.stop()
    events = [json.loads(line) for line in out.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    lost = kinds.index("source_lost")
    assert "source_back" in kinds[lost:], kinds
    assert all(e["source"] == camera.url for e in events)
    assert events[lost]["time"] == pytest.approx(5.0, abs=0.5), events[lost]
    # Live media time runs from the first frame, which is the clip's start (within a frame or two).
    check_outcomes(clip, events)
    for kind in ("recognized", "unknown", "track_end"):
        assert {tuple(e) for e in events if e["event"] == kind} == {tuple(e) for e in from_file if e["event"] == kind}
    decided = [e["track"] for e in events if e["event"] in ("recognized", "unknown")]
    assert len(set(decided)) == len(decided), "a track id came back after the reconnect"
