"""faceprint.stream and `faceprint watch` on clips built from LFW photos with known ground truth:
people walking in and out, two at once, a masked person, people not enrolled; a live MJPEG camera
on loopback that goes away and comes back."""
from __future__ import annotations

import json
import threading
import time

import av
import pytest

from faceprint import Gallery
from faceprint.cli import main
from faceprint.stream import Event, JSONLSink, watch
from stream_clips import Clip, MJPEGServer, appearance, check_outcomes, make_gallery, short_clip

KNOWN = ["Colin_Powell", "Tony_Blair", "Serena_Williams", "Gerhard_Schroeder", "Junichiro_Koizumi", "Hugo_Chavez"]


@pytest.fixture(scope="module")
def gallery_path(tmp_path_factory, lfw, engine):
    """The known people enrolled from their first two photos, among 20 other LFW people."""
    return make_gallery(tmp_path_factory.mktemp("watch") / "staff.db", engine, lfw, KNOWN, 20)


@pytest.fixture
def gallery(gallery_path, engine):
    with Gallery.open(gallery_path, engine=engine, readonly=True) as g:
        yield g


def _app(lfw, name, start, end, **kw):
    return appearance(lfw, name, start, end, known=KNOWN, **kw)


@pytest.fixture(scope="module")
def scene(lfw, engine, tmp_path_factory):
    apps = [_app(lfw, "Colin_Powell", 0, 4, lane=0.28),
            _app(lfw, "Vladimir_Putin", 1, 5, lane=0.74, leftward=True),             # two at once
            _app(lfw, "Tony_Blair", 5, 9, lane=0.5),
            _app(lfw, "Gerhard_Schroeder", 8, 12, lane=0.28, leftward=True, masked=True),
            _app(lfw, "Serena_Williams", 11, 15, lane=0.74),
            _app(lfw, "Jennifer_Lopez", 12, 16, lane=0.28)]
    clip = Clip(apps, engine=engine)
    return clip, clip.write(tmp_path_factory.mktemp("clips") / "lobby.mp4")


@pytest.fixture(scope="module")
def short(lfw, engine, tmp_path_factory):
    return short_clip(lfw, engine, tmp_path_factory.mktemp("clips") / "short.mp4", KNOWN)


