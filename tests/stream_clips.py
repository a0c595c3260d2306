"""Synthetic surveillance clips with known ground truth, built from LFW photos: each appearance is one
photo (optionally with a drawn mask) walking across a fixed background, slightly growing as it nears
the camera. Used by tests/test_stream*.py and bench/watch.py."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

CROP = (40, 210)   # the central part of a 250x250 deep-funneled LFW photo: the face, little else


@dataclass
class Appearance:
    name: str
    photo: Path
    start: float               # seconds the patch enters the frame
    end: float                 # seconds it has left
    lane: float = 0.5          # vertical centre as a fraction of the frame height
    leftward: bool = False
    masked: bool = False
    enrolled: bool = True
    visible_at: float = 0.0    # filled by Clip: first time the whole face is inside the frame
    patch: np.ndarray | None = None
    alpha: np.ndarray | None = None
    face_box: tuple[float, float, float, float] = (0, 0, 0, 0)   # x, y, w, h inside the patch


def make_patch(a: Appearance, engine, scale: float) -> None:
    """Load the photo, draw the mask if asked (from the detected landmarks), crop and scale it."""
    from faceprint.evaluate.masks import draw_mask
    img = cv2.imread(str(a.photo))
    faces = engine.detect(img)
    if not faces:
        raise ValueError(f"no face in {a.photo}")
    face = max(faces, key=lambda f: f.area)
    if a.masked:
        img = draw_mask(img, face, shape="surgical", colour="surgical-blue")
    c0, c1 = CROP
    patch = img[c0:c1, c0:c1]
    size = round((c1 - c0) * scale)
    a.patch = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1
    # An elliptical, feathered cut-out, as a head and shoulders on a background would look.
    a.alpha = np.clip((1.0 - np.sqrt(xx ** 2 / 0.95 ** 2 + yy ** 2)) * 6, 0, 1)[..., None].astype(np.float32)
    x, y, w, h = (float(v) for v in face.box)
    a.face_box = ((x - c0) * scale, (y - c0) * scale, w * scale, h * scale)


def background(w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    gy, gx = np.mgrid[0:h, 0:w]
    img = np.stack([90 + 60 * gx / w, 110 + 40 * gy / h, 130 - 50 * gx / w], -1)
    for _ in range(12):   # furniture: a few rectangles with edges for the detector to ignore
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(w // 20, w // 4)), y0 + int(rng.integers(h // 20, h // 3))
        img[y0:y1, x0:x1] = rng.integers(40, 220, 3)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


class Clip:
    """A timeline of appearances over a background, rendered frame by frame."""

    def __init__(self, appearances: list[Appearance], *, size: tuple[int, int] = (640, 360), fps: float = 25.0,
                 duration: float | None = None, engine=None, scale: float | None = None, seed: int = 0):
        self.w, self.h = size
        self.fps = fps
        self.appearances = appearances
        self.duration = duration or max(a.end for a in appearances) + 0.5
        self.bg = background(self.w, self.h, seed)
        scale = scale or self.h / 360
        for a in appearances:
            if a.patch is None:
                make_patch(a, engine, scale)
            a.visible_at = self._visible_at(a)

    def _position(self, a: Appearance, t: float) -> tuple[float, float, float] | None:
        """Top-left corner and scale of the patch at time t, or None when it is not on screen."""
        if not a.start <= t < a.end:
            return None
        u = (t - a.start) / (a.end - a.start)
        grow = 0.9 + 0.2 * u                  # walking towards the camera
        ps = a.patch.shape[0] * grow
        x = -ps + u * (self.w + ps)
        if a.leftward:
            x = self.w - u * (self.w + ps)
        y = a.lane * self.h - ps / 2 + 6 * np.sin(u * 12)     # a little bob per step
        return x, y, grow

    def _visible_at(self, a: Appearance) -> float:
        for t in np.arange(a.start, a.end, 1 / self.fps):
            pos = self._position(a, float(t))
            if pos is None:
                continue
            x, y, g = pos
            fx, fy, fw, fh = (v * g for v in a.face_box)
            if x + fx >= 0 and y + fy >= 0 and x + fx + fw <= self.w and y + fy + fh <= self.h:
                return float(t)
        return float("nan")

    def frame(self, t: float) -> np.ndarray:
        img = self.bg.astype(np.float32)
        for a in self.appearances:
            pos = self._position(a, t)
            if pos is None:
                continue
            x, y, g = pos
            size = max(2, round(a.patch.shape[0] * g))
            patch = cv2.resize(a.patch, (size, size)).astype(np.float32)
            alpha = cv2.resize(a.alpha, (size, size))[..., None]
            x0, y0 = round(x), round(y)
            sx0, sy0 = max(0, -x0), max(0, -y0)
            dx0, dy0 = max(0, x0), max(0, y0)
            dx1, dy1 = min(self.w, x0 + size), min(self.h, y0 + size)
            if dx1 <= dx0 or dy1 <= dy0:
                continue
            p = patch[sy0:sy0 + dy1 - dy0, sx0:sx0 + dx1 - dx0]
            al = alpha[sy0:sy0 + dy1 - dy0, sx0:sx0 + dx1 - dx0]
            img[dy0:dy1, dx0:dx1] = img[dy0:dy1, dx0:dx1] * (1 - al) + p * al
        return img.astype(np.uint8)

    def appearance_at(self, t: float, box) -> int | None:
        """Index of the appearance whose face is nearest the centre of `box` at media time t, among
        those whose patch holds that centre (None: no appearance there)."""
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        best, dist = None, float("inf")
        for i, a in enumerate(self.appearances):
            pos = self._position(a, t)
            if pos is None:
                continue
            x, y, g = pos
            size = a.patch.shape[0] * g
            fx, fy, fw, fh = (v * g for v in a.face_box)
            d = (x + fx + fw / 2 - cx) ** 2 + (y + fy + fh / 2 - cy) ** 2
            if x <= cx <= x + size and y <= cy <= y + size and d < dist:
                best, dist = i, d
        return best

    def score(self, events: list[dict]) -> list[dict]:
        """Per appearance: its recognized events (subject names) and unknown events, by where and when
        each event's track was last seen."""
        per = [{"recognized": [], "unknown": []} for _ in self.appearances]
        for e in events:
            if e["event"] in ("recognized", "unknown"):
                i = self.appearance_at(e["time"], e["box"])
                if i is not None:
                    per[i][e["event"]].append(e.get("subject"))
        return per

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        for i in range(int(round(self.duration * self.fps))):
            t = i / self.fps
            yield t, self.frame(t)

    def write(self, path: str | Path, *, bit_rate: int | None = None) -> Path:
        import av
        path = Path(path)
        with av.open(str(path), "w") as c:
            s = c.add_stream("mpeg4", rate=round(self.fps))
            s.width, s.height, s.pix_fmt = self.w, self.h, "yuv420p"
            s.bit_rate = bit_rate or int(self.w * self.h * self.fps * 0.2)
            for _, img in self.frames():
                for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                    c.mux(pkt)
            for pkt in s.encode():
                c.mux(pkt)
        return path


