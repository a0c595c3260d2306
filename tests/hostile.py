"""Hostile files for the bad-input tests, made on the fly from the shared photos."""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def bad_files(root: Path, face_photo: Path) -> dict[str, Path]:
    """Inputs that are not usable photos; every faceprint entry point must refuse them cleanly."""
    root.mkdir(parents=True, exist_ok=True)
    good = face_photo.read_bytes()
    files = {
        "zero-byte": (root / "empty.jpg", b""),
        "truncated JPEG": (root / "truncated.jpg", good[: len(good) // 3]),
        "random bytes .jpg": (root / "random.jpg", np.random.default_rng(0).bytes(20_000)),
        "text as JPEG": (root / "text.jpg", b"hello, I am text\n" * 10),
        "PNG header 100000x100000": (root / "huge.png", _png_claiming(100_000, 100_000)),
    }
    out = {}
    for label, (path, data) in files.items():
        path.write_bytes(data)
        out[label] = path
    big = root / "big9000.jpg"             # a real, fully valid 9000x9000 JPEG: above the 8192 px limit
    Image.new("RGB", (9000, 9000), (120, 130, 140)).save(big, quality=50)
    out["real 9000x9000 JPEG"] = big
    (root / "x.jpg").mkdir()
    out["directory named x.jpg"] = root / "x.jpg"
    loop = root / "loop.jpg"
    os.symlink(loop.name, loop)
    out["symlink loop"] = loop
    weird = Path(os.fsdecode(bytes(root) + b"/caf\xe9-\xff.jpg"))   # not UTF-8 on disk
    weird.write_bytes(b"\x00\x01garbage")
    out["non-UTF-8 file name"] = weird
    out["missing file"] = root / "missing.jpg"
    return out


def odd_valid_files(root: Path, face_photo: Path) -> dict[str, Path]:
    """Unusual but valid encodings of a face photo: each must work like the original."""
    root.mkdir(parents=True, exist_ok=True)
    img = Image.open(face_photo).convert("RGB")
    out = {}
    cmyk = root / "cmyk.jpg"
    img.convert("CMYK").save(cmyk, quality=95)
    out["CMYK JPEG"] = cmyk
    deep = root / "deep16.png"
    arr16 = (np.asarray(img.convert("L"), np.uint16) * 257)
    Image.fromarray(arr16).save(deep)
    out["16-bit PNG"] = deep
    gif = root / "animated.gif"
    frames = [img.convert("P"), img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).convert("P")]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    out["animated GIF"] = gif
    weird = Path(os.fsdecode(bytes(root) + b"/ok-\xe9.jpg"))
    weird.write_bytes(face_photo.read_bytes())
    out["non-UTF-8 name, real photo"] = weird
    return out


def tree_digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file in a folder (the gallery's db, WAL and index), to prove nothing changed.
    SQLite's shared-memory index (-shm) and an empty WAL (left by read-only opens) hold no data."""
    import hashlib
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file() and not p.name.endswith("-shm")
            and not (p.name.endswith("-wal") and p.stat().st_size == 0)}