def test_file_one_event_per_person_with_video_and_unknown_crops(scene, gallery, engine, tmp_path):
    clip, path = scene
    w = watch(path, gallery=gallery, engine=engine, fps=10, output=tmp_path / "annotated.mp4",
              save_unknown=tmp_path / "unknown")
    events = [e.to_dict() for e in w]
    check_outcomes(clip, events)
    rec = [e for e in events if e["event"] == "recognized"]
    assert len({e["track"] for e in rec}) == len(rec), "a track was announced twice"
    for e in rec:
        assert set(e) >= {"event", "track", "subject", "score", "time", "wall", "first_seen", "frame", "box", "source"}
        assert e["first_seen"] <= e["time"] and len(e["box"]) == 4 and e["source"] == str(path)
    # The masked passer-by's events say so; nobody else's do.
    for e in (e for e in events if e["event"] in ("recognized", "unknown")):
        assert e["masked"] is clip.appearances[clip.appearance_at(e["time"], e["box"])].masked, e
    ends = [e for e in events if e["event"] == "track_end"]
    assert len(ends) == len(clip.appearances)
    assert w.stats["frames"] == pytest.approx(clip.duration * 10, abs=2)
    # One best crop per unknown track, and nothing else of them is kept.
    assert len(list((tmp_path / "unknown").glob("*.jpg"))) == 2
    with av.open(str(tmp_path / "annotated.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == w.stats["frames"]


def test_cli_watch_writes_events_and_prints_json(short, gallery_path, tmp_path, capsys):
    out = tmp_path / "events.jsonl"
    assert main(["watch", str(short), "--gallery", str(gallery_path), "--events", str(out), "--json",
                 "--fpir", "0.001"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["event"] for e in printed] == [e["event"] for e in written]
    assert [e["subject"] for e in written if e["event"] == "recognized"] == ["Hugo_Chavez"]
    assert [e["event"] for e in written].count("unknown") == 1


def test_cli_watch_threshold_from_the_gallery_says_which(short, gallery_path, tmp_path, capsys):
    """26 subjects are too few pairs for a tail fit: the table's threshold, said on stderr; same events."""
    out = tmp_path / "events.jsonl"
    assert main(["watch", str(short), "--gallery", str(gallery_path), "--events", str(out), "--json",
                 "--fpir-from", "gallery"]) == 0
    assert "open-set threshold" in capsys.readouterr().err
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["subject"] for e in written if e["event"] == "recognized"] == ["Hugo_Chavez"]
    assert main(["watch", str(short), "--gallery", str(gallery_path), "--fpir-from", "gallery",
                 "--threshold", "0.5"]) == 2
    assert "leave out --threshold" in capsys.readouterr().err


def test_cli_watch_refuses_bad_input(short, gallery_path, tmp_path, capsys):
    assert main(["watch", str(short), "--gallery", str(tmp_path / "missing.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["watch", str(short), "--gallery", str(gallery_path), "--embedder", "dlib"]) == 2
    assert "holds 'sface' templates" in capsys.readouterr().err
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    for source in (str(tmp_path / "absent.mp4"), str(not_video), "http://127.0.0.1:9/cam"):
        assert main(["watch", source, "--gallery", str(gallery_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("faceprint: error:") and err.count("\n") == 1 and "Traceback" not in err, err


def test_failing_sink_does_not_stop_the_watcher(short, gallery, engine, tmp_path, caplog):
    class Broken:
        name = "broken"

        def emit(self, event):
            raise RuntimeError("receiver is down")

        def close(self):
            raise RuntimeError("still down")

    events = list(watch(short, gallery=gallery, engine=engine,
                        sinks=[Broken(), JSONLSink(tmp_path / "e.jsonl")]))
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == [e.to_dict() for e in events]
    assert any(e.event == "recognized" and e.subject == "Hugo_Chavez" for e in events)
    assert "broken sink: receiver is down" in caplog.text and "broken sink: still down" in caplog.text


def test_live_mjpeg_recognises_and_survives_an_outage(lfw, engine, gallery):
    apps = [_app(lfw, "Colin_Powell", 0.3, 4.3, lane=0.28),
            _app(lfw, "Vladimir_Putin", 0.8, 4.8, lane=0.74, leftward=True),
            _app(lfw, "Tony_Blair", 7.3, 11.3, lane=0.5)]
    clip = Clip(apps, engine=engine, fps=15, duration=11.5)
    server = MJPEGServer(clip, lengths=False).start()

    def outage():                           # the camera goes away between 5.0 and 6.5 s
        while server.t0 is None or time.time() - server.t0 < 5.0:
            time.sleep(0.05)
        server.stop()
        time.sleep(1.5)
        server.start()

    threading.Thread(target=outage, daemon=True).start()
    w = watch(server.url, gallery=gallery, engine=engine, fps=10, max_backoff=0.5)
    stopper = threading.Thread(target=lambda: (time.sleep(12.5), w.stop()), daemon=True)
    stopper.start()
    events: list[Event] = []
    for e in w:
        events.append(e)
    server.stop()
    kinds = [e.event for e in events]
    assert "source_lost" in kinds and "source_back" in kinds[kinds.index("source_lost"):], kinds
    assert w.source.name == server.url
    # Live media time runs from the first frame, which is the clip's start here (within a frame or two).
    check_outcomes(clip, [e.to_dict() for e in events])


def test_hls_over_http_is_read_through_ffmpeg(short, gallery, engine, tmp_path):
    """A non-MJPEG URL goes to FFmpeg (PyAV): here an HLS playlist served by http.server. It is a
    finished (VOD) playlist, so the stream ends and the watcher reports the source lost."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    hls = tmp_path / "hls"
    hls.mkdir()
    with av.open(str(short)) as src, av.open(str(hls / "index.m3u8"), "w", format="hls",
                                             options={"hls_time": "1", "hls_playlist_type": "vod"}) as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for frame in src.decode(video=0):
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode())

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(hls)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        w = watch(f"http://127.0.0.1:{server.server_address[1]}/index.m3u8", gallery=gallery, engine=engine,
                  fps=None, max_backoff=0.2)
        for e in w:
            if e.event == "source_lost":
                w.stop()
    finally:
        server.shutdown()
        server.server_close()
    assert w.stats["frames"] >= 1 and w.stats["events"]["source_lost"] >= 1
    assert w.source.frames_read >= round(4.5 * 25)      # every frame of the playlist was decoded
