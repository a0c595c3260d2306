"""A real MQTT broker for tests (Debian's mosquitto on a free loopback port) and a subscriber that
records every message with its retain flag."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while not cond() and time.time() < deadline:
        time.sleep(0.05)
    return bool(cond())


class Broker:
    """mosquitto without persistence: stop() then start() is a restart that loses every retained
    message."""

    def __init__(self, exe: str, conf_dir):
        self.port = free_port()
        self.conf = conf_dir / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.exe = exe
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


def broker(tmp_path):
    """For a fixture: a broker not yet started (a test may start it late), stopped afterwards."""
    exe = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if exe is None:
        if os.environ.get("FACEPRINT_REQUIRE_DATA"):
            pytest.fail("mosquitto is not installed (apt-get install mosquitto); CI must have it")
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    broker = Broker(exe, tmp_path)
    yield broker
    broker.stop()


class Listener:
    """Subscribes (MQTT 5, QoS 1) with retain-as-published, so each message keeps the retain flag its
    publisher gave it; a listener that subscribes late receives the retained messages, flagged."""

    def __init__(self, port: int, topic: str = "#"):
        import paho.mqtt.client as mqtt
        from paho.mqtt.subscribeoptions import SubscribeOptions

        self.messages: list[tuple[str, str, bool]] = []
        ready = threading.Event()
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        c.on_connect = lambda client, *a: client.subscribe(
            topic, options=SubscribeOptions(qos=1, retainAsPublished=True))
        c.on_subscribe = lambda *a: ready.set()
        c.on_message = lambda client, userdata, msg: self.messages.append(
            (msg.topic, msg.payload.decode(), bool(msg.retain)))
        c.connect("127.0.0.1", port)
        c.loop_start()
        assert ready.wait(10), "subscriber did not subscribe"

    def on(self, topic: str) -> list[tuple[str, bool]]:
        """(payload, retained) of each message on the topic, in order."""
        return [(p, r) for t, p, r in self.messages if t == topic]

    def json(self, topic: str, *, retained: bool) -> list[dict]:
        """The JSON payloads on the topic, asserting each has the expected retain flag."""
        got = self.on(topic)
        assert all(r is retained for _, r in got), f"{topic}: retain flags {[r for _, r in got]}"
        return [json.loads(p) for p, _ in got]

    def topics(self) -> set[str]:
        return {t for t, _, _ in self.messages}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
