"""The Double Take MQTT format (with Home Assistant discovery) against Debian's mosquitto: every topic,
payload field and retain flag, the availability topic across a broker restart and a crash, and the
configuration errors a user can make."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest

from faceprint import __version__
from faceprint.cli import main
from faceprint.errors import UsageError
from faceprint.stream import MQTTConfig, MQTTFormat
from faceprint.stream.mqtt_formats import camera_from_source
from mqtt_broker import Listener, broker, wait_for
from stream_clips import make_gallery, short_clip

DEVICE = {"identifiers": ["faceprint_double_take"], "name": "Double Take", "manufacturer": "faceprint",
          "model": "faceprint watch", "sw_version": __version__}


@pytest.fixture
def mosquitto(tmp_path):
    yield from broker(tmp_path)


def _expected_counts(events: list[dict]) -> tuple[list[dict], list[str]]:
    """What the camera topics must say, replayed from the events: the counts after each decision, and
    the retained person count after each change (recognised tracks stay in view until they end)."""
    present: set[int] = set()
    counts, person = [], []
    for e in events:
        if e["event"] == "recognized":
            present.add(e["track"])
        if e["event"] in ("recognized", "unknown"):
            unknown = int(e["event"] == "unknown")
            counts.append({"person": len(present) + unknown, "match": len(present), "miss": 0, "unknown": unknown})
            person.append(str(len(present) + unknown))
        elif e["event"] == "track_end":
            present.discard(e["track"])
            if str(len(present)) != person[-1]:
                person.append(str(len(present)))
    return counts, person


def _face(e: dict, name: str, matched: bool) -> dict:
    x, y, w, h = e["box"]
    return {"name": name, "confidence": pytest.approx(100 * e["score"], abs=0.011), "match": matched,
            "box": {"top": round(y), "left": round(x), "width": round(w), "height": round(h)}, "type": "watch",
            "duration": round(e["time"] - e["first_seen"], 2), "detector": "faceprint", "filename": None,
            "base64": None, "track": e["track"], "masked": e["masked"]}


def _base(e: dict, msg: dict) -> None:
    assert msg["camera"] == "front-door" and msg["zones"] == [] and msg["attempts"] == e["samples"] >= 1
    assert msg["duration"] == round(e["time"] - e["first_seen"], 2)
    stamp = datetime.fromisoformat(msg["timestamp"].replace("Z", "+00:00")).timestamp()
    assert msg["timestamp"].endswith("Z") and abs(stamp - e["wall"]) < 0.002
    assert isinstance(msg["id"], str) and msg["id"].endswith(f"-{e['track']}")


def _discovery(live: Listener, topic: str, name: str, icon: str, template: str) -> dict:
    """The sensor's discovery config (checked field by field) and its last state."""
    at = f"homeassistant/sensor/double-take/{topic}"
    configs = live.json(f"{at}/config", retained=True)
    uid = "double_take_" + name
    assert configs and all(c == {
        "name": name, "icon": icon, "value_template": template, "state_topic": f"{at}/state",
        "json_attributes_topic": f"{at}/state", "availability_topic": "double-take/available",
        "unique_id": uid, "default_entity_id": "sensor." + uid.replace("-", "_"), "device": DEVICE} for c in configs)
    return live.json(f"{at}/state", retained=True)[-1]


def test_double_take_topics_and_home_assistant_discovery(mosquitto, lfw, engine, tmp_path):
    gallery_path = make_gallery(tmp_path / "g.db", engine, lfw, ["Hugo_Chavez"], 5)
    clip = short_clip(lfw, engine, tmp_path / "short.mp4", ["Hugo_Chavez"])
    mosquitto.start()
    live = Listener(mosquitto.port)
    out = tmp_path / "events.jsonl"
    assert main(["watch", str(clip), "--gallery", str(gallery_path), "--events", str(out), "--mqtt",
                 f"mqtt://127.0.0.1:{mosquitto.port}", "--mqtt-format", "double-take", "--camera", "Front Door"]) == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert wait_for(lambda: live.on("double-take/available")[-1:] == [("offline", True)])
    live.close()
    (rec,) = [e for e in events if e["event"] == "recognized"]
    (unk,) = [e for e in events if e["event"] == "unknown"]
    assert rec["subject"] == "Hugo_Chavez"

    assert live.on("double-take/available") == [("online", True), ("offline", True)]
    (match,) = live.json("double-take/matches/hugochavez", retained=False)
    _base(rec, match)
    assert set(match) == {"id", "duration", "timestamp", "attempts", "camera", "zones", "match"}
    assert match["match"] == _face(rec, "hugo_chavez", True)
    (unknown,) = live.json("double-take/matches/unknown", retained=False)
    _base(unk, unknown)
    assert unknown["unknown"] == _face(unk, "unknown", False) and unknown["unknowns"] == [unknown["unknown"]]

    counts, person = _expected_counts(events)
    cameras = live.json("double-take/cameras/front-door", retained=False)
    assert [c["counts"] for c in cameras] == counts and [c["personCount"] for c in cameras] == [
        c["person"] for c in counts]
    assert cameras[0]["matches"] == [match["match"]] and cameras[0]["misses"] == []
    assert cameras[1]["unknowns"] == [unknown["unknown"]]
    assert live.on("double-take/cameras/front-door/person") == [(p, True) for p in person] and person[-1] == "0"

    assert _discovery(live, "hugochavez", "hugo_chavez", "mdi:account", "{{ value_json.camera }}") == match
    assert _discovery(live, "unknown", "unknown", "mdi:account", "{{ value_json.camera }}") == unknown
    state = _discovery(live, "front-door", "front-door", "mdi:camera", "{{ value_json.counts.person }}")
    assert state["counts"] == {"person": 0, "match": 0, "miss": 0, "unknown": 0} and state["matches"] == []

    # What Home Assistant finds when it (re)starts: only the retained topics, with their last values.
    late = Listener(mosquitto.port)
    assert wait_for(lambda: len(late.topics()) >= 8, timeout=3)
    late.close()
    sensors = {f"homeassistant/sensor/double-take/{s}/{k}" for s in ("hugochavez", "unknown", "front-door")
               for k in ("config", "state")}
    assert late.topics() == sensors | {"double-take/available", "double-take/cameras/front-door/person"}
    assert late.on("double-take/available") == [("offline", True)]
    assert late.on("double-take/cameras/front-door/person") == [("0", True)]


