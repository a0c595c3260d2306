"""What the MQTT sink publishes: faceprint's own event JSON on one topic (the default), or what Double
Take publishes, so that Home Assistant automations and cards written for Frigate + Double Take work
unchanged: per-person and per-camera topics, a retained availability topic and Home Assistant MQTT
discovery configs (sensors appear with no YAML)."""
from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import PurePosixPath
from typing import Any, Protocol

from .._version import __version__
from ..errors import UsageError
from .events import Event


class MQTTFormat(str, Enum):
    FACEPRINT = "faceprint"
    DOUBLE_TAKE = "double-take"


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    retain: bool = False


@dataclass(frozen=True)
class MQTTConfig:
    """Where and what to publish. topic: the one topic (faceprint format) or the topic root (Double
    Take format, default "double-take"). camera: the camera name in Double Take topics (default: made
    from the source's name). discovery_prefix: Home Assistant's discovery prefix ("" turns discovery
    off)."""
    host: str
    port: int = 1883
    topic: str = ""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    format: MQTTFormat = MQTTFormat.FACEPRINT
    camera: str | None = None
    discovery_prefix: str = "homeassistant"
    client_id: str = ""

    @classmethod
    def from_url(cls, url: str, *, format: MQTTFormat | str = MQTTFormat.FACEPRINT, camera: str | None = None,
                 discovery_prefix: str = "homeassistant", client_id: str = "") -> MQTTConfig:
        """mqtt[s]://[user:password@]host[:port][/topic]: the topic is required for the faceprint
        format; for Double Take it is the topic root and may be left out."""
        try:
            fmt = MQTTFormat(format)
        except ValueError:
            raise UsageError(f"unknown MQTT format {format!r}: use one of "
                             f"{', '.join(f.value for f in MQTTFormat)}") from None
        u = urllib.parse.urlsplit(url)
        try:
            port = u.port
        except ValueError:
            raise UsageError(f"MQTT URL {url!r} has a port that is not a number from 1 to 65535") from None
        topic = urllib.parse.unquote(u.path).strip("/")
        if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
            raise UsageError(f"MQTT URL must look like mqtt://host:1883/topic, not {url!r}")
        if "+" in topic or u.fragment or url.endswith("#"):   # a '#' starts the URL's fragment
            raise UsageError(f"MQTT URL {url!r}: a topic to publish to must not contain the wildcards + or #")
        if fmt is MQTTFormat.FACEPRINT and not topic:
            raise UsageError(f"MQTT URL {url!r} names no topic: add one (mqtt://host:1883/topic), "
                             "or use --mqtt-format double-take")
        if fmt is MQTTFormat.FACEPRINT and camera:
            raise UsageError("a camera name only applies to --mqtt-format double-take (faceprint events "
                             "carry the source's name)")
        if camera is not None and not slug(camera):
            raise UsageError(f"camera name {camera!r} has no letters or digits to make a topic from")
        return cls(host=u.hostname, port=port or (8883 if u.scheme == "mqtts" else 1883),
                   topic=topic or "double-take", tls=u.scheme == "mqtts",
                   username=urllib.parse.unquote(u.username) if u.username else None,
                   password=urllib.parse.unquote(u.password or "") if u.username else None,
                   format=fmt, camera=camera, discovery_prefix=discovery_prefix.strip("/"), client_id=client_id)


class Formatter(Protocol):
    """Turns events into messages. opening: retained messages true from the start (published on
    every connect); will: what the broker publishes if the watcher vanishes; closing: on a clean end."""
    opening: list[Message]
    will: Message | None

    def messages(self, event: Event) -> list[Message]: ...

    def closing(self) -> list[Message]: ...


def make_formatter(config: MQTTConfig) -> Formatter:
    if config.format is MQTTFormat.DOUBLE_TAKE:
        return DoubleTakeFormat(config)
    return FaceprintFormat(config)


class FaceprintFormat:
    """Each event's JSON on one topic, not retained."""

    will = None

    def __init__(self, config: MQTTConfig):
        self.topic = config.topic
        self.opening: list[Message] = []

    def messages(self, event: Event) -> list[Message]:
        return [Message(self.topic, event.to_json())]

    def closing(self) -> list[Message]:
        return []


def slug(text: str) -> str:
    """Double Take's topic name for a person or camera: spaces become '-', then anything but ASCII
    letters, digits and '-' goes."""
    return re.sub(r"[^a-z0-9-]", "", re.sub(r"\s+", "-", text), flags=re.IGNORECASE)


def _topic_name(name: str) -> str:
    """slug(name), or for a name with no ASCII letters or digits a stable stand-in."""
    return slug(name) or "subject-" + hashlib.sha1(name.encode()).hexdigest()[:8]


def camera_from_source(source: str) -> str:
    """A camera name for a source given none: a URL's host, a file's stem, or webcamN."""
    if source.isdigit():
        return f"webcam{source}"
    u = urllib.parse.urlsplit(source)
    name = (u.hostname or "").replace(".", "-") if u.scheme else PurePosixPath(source).stem
    return slug(name).lower() or "camera"