def lfw_photos(lfw_dir: Path, name: str) -> list[Path]:
    return sorted((lfw_dir / "lfw-deepfunneled" / name).glob("*.jpg"))


def enrol_people(gallery, engine, lfw_dir: Path, names: list[str], photos_per_person: int = 2) -> None:
    """Enrol each name from its first photos; the clips use later photos of the same people. Forced:
    the watcher is under test here, not the enrolment quality floor (some LFW people have only
    blurred or turned-away photos)."""
    for name in names:
        templates = [engine.template(p) for p in lfw_photos(lfw_dir, name)[:photos_per_person]]
        gallery.enroll(name, templates, force=True)


def make_gallery(path: Path, engine, lfw_dir: Path, known: list[str], others: int) -> Path:
    """A gallery of the known people plus `others` more LFW people (alphabetical, with 2+ photos)."""
    from faceprint import Gallery
    people = sorted(p.name for p in (lfw_dir / "lfw-deepfunneled").iterdir() if len(list(p.glob("*.jpg"))) >= 2)
    with Gallery.open(path, create=True, engine=engine) as g:
        enrol_people(g, engine, lfw_dir, known + [n for n in people if n not in known][:others])
    return path


def appearance(lfw_dir: Path, name: str, start: float, end: float, *, known: list[str], **kw) -> Appearance:
    """Photo 4 of the person (never one of the two enrolled) walking through from start to end."""
    return Appearance(name, lfw_photos(lfw_dir, name)[3], start, end, enrolled=name in known, **kw)


def short_clip(lfw_dir: Path, engine, path: Path, known: list[str]) -> Path:
    """Hugo Chavez (enrolled) and Vladimir Putin (not) walking through together, 4.5 s."""
    apps = [appearance(lfw_dir, "Hugo_Chavez", 0, 3.5, known=known, lane=0.3),
            appearance(lfw_dir, "Vladimir_Putin", 0.5, 4, known=known, lane=0.72)]
    return Clip(apps, engine=engine).write(path)


