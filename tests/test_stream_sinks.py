"""Event sinks against real receivers on loopback: a standard-library HTTP server for the webhook and
Debian's mosquitto broker for MQTT."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from faceprint.cli import main
from faceprint.errors import FaceprintError
from faceprint.stream import Event, MQTTSink, WebhookSink
from mqtt_broker import Listener, broker, free_port, wait_for
from stream_clips import make_gallery, short_clip

EVENTS = [Event("recognized", "cam", 1.5 + i, time.time(), track=i, subject=f"Person {i}", score=0.7,
                first_seen=1.0 + i, frame=10 * i, box=[1.0, 2.0, 30.0, 40.0]) for i in range(3)]


@pytest.fixture
def mosquitto(tmp_path):
    yield from broker(tmp_path)


class Receiver:
    """Records POSTed JSON bodies; answers the first `fail_first` requests with `fail_code`."""

    def __init__(self, fail_first: int = 0, fail_code: int = 503):
        self.bodies: list[dict] = []
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.requests += 1
                code = fail_code if owner.requests <= fail_first else 200
                if code == 200:
                    owner.bodies.append(json.loads(body))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_webhook_retries_server_errors_and_delivers_in_order():
    rx = Receiver(fail_first=2, fail_code=503)
    sink = WebhookSink(rx.url, retries=3, backoff=0.05)
    for e in EVENTS:
        sink.emit(e)
    sink.close()
    rx.close()
    assert rx.bodies == [e.to_dict() for e in EVENTS]
    assert rx.requests == len(EVENTS) + 2 and sink.sent == 3 and sink.failed == 0


def test_webhook_gives_up_without_blocking():
    rx = Receiver(fail_first=99, fail_code=400)      # a client error is not retried
    sink = WebhookSink(rx.url, retries=3, backoff=0.05)
    sink.emit(EVENTS[0])
    sink.close()
    rx.close()
    assert rx.requests == 1 and sink.failed == 1
    dead = WebhookSink(f"http://127.0.0.1:{free_port()}/hook", retries=1, backoff=0.05)
    t0 = time.perf_counter()
    dead.emit(EVENTS[0])
    assert time.perf_counter() - t0 < 0.1            # emit never waits for the receiver
    dead.close()
    assert dead.failed == 1 and dead.sent == 0
    with pytest.raises(FaceprintError):
        WebhookSink("ftp://example/hook")


def test_mqtt_publishes_each_event_even_when_the_broker_starts_late(mosquitto):
    port = mosquitto.port
    sink = MQTTSink(f"mqtt://127.0.0.1:{port}/faceprint/lobby")   # broker not up yet
    sink.emit(EVENTS[0])
    mosquitto.start()
    live = Listener(port, "faceprint/#")
    wait_for(lambda: len(live.messages) >= 1)
    for e in EVENTS[1:]:
        sink.emit(e)
    sink.close()
    wait_for(lambda: len(live.messages) >= 3)
    live.close()
    assert live.json("faceprint/lobby", retained=False) == [e.to_dict() for e in EVENTS]
    with pytest.raises(FaceprintError, match="names no topic"):
        MQTTSink("mqtt://127.0.0.1:1883")


def test_cli_watch_sends_events_to_webhook_and_mqtt(mosquitto, lfw, engine, tmp_path):
    gallery_path = make_gallery(tmp_path / "g.db", engine, lfw, ["Hugo_Chavez"], 5)
    clip = short_clip(lfw, engine, tmp_path / "short.mp4", ["Hugo_Chavez"])
    mosquitto.start()
    port = mosquitto.port
    live = Listener(port, "cams/lobby")
    rx = Receiver()
    out = tmp_path / "events.jsonl"
    assert main(["watch", str(clip), "--gallery", str(gallery_path), "--events", str(out),
                 "--webhook", rx.url, "--mqtt", f"mqtt://127.0.0.1:{port}/cams/lobby"]) == 0
    written = [json.loads(line) for line in out.read_text().splitlines()]
    wait_for(lambda: len(live.messages) >= len(written))
    live.close()
    rx.close()
    assert rx.bodies == written and live.json("cams/lobby", retained=False) == written
    assert any(e["event"] == "recognized" and e["subject"] == "Hugo_Chavez" for e in written)
