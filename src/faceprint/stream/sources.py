"""Frame sources: video files at full speed, and live sources (webcams, RTSP, HTTP MJPEG/HLS) read by
a thread that keeps only the newest due frame, so analysis never falls behind real time; lost live
streams reconnect with back-off and say so."""
from __future__ import annotations

import importlib
import itertools
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from ..errors import FaceprintError, SourceError


@dataclass
class Frame:
    """One decoded frame chosen for analysis. time: media seconds since the start of the source
    (for live sources: since the first frame arrived); wall: unix time it was captured."""
    image: np.ndarray
    index: int
    time: float
    wall: float


@dataclass
class Status:
    """A change in a live source's connection: "source_lost" (with the reason) or "source_back"."""
    event: str
    time: float
    wall: float
    reason: str = ""


def need(module: str):
    """Import one of the [video] extra's packages, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise FaceprintError(f"faceprint watch needs {module.split('.')[0]}: pip install 'faceprint[video]'") from None


def redact(spec: str) -> str:
    """The source as it may appear in events and logs: a URL's password is replaced by ***."""
    parts = urllib.parse.urlsplit(spec)
    if parts.password is None:
        return spec
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def is_live(spec: str | int) -> bool:
    return isinstance(spec, int) or str(spec).isdigit() or "://" in str(spec)


# -- readers: each yields (decode, media seconds or None) per frame until the stream ends, and raises
# SourceError on failure. decode() returns the BGR image: frames that are not due are never converted.
Decoded = Callable[[], "np.ndarray | None"]


def _pyav_frames(url: str, *, threads: int | None = None, timeout: float = 10.0) -> Iterator[tuple[Decoded, float | None]]:
    av = need("av")
    # RTSP over TCP (no lost UDP packets), and no waiting for 20 frames to guess a frame rate the
    # live reader does not use: that wait would hand over the first second of frames in one burst.
    options = {"rtsp_transport": "tcp", "fpsprobesize": "0"} if url.startswith(("rtsp://", "rtsps://")) else {}
    try:
        container = av.open(url, options=options, timeout=(timeout, timeout))
    except (av.FFmpegError, OSError) as exc:
        raise SourceError(f"cannot open video {redact(url)}: {exc}") from None
    try:
        if not container.streams.video:
            raise SourceError(f"{redact(url)} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if threads:
            stream.codec_context.thread_count = threads
        try:
            for frame in container.decode(stream):
                yield (lambda f=frame: f.to_ndarray(format="bgr24")), (
                    float(frame.time) if frame.time is not None else None)
        except av.FFmpegError as exc:
            raise SourceError(f"reading {redact(url)} failed: {exc}") from None
    finally:
        container.close()


def _mjpeg_frames(url: str, *, timeout: float = 10.0, **_) -> Iterator[tuple[Decoded, None]]:
    """HTTP multipart/x-mixed-replace JPEG streams (IP cameras, Motion, ESP32-CAM, OctoPrint): each
    part's Content-Length is read, or else the part runs to the next boundary line."""
    try:
        resp = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError) as exc:
        raise SourceError(f"cannot open {redact(url)}: {getattr(exc, 'reason', exc)}") from None
    with resp:
        ctype = resp.headers.get("Content-Type", "")
        if "multipart" not in ctype:
            raise SourceError(f"{redact(url)} is not an MJPEG stream (Content-Type {ctype!r})")
        boundary = b"--" + ctype.partition("boundary=")[2].strip().strip('"').removeprefix("--").encode()
        line = resp.readline()
        while line:
            if not line.startswith(boundary):
                line = resp.readline()
                continue
            headers = {}
            while (h := resp.readline().strip()):
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            length = headers.get("content-length", "")
            if length.isdigit():
                data = resp.read(int(length))
                line = resp.readline()
            else:
                parts = []
                while (line := resp.readline()) and not line.startswith(boundary):
                    parts.append(line)
                data = b"".join(parts).rstrip(b"\r\n")
            if data:
                yield (lambda d=data: cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR)), None