class MJPEGServer:
    """A camera on 127.0.0.1: serves a clip as multipart/x-mixed-replace JPEGs at real-time pace
    (standard library http.server). The clip clock starts with the first client and keeps running
    while the server is stopped, as a camera's would; stop() and start() make an outage."""

    def __init__(self, clip: Clip, *, port: int = 0, quality: int = 85, loop: bool = False,
                 lengths: bool = True):
        self.fps = clip.fps
        self.loop = loop
        self.lengths = lengths    # send each part's Content-Length (most cameras do; some do not)
        self.jpegs = [cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
                      for _, img in clip.frames()]
        self.t0: float | None = None
        self.port = port
        self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> "MJPEGServer":
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                if owner.t0 is None:
                    owner.t0 = time.time()
                sent = -1
                try:
                    while owner._server is server:
                        i = int((time.time() - owner.t0) * owner.fps)
                        if i >= len(owner.jpegs) and not owner.loop:
                            return
                        if i > sent:
                            jpg = owner.jpegs[i % len(owner.jpegs)]
                            length = b"Content-Length: %d\r\n" % len(jpg) if owner.lengths else b""
                            self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n" + length + b"\r\n"
                                             + jpg + b"\r\n")
                            sent = i
                        time.sleep(max(0.0, owner.t0 + (sent + 1) / owner.fps - time.time()))
                except (BrokenPipeError, ConnectionResetError):
                    pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    @property
    def done(self) -> bool:
        import time
        return self.t0 is not None and time.time() - self.t0 > len(self.jpegs) / self.fps


def check_outcomes(clip: Clip, events: list[dict]) -> None:
    """Each enrolled person recognised once as themselves, each other person reported unknown once,
    and no decision placed where nobody was."""
    per = clip.score(events)
    for a, got in zip(clip.appearances, per):
        if a.enrolled:
            assert got["recognized"] == [a.name], f"{a.name}{' (masked)' if a.masked else ''}: {got}"
        else:
            assert got["recognized"] == [], f"{a.name} is not enrolled but was recognised: {got}"
            assert got["unknown"] == [None], f"{a.name}: expected one unknown event, got {got}"
    placed = sum(len(g["recognized"]) + len(g["unknown"]) for g in per)
    decisions = [e for e in events if e["event"] in ("recognized", "unknown")]
    assert placed == len(decisions), "an event belongs to no appearance (a face where nobody was)"


SYSTEM_PYTHON = "/usr/bin/python3"


def rtsp_server_missing() -> str | None:
    """Why GStreamer's RTSP server cannot run here (None: it can)."""
    import subprocess
    probe = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import Gst; Gst.init(None); "
             "assert Gst.ElementFactory.find('rtpjpegpay') and Gst.ElementFactory.find('appsrc'), 'plugins'")
    try:
        r = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        return f"{SYSTEM_PYTHON}: {exc}"
    if r.returncode:
        return ("GStreamer's RTSP server is not installed (apt-get install python3-gi "
                "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good): "
                + (r.stderr.strip().splitlines() or ["?"])[-1])
    return None


class RTSPCamera:
    """A camera on 127.0.0.1 speaking RTSP: tests/rtsp_camera.py (GStreamer's RTSP server, run by the
    system python3) serves the clip as RTP/JPEG at real-time pace. The clip clock starts with the
    first client and keeps running while the server is down, as a camera's would: stop() kills the
    server, start() brings it back on the same port."""

    def __init__(self, clip: Clip, folder: Path, *, quality: int = 85):
        import socket
        folder.mkdir(parents=True, exist_ok=True)
        for i, (_, img) in enumerate(clip.frames()):
            cv2.imwrite(str(folder / f"{i:05d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        self.folder, self.fps, self.size = folder, clip.fps, (clip.w, clip.h)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.epoch: float | None = None
        self._proc = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/camera"

    def start(self) -> RTSPCamera:
        import subprocess
        import threading
        script = Path(__file__).with_name("rtsp_camera.py")
        self._proc = proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(script), "--port", str(self.port), "--frames", str(self.folder),
             "--fps", str(round(self.fps)), "--epoch", repr(self.epoch or 0.0),
             "--width", str(self.size[0]), "--height", str(self.size[1])],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if proc.stdout.readline().strip() != "listening":
            proc.kill()
            raise RuntimeError(f"the RTSP server did not start on port {self.port}")

        def read_epoch():
            for line in proc.stdout:
                if line.startswith("epoch ") and self.epoch is None:
                    self.epoch = float(line.split()[1])

        threading.Thread(target=read_epoch, daemon=True).start()
        return self

    def stop(self) -> None:
        """Kill the server (no goodbye to its clients, as when a camera loses power)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
            self._proc = None