CRASHING_WATCHER = """
import sys, time
from faceprint.stream import Event, MQTTConfig, MQTTSink
sink = MQTTSink(MQTTConfig.from_url(sys.argv[1], format="double-take", camera="porch"))
sink.emit(Event("recognized", "rtsp://cam/porch", 2.0, time.time(), track=1, subject="Ada Lovelace",
                score=0.7, first_seen=1.0, frame=20, box=[1.0, 2.0, 30.0, 40.0], masked=False, samples=3))
time.sleep(120)
"""


def test_availability_across_a_broker_restart_and_a_crash(mosquitto, tmp_path):
    """A broker restarted without persistence gets the retained topics again from the watcher; a
    watcher that dies without a word is marked offline by the broker (its last will)."""
    mosquitto.start()
    url = f"mqtt://127.0.0.1:{mosquitto.port}/home/faces"
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_WATCHER, url])
    state = "homeassistant/sensor/home_faces/ada-lovelace/state"
    try:
        for attempt in ("first connect", "after the broker restart"):
            live = Listener(mosquitto.port)
            ok = wait_for(lambda lv=live: lv.on("home/faces/available")[-1:] == [("online", True)]
                          and lv.on(state) and lv.on(state.replace("/state", "/config")), timeout=20)
            live.close()
            assert ok, f"retained topics missing {attempt}: {live.topics()}"
            config = json.loads(live.on(state.replace("/state", "/config"))[-1][0])
            assert config["unique_id"] == "home_faces_ada_lovelace" and config["availability_topic"] == "home/faces/available"
            assert config["device"]["name"] == "Home Faces"
            assert json.loads(live.on(state)[-1][0])["match"]["name"] == "ada lovelace"
            if attempt == "first connect":
                assert all(not r for _, r in live.on("home/faces/matches/ada-lovelace"))   # never retained
                mosquitto.stop()
                mosquitto.start()
        live = Listener(mosquitto.port, "home/faces/available")
        proc.kill()
        assert wait_for(lambda: live.on("home/faces/available")[-1:] == [("offline", True)])
        live.close()
    finally:
        proc.kill()
        proc.wait(5)


@pytest.mark.parametrize("url, kw, message", [
    ("mqtt://broker:1883", {}, "names no topic"),
    ("http://broker/topic", {}, "must look like mqtt://"),
    ("mqtt://broker:99999/t", {}, "port that is not a number"),
    ("mqtt://broker/cams/#", {}, "wildcards"),
    ("mqtt://broker/t", {"format": "frigate"}, "unknown MQTT format 'frigate'"),
    ("mqtt://broker/t", {"camera": "porch"}, "only applies to --mqtt-format double-take"),
    ("mqtt://broker", {"format": "double-take", "camera": "!!"}, "no letters or digits"),
])
def test_mqtt_config_errors_name_the_mistake(url, kw, message):
    with pytest.raises(UsageError, match=message):
        MQTTConfig.from_url(url, **kw)


def test_cli_refuses_double_take_options_without_a_broker(capsys):
    for extra in (["--mqtt-format", "double-take"], ["--camera", "porch"], ["--mqtt", "mqtt://b/t", "--camera", "porch"]):
        assert main(["watch", "clip.mp4", "--gallery", "g.db", *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("faceprint: error:") and ("go with --mqtt" in err or "only applies" in err), err


def test_mqtt_config_from_url():
    c = MQTTConfig.from_url("mqtts://ha%40home:p%2Fw@broker.lan", format="double-take", camera="Front Door")
    assert (c.host, c.port, c.tls, c.username, c.password) == ("broker.lan", 8883, True, "ha@home", "p/w")
    assert c.format is MQTTFormat.DOUBLE_TAKE and c.topic == "double-take" and "p/w" not in repr(c)
    assert MQTTConfig.from_url("mqtt://b:1884/cams/lobby").topic == "cams/lobby"
    assert [camera_from_source(s) for s in ("rtsp://u:p@192.168.1.5:554/Streaming/101", "0", "/v/Front door.mp4")] == [
        "192-168-1-5", "webcam0", "front-door"]
