"""Runs a real `faceprint serve` (uvicorn) on 127.0.0.1 for the service tests."""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_key(gallery: str, role: str) -> str:
    from faceprint.service import serve
    return serve.keys(gallery, "create", role=role)["key"]


class Server:
    def __init__(self, galleries: list[str], *extra: str, port: int | None = None):
        self.galleries, self.extra = galleries, extra
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="faceprint-serve-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> "Server":
        args = [a for g in self.galleries for a in ("--gallery", g)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faceprint.cli", "serve", *args, "--port", str(self.port), *self.extra],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"faceprint serve exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"faceprint serve did not answer /health in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the whole process group (uvicorn's workers too) and wait."""
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def logs(self) -> str:
        return self.log.read_text()


def fingerprint(location: str) -> tuple[int, str]:
    """(subject count, SHA-256 over every template id and vector): equal before and after means
    the gallery is unchanged."""
    from faceprint import Gallery
    with Gallery.open(location, readonly=True) as g:
        h = hashlib.sha256()
        for ids, vecs in g.store.iter_templates():
            h.update(ids.tobytes())
            h.update(vecs.tobytes())
        return g.store.counts()["subjects"], h.hexdigest()


# -- malformed uploads (tests/test_service.py runs a few hundred; bench/service_malformed.py 10,000) --
IMAGE_ROUTES = [("/v1/detect", "file"), ("/v1/identify", "file"), ("/v1/verify", "a"),
                ("/v1/subjects/mallory/examples", "file"), ("/v1/bulk", "mallory"),
                ("/api/v1/recognition/recognize", "file"), ("/api/v1/recognition/faces?subject=mallory", "file"),
                ("/api/v1/detection/detect", "file"), ("/api/v1/verification/verify", "source_image"),
                ("/api/v1/recognition/faces/1/verify", "file")]


def _png_header(width: int, height: int, payload: bytes) -> bytes:
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", payload) + chunk(b"IEND", b"")


def malformed_requests(n: int, photo: bytes, seed: int = 0):
    """n (path, httpx request kwargs, kind) of damaged uploads over every image route."""
    import base64
    import json
    import random
    import zlib
    rng = random.Random(seed)
    bomb = _png_header(9000, 9000, zlib.compress(b"\0" * (9000 * 3 + 1) * 64, 9))   # claims 81 MP
    huge = _png_header(20000, 20000, b"")
    kinds = ["truncated", "random", "bomb", "huge_header", "wrong_type", "bad_base64", "missing_field",
             "huge_field", "many_fields", "bad_json", "json_wrong_type", "empty"]
    for i in range(n):
        path, field = IMAGE_ROUTES[i % len(IMAGE_ROUTES)]
        kind = kinds[(i // len(IMAGE_ROUTES)) % len(kinds)]
        if kind == "truncated":
            kw = {"files": {field: ("t.jpg", photo[:rng.randrange(1, len(photo) - 1)], "image/jpeg")}}
        elif kind == "random":
            kw = {"files": {field: ("r.jpg", rng.randbytes(rng.randrange(1, 5000)), "image/jpeg")}}
        elif kind == "bomb":
            kw = {"files": {field: ("b.png", bomb, "image/png")}}
        elif kind == "huge_header":
            kw = {"files": {field: ("h.png", huge, "image/png")}}
        elif kind == "wrong_type":
            kw = {"content": photo[:2000], "headers": {"content-type": rng.choice(["text/plain", "application/xml",
                                                                                  "image/jpeg", "multipart/form-data"])}}
        elif kind == "bad_base64":
            kw = {"json": {field: rng.choice(["!!!not base64!!!", "abc", "data:image/jpeg;base64,@@@", ""])}}
        elif kind == "missing_field":
            # (for /v1/bulk any file field is a subject's photo, so only the file-less variants)
            kw = rng.choice([{"json": {}}, {"data": {"note": "no file"}}] +
                            ([] if path == "/v1/bulk" else [{"files": {"other": ("x.jpg", photo, "image/jpeg")}}]))
        elif kind == "huge_field":
            kw = {"data": {"note": "x" * rng.randrange(1_000_000, 3_000_000)}, "files": {field: ("x.jpg", b"\xff\xd8", "image/jpeg")}}
        elif kind == "many_fields":
            kw = {"data": {f"f{j}": "v" for j in range(1500)}}
        elif kind == "bad_json":
            kw = {"content": b'{"file": "abc', "headers": {"content-type": "application/json"}}
        elif kind == "json_wrong_type":
            kw = {"content": json.dumps(rng.choice([[1, 2], {field: 5}, {field: [None]}, "str", {"items": "x"}])).encode(),
                  "headers": {"content-type": "application/json"}}
        else:
            kw = {"files": {field: ("e.jpg", b"", "image/jpeg")}}
        if kind == "bad_base64" and rng.random() < 0.3:
            kw = {"json": {field: base64.b64encode(photo[:500]).decode()}}
        yield path, kw, kind