def _timestamp(wall: float) -> str:
    return datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DoubleTakeFormat:
    """Double Take's messages under the topic root (default "double-take"):
      root/matches/<name>            a person recognised: {id, duration, timestamp, attempts, camera, zones, match}
      root/matches/unknown           a person not enrolled: {..., unknown, unknowns}
      root/cameras/<camera>          after each decision: {..., matches, misses, unknowns, personCount, counts}
      root/cameras/<camera>/person   retained: people in view (recognised tracks still open)
      root/available                 retained: online, or offline on a clean end (and as the last will)
      <discovery>/sensor/<node>/<name|unknown|camera>/config and /state   retained Home Assistant sensors
    Names are lowercased as Double Take does; confidence is the score in percent."""

    def __init__(self, config: MQTTConfig):
        self.root = config.topic
        self.camera = slug(config.camera).lower() if config.camera else None
        self.discovery = config.discovery_prefix
        self.node = self.root.replace("/", "_")
        self.node_id = re.sub(r"[^a-z0-9_]", "_", self.node.lower())
        self.available = f"{self.root}/available"
        self.will = Message(self.available, "offline", retain=True)
        self.opening = [Message(self.available, "online", retain=True)]
        self.device = {"identifiers": [f"faceprint_{self.node_id}"],
                       "name": re.sub(r"[-_]+", " ", self.node).title(), "manufacturer": "faceprint",
                       "model": "faceprint watch", "sw_version": __version__}
        self._run = f"{time.time():.6f}"
        self._present: dict[int, dict] = {}      # open recognised tracks: their match
        self._count: int | None = None          # the person count last published

    def messages(self, event: Event) -> list[Message]:
        camera = self.camera or camera_from_source(event.source)
        if event.event == "recognized":
            return self._recognized(event, camera)
        if event.event == "unknown":
            return self._unknown(event, camera)
        if event.event == "track_end":
            return self._track_end(event, camera)
        return []

    def closing(self) -> list[Message]:
        return [Message(self.available, "offline", retain=True)]

    # -- payloads ---------------------------------------------------------------------------
    def _base(self, event: Event, camera: str) -> dict[str, Any]:
        return {"id": f"{self._run}-{event.track}", "duration": self._duration(event),
                "timestamp": _timestamp(event.wall), "attempts": event.samples or 1,
                "camera": camera, "zones": []}

    @staticmethod
    def _duration(event: Event) -> float:
        """Seconds of media from the track's first face to the decision."""
        return round(max(0.0, event.time - (event.first_seen if event.first_seen is not None else event.time)), 2)

    def _face(self, event: Event, name: str, matched: bool) -> dict[str, Any]:
        x, y, w, h = event.box or (0.0, 0.0, 0.0, 0.0)
        return {"name": name, "confidence": round(100 * event.score, 2) if event.score is not None else 0.0,
                "match": matched, "box": {"top": round(y), "left": round(x), "width": round(w), "height": round(h)},
                "type": "watch", "duration": self._duration(event), "detector": "faceprint",
                "filename": None, "base64": None, "track": event.track, "masked": event.masked}

    def _recognized(self, event: Event, camera: str) -> list[Message]:
        name = (event.subject or "").lower()
        match = self._face(event, name, True)
        self._present[event.track] = match
        base = self._base(event, camera)
        payload = {**base, "match": match}
        topic = _topic_name(name)
        return ([Message(f"{self.root}/matches/{topic}", json.dumps(payload))]
                + self._sensor(topic, name, "mdi:account", "{{ value_json.camera }}", payload)
                + self._camera(base, camera, [], publish=True))

    def _unknown(self, event: Event, camera: str) -> list[Message]:
        face = self._face(event, "unknown", False)
        base = self._base(event, camera)
        payload = {**base, "unknown": face, "unknowns": [face]}
        return ([Message(f"{self.root}/matches/unknown", json.dumps(payload))]
                + self._sensor("unknown", "unknown", "mdi:account", "{{ value_json.camera }}", payload)
                + self._camera(base, camera, [face], publish=True))

    def _track_end(self, event: Event, camera: str) -> list[Message]:
        self._present.pop(event.track, None)
        if len(self._matches()) == self._count:
            return []
        return self._camera(self._base(event, camera), camera, [], publish=False)

    def _matches(self) -> list[dict]:
        """The best match per name among the recognised tracks still open."""
        best: dict[str, dict] = {}
        for m in self._present.values():
            if m["name"] not in best or m["confidence"] > best[m["name"]]["confidence"]:
                best[m["name"]] = m
        return list(best.values())

    def _camera(self, base: dict, camera: str, unknowns: list[dict], *, publish: bool) -> list[Message]:
        """The camera's retained person count and sensor state; with publish, the camera topic too."""
        matches = self._matches()
        counts = {"person": len(matches) + len(unknowns), "match": len(matches), "miss": 0,
                  "unknown": len(unknowns)}
        self._count = counts["person"]
        payload = {**base, "matches": matches, "misses": [], "unknowns": unknowns,
                   "personCount": counts["person"], "counts": counts}
        out = [Message(f"{self.root}/cameras/{camera}", json.dumps(payload))] if publish else []
        out.append(Message(f"{self.root}/cameras/{camera}/person", str(counts["person"]), retain=True))
        return out + self._sensor(camera, camera, "mdi:camera", "{{ value_json.counts.person }}", payload)

    def _sensor(self, topic: str, name: str, icon: str, template: str, state: dict) -> list[Message]:
        """Home Assistant discovery config and state of one sensor (both retained)."""
        if not self.discovery:
            return []
        at = f"{self.discovery}/sensor/{self.node}/{topic}"
        uid = self.node_id + "_" + re.sub(r"\s+", "_", name)
        config = {"name": name, "icon": icon, "value_template": template, "state_topic": f"{at}/state",
                  "json_attributes_topic": f"{at}/state", "availability_topic": self.available,
                  "unique_id": uid, "default_entity_id": "sensor." + re.sub(r"[^a-z0-9_]", "_", uid.lower()),
                  "device": self.device}
        return [Message(f"{at}/config", json.dumps(config), retain=True),
                Message(f"{at}/state", json.dumps(state), retain=True)]
