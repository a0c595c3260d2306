"""Event sinks against real receivers on loopback: a standard-library HTTP server for the webhook and
Debian's mosquitto broker for MQTT."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from faceprint.cli import main
from faceprint.errors import FaceprintError
from faceprint.stream import Event, MQTTSink, WebhookSink
from stream_clips import make_gallery, short_clip

EVENTS = [Event("recognized", "cam", 1.5 + i, time.time(), track=i, subject=f"Person {i}", score=0.7,
                first_seen=1.0 + i, frame=10 * i, box=[1.0, 2.0, 30.0, 40.0]) for i in range(3)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    dead = WebhookSink(f"http://127.0.0.1:{_free_port()}/hook", retries=1, backoff=0.05)
    t0 = time.perf_counter()
    dead.emit(EVENTS[0])
    assert time.perf_counter() - t0 < 0.1            # emit never waits for the receiver
    dead.close()
    assert dead.failed == 1 and dead.sent == 0
    with pytest.raises(FaceprintError):
        WebhookSink("ftp://example/hook")


@pytest.fixture
def mosquitto(tmp_path):
    """Start a broker on a free loopback port; returns (port, start) so a test can start it late."""
    exe = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if exe is None:
        if os.environ.get("FACEPRINT_REQUIRE_DATA"):
            pytest.fail("mosquitto is not installed (apt-get install mosquitto); CI must have it")
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    procs = []

    def start():
        proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    yield port, start
    for p in procs:
        p.terminate()
        p.wait(5)


def _subscribe(port: int, topic: str) -> tuple[list[dict], object]:
    import paho.mqtt.client as mqtt
    got: list[dict] = []
    ready = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.on_connect = lambda client, *a: client.subscribe(topic, qos=1)
    c.on_subscribe = lambda *a: ready.set()
    c.on_message = lambda client, userdata, msg: got.append(json.loads(msg.payload))
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert ready.wait(10), "subscriber did not subscribe"
    return got, c


def _wait_for(cond, timeout=10.0):
    deadline = time.time() + timeout
    while not cond() and time.time() < deadline:
        time.sleep(0.05)


def test_mqtt_publishes_each_event_even_when_the_broker_starts_late(mosquitto):
    port, start = mosquitto
    sink = MQTTSink(f"mqtt://127.0.0.1:{port}/faceprint/lobby")   # broker not up yet
    sink.emit(EVENTS[0])
    start()
    got, sub = _subscribe(port, "faceprint/#")
    _wait_for(lambda: len(got) >= 1)
    for e in EVENTS[1:]:
        sink.emit(e)
    sink.close()
    _wait_for(lambda: len(got) >= 3)
    sub.loop_stop()
    assert got == [e.to_dict() for e in EVENTS]
    with pytest.raises(FaceprintError):
        MQTTSink("mqtt://127.0.0.1:1883")                       # no topic


def test_cli_watch_sends_events_to_webhook_and_mqtt(mosquitto, lfw, engine, tmp_path):
    gallery_path = make_gallery(tmp_path / "g.db", engine, lfw, ["Hugo_Chavez"], 5)
    clip = short_clip(lfw, engine, tmp_path / "short.mp4", ["Hugo_Chavez"])
    port, start = mosquitto
    start()
    got, sub = _subscribe(port, "cams/lobby")
    rx = Receiver()
    out = tmp_path / "events.jsonl"
    assert main(["watch", str(clip), "--gallery", str(gallery_path), "--events", str(out),
                 "--webhook", rx.url, "--mqtt", f"mqtt://127.0.0.1:{port}/cams/lobby"]) == 0
    written = [json.loads(line) for line in out.read_text().splitlines()]
    _wait_for(lambda: len(got) >= len(written))
    sub.loop_stop()
    rx.close()
    assert rx.bodies == written and got == written
    assert any(e["event"] == "recognized" and e["subject"] == "Hugo_Chavez" for e in written)