def _http_is_mjpeg(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return "multipart" in resp.headers.get("Content-Type", "")
    except (urllib.error.URLError, OSError) as exc:
        raise SourceError(f"cannot open {redact(url)}: {getattr(exc, 'reason', exc)}") from None


def _camera_frames(index: int, **_) -> Iterator[tuple[Decoded, None]]:
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        raise SourceError(f"cannot open camera {index} (is it connected, and free?)")
    try:
        while cap.grab():
            yield (lambda: cap.retrieve()[1]), None
    finally:
        cap.release()


def _reader_for(spec: str | int, timeout: float) -> Callable[..., Iterator[tuple[Decoded, float | None]]]:
    if isinstance(spec, int) or str(spec).isdigit():
        index = int(spec)
        return lambda **kw: _camera_frames(index, **kw)
    url = str(spec)
    if url.startswith(("http://", "https://")) and _http_is_mjpeg(url, timeout):
        return lambda **kw: _mjpeg_frames(url, timeout=timeout, **kw)
    return lambda **kw: _pyav_frames(url, timeout=timeout, **kw)


# -- sources ----------------------------------------------------------------------------------

class FileSource:
    """A video file read at full speed; frames are picked by media time at `fps` per second."""

    live = False

    def __init__(self, path: str | Path, *, fps: float | None = None, threads: int | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"{path}: no such video file")
        self.fps, self.threads = fps, threads
        self.name = str(path)
        self._stop = threading.Event()
        self.dropped = 0
        self.total_frames, self.duration, self.rate = self._probe()

    def _probe(self) -> tuple[int | None, float | None, float]:
        av = need("av")
        try:
            with av.open(str(self.path)) as c:
                if not c.streams.video:
                    raise SourceError(f"{self.path} has no video stream")
                v = c.streams.video[0]
                dur = float(v.duration * v.time_base) if v.duration else (c.duration / 1e6 if c.duration else None)
                return (v.frames or None), dur, float(v.average_rate or 25)
        except av.FFmpegError as exc:
            raise SourceError(f"{self.path} is not a readable video: {exc}") from None

    def __iter__(self) -> Iterator[Frame]:
        step = 1.0 / self.fps if self.fps else 0.0
        due = 0.0
        for i, (decode, t) in enumerate(_pyav_frames(str(self.path), threads=self.threads)):
            if self._stop.is_set():
                return
            t = i / self.rate if t is None else t      # no timestamps: count frames
            if t + 1e-6 < due:
                continue
            due = (t if due == 0.0 else due) + step
            if due <= t:   # after a gap (variable frame rate) restart the schedule here
                due = t + step
            yield Frame(decode(), i, t, time.time())

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.stop()


class LiveSource:
    """A camera or stream read by a thread. The thread keeps only the newest frame that is due (at
    `fps`); a due frame replaced before the watcher took it counts as dropped. When the stream ends or
    fails it reports source_lost, retries with back-off (0.5 s doubling to `max_backoff`), and reports
    source_back once frames flow again."""

    live = True

    def __init__(self, spec: str | int, *, fps: float | None = None, timeout: float = 10.0,
                 max_backoff: float = 10.0, threads: int | None = None):
        self.spec, self.fps, self.timeout, self.max_backoff = spec, fps, timeout, max_backoff
        self.name = redact(str(spec))
        self.threads = threads
        self.dropped = 0
        self.frames_read = 0
        self.total_frames = self.duration = None
        self._open = lambda: _reader_for(spec, timeout)(threads=threads)
        # Read the first frame here, so that a source that is not there fails now, with SourceError.
        frames = self._open()
        try:
            first = next(frames)
        except StopIteration:
            raise SourceError(f"{self.name} gave no video frames") from None
        self._first_iter = itertools.chain([first], frames)
        self._cv = threading.Condition()
        self._slot: Frame | None = None
        self._status: list[Status] = []
        self._stop = threading.Event()
        self._t0: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"faceprint-reader {self.name}", daemon=True)
        self._thread.start()

    @property
    def started(self) -> float | None:
        """Unix time the first frame arrived: media time 0."""
        return self._t0

    def _media_time(self, wall: float) -> float:
        if self._t0 is None:
            self._t0 = wall
        return wall - self._t0

    def _post_status(self, event: str, reason: str = "") -> None:
        wall = time.time()
        with self._cv:
            self._status.append(Status(event, self._media_time(wall), wall, reason))
            self._cv.notify_all()

    def _run(self) -> None:
        step = 1.0 / self.fps if self.fps else 0.0
        due = 0.0
        frames = self._first_iter
        backoff, lost = 0.5, False
        index = 0
        while not self._stop.is_set():
            reason = "stream ended"
            try:
                if frames is None:
                    frames = self._open()
                for decode, _ in frames:
                    if self._stop.is_set():
                        return
                    wall = time.time()
                    t = self._media_time(wall)
                    self.frames_read += 1
                    index += 1
                    if lost:
                        lost, backoff = False, 0.5
                        self._post_status("source_back")
                    if t + 1e-6 < due:
                        continue
                    due = max(due + step, t) if due else t + step
                    img = decode()
                    if img is None:        # a corrupt JPEG part: skip it
                        continue
                    with self._cv:
                        if self._slot is not None:
                            self.dropped += 1
                        self._slot = Frame(img, index - 1, t, wall)
                        self._cv.notify_all()
            except SourceError as exc:
                reason = str(exc)
            except Exception as exc:  # a decoder or socket error must not kill the reader
                reason = f"{type(exc).__name__}: {exc}"
            frames = None
            if self._stop.is_set():
                return
            if not lost:
                lost = True
                self._post_status("source_lost", reason)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def __iter__(self) -> Iterator[Frame | Status]:
        while not self._stop.is_set():
            with self._cv:
                while self._slot is None and not self._status and not self._stop.is_set():
                    self._cv.wait(0.5)
                status, self._status = self._status, []
                frame, self._slot = self._slot, None
            yield from status
            if frame is not None:
                yield frame

    def stop(self) -> None:
        """Make iteration end soon (callable from any thread)."""
        self._stop.set()
        with self._cv:
            self._cv.notify_all()

    def close(self) -> None:
        self.stop()
        self._thread.join(timeout=self.timeout + 1)


def open_source(spec: str | int | Path, *, fps: float | None = None, threads: int | None = None,
                timeout: float = 10.0, max_backoff: float = 10.0) -> FileSource | LiveSource:
    """A FileSource for a path, a LiveSource for a webcam index or a URL."""
    if isinstance(spec, Path) or not is_live(spec):
        return FileSource(spec, fps=fps, threads=threads)
    return LiveSource(spec, fps=fps, threads=threads, timeout=timeout, max_backoff=max_backoff)
