"""Where events go: a JSONL file, stdout, a webhook, an MQTT topic; and the annotated video.

Network sinks send from their own thread through a bounded queue, so a slow or dead receiver
never holds up recognition; a sink that fails logs one line to stderr and the watcher goes on."""
from __future__ import annotations

import logging
import queue
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from ..errors import FaceprintError
from .events import Event
from .mqtt_formats import Message, MQTTConfig, make_formatter
from .sources import need

log = logging.getLogger(__name__)


def sink_failed(sink, exc: BaseException) -> None:
    log.warning("%s sink: %s", getattr(sink, "name", type(sink).__name__), exc)


class JSONLSink:
    """One JSON object per line, flushed per event (tail -f friendly); also used for stdout."""

    def __init__(self, target: str | Path | TextIO):
        self.name = "events file" if isinstance(target, (str, Path)) else "stdout"
        self._own = isinstance(target, (str, Path))
        if self._own:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(target, "a", encoding="utf-8") if self._own else target

    def emit(self, event: Event) -> None:
        self._fh.write(event.to_json() + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._own:
            self._fh.close()


class _Background:
    """A bounded queue drained by one thread; when the queue is full the oldest events are dropped
    (and counted) rather than blocking the watcher."""

    name = "sink"

    def __init__(self, maxsize: int = 1000):
        self._q: queue.Queue = queue.Queue(maxsize)
        self.sent = self.failed = self.dropped = 0
        self._thread = threading.Thread(target=self._drain, name=f"faceprint-{self.name}", daemon=True)
        self._thread.start()

    def emit(self, event) -> None:
        while True:
            try:
                self._q.put_nowait(event)
                return
            except queue.Full:
                try:
                    self._q.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def _drain(self) -> None:
        while True:
            event = self._q.get()
            if event is None:
                return
            try:
                self._send(event)
                self.sent += isinstance(event, Event)
            except Exception as exc:   # any failure of the receiver: count it, say it, go on
                self.failed += 1
                sink_failed(self, exc)

    def _send(self, event: Event) -> None:
        raise NotImplementedError

    def close(self, timeout: float = 10.0) -> None:
        self._q.put(None)
        self._thread.join(timeout)


class WebhookSink(_Background):
    """POSTs each event as JSON; retries connection errors and 5xx/429 answers with back-off."""

    name = "webhook"

    def __init__(self, url: str, *, retries: int = 3, timeout: float = 5.0, backoff: float = 0.5):
        if not url.startswith(("http://", "https://")):
            raise FaceprintError(f"webhook URL must start with http:// or https://, not {url!r}")
        self.url, self.retries, self.timeout, self.backoff = url, retries, timeout, backoff
        super().__init__()

    def _send(self, event: Event) -> None:
        body = event.to_json().encode()
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    resp.read()
                return
            except urllib.error.HTTPError as exc:
                if exc.code < 500 and exc.code != 429:
                    raise FaceprintError(f"{self.url} refused the event: HTTP {exc.code}") from None
                err: Exception = exc
            except (urllib.error.URLError, OSError) as exc:
                err = exc
            if attempt < self.retries:
                time.sleep(self.backoff * 2 ** attempt)
        raise FaceprintError(f"{self.url} failed after {self.retries + 1} attempts: {err}")


class MQTTSink(_Background):
    """Publishes events to an MQTT broker (QoS 1) in a format (see mqtt_formats): faceprint's event JSON
    on one topic by default, or Double Take's topics with Home Assistant discovery. paho-mqtt reconnects
    by itself and queues what is published while the broker is away; the latest retained message of
    each topic is published again on every (re)connect, so a broker restarted without persistence
    gets them back."""

    name = "mqtt"

    def __init__(self, target: str | MQTTConfig, *, timeout: float = 10.0):
        mqtt = need("paho.mqtt.client")
        self.config = target if isinstance(target, MQTTConfig) else MQTTConfig.from_url(target)
        self.format = make_formatter(self.config)
        self.timeout = timeout
        self._retained = {m.topic: m for m in self.format.opening}   # published on each connect
        self.published = self.acknowledged = 0   # QoS 1 messages handed to paho / acknowledged by the broker
        super().__init__()
        c = self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.config.client_id)
        if self.config.username is not None:
            c.username_pw_set(self.config.username, self.config.password or "")
        if self.config.tls:
            c.tls_set()
        if self.format.will is not None:
            w = self.format.will
            c.will_set(w.topic, w.payload, qos=1, retain=w.retain)
        c.on_connect = self._on_connect
        c.on_publish = self._on_publish
        c.reconnect_delay_set(1, 30)
        c.connect_async(self.config.host, self.config.port)
        c.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        # paho's network thread: hand the replay to the sender thread, which does all the publishing.
        if not reason_code.is_failure:
            self.emit(_RECONNECTED)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self.acknowledged += 1

    def _publish(self, m: Message) -> None:
        if m.retain:
            self._retained[m.topic] = m
        info = self._client.publish(m.topic, m.payload, qos=1, retain=m.retain)
        if info.rc not in (0, 4):   # 4: not connected yet; paho queues it and sends on connect
            raise FaceprintError(f"publish to {m.topic!r} failed (paho rc {info.rc})")
        self.published += 1

    def _send(self, event) -> None:
        if event is _RECONNECTED:
            for m in list(self._retained.values()):
                self._publish(m)
            return
        for m in self.format.messages(event):
            self._publish(m)

    def close(self, timeout: float = 10.0) -> None:
        super().close(timeout)
        try:
            for m in self.format.closing():
                self._publish(m)
        except FaceprintError as exc:
            sink_failed(self, exc)
        # Give queued QoS 1 messages a chance to reach the broker before disconnecting cleanly (a
        # clean disconnect means the broker does not publish the last will).
        deadline = time.time() + timeout
        while self.acknowledged < self.published and time.time() < deadline:
            time.sleep(0.02)
        self._client.disconnect()
        self._client.loop_stop()


_RECONNECTED = object()     # queued by MQTTSink when the broker (re)accepts the connection


class AnnotatedVideo:
    """Writes the analysed frames with each track's box, name (or "unknown") and score drawn."""

    def __init__(self, path: str | Path, fps: float):
        av = need("av")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._av = av
        self._fps = fps
        self._container = None
        self._stream = None

    def write(self, image: np.ndarray, labels: list[tuple[np.ndarray, str, bool]]) -> None:
        """labels: (box [x, y, w, h], text, recognised)."""
        img = image.copy()
        for box, text, known in labels:
            x, y, w, h = (int(round(float(v))) for v in box)
            colour = (60, 200, 60) if known else (0, 165, 255)
            cv2.rectangle(img, (x, y), (x + w, y + h), colour, 2)
            cv2.putText(img, text, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
        if self._container is None:
            self._container = self._av.open(str(self.path), "w")
            self._stream = self._container.add_stream("mpeg4", rate=max(1, round(self._fps)))
            self._stream.width, self._stream.height = img.shape[1] // 2 * 2, img.shape[0] // 2 * 2
            self._stream.pix_fmt = "yuv420p"
            self._stream.bit_rate = 4_000_000
        frame = self._av.VideoFrame.from_ndarray(img[:self._stream.height, :self._stream.width], format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._container is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()


def make_sinks(*, events: str | Path | None = None, stdout: bool = False, webhook: str | None = None,
               mqtt: str | MQTTConfig | None = None) -> list:
    """The sinks asked for; mqtt: a URL (faceprint format) or an MQTTConfig (any format)."""
    sinks: list = []
    if events:
        sinks.append(JSONLSink(events))
    if stdout:
        sinks.append(JSONLSink(sys.stdout))
    if webhook:
        sinks.append(WebhookSink(webhook))
    if mqtt:
        sinks.append(MQTTSink(mqtt))
    return sinks
