"""On-disk template cache for evaluations: one SQLite file, keyed by (image SHA-256, pipeline key),
so re-running a report, or a second report over the same images, skips detection and embedding."""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np


def default_path() -> Path:
    base = os.environ.get("FACEPRINT_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "faceprint"
    return Path(base) / "templates.db"


class TemplateCache:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=60)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS templates_v2 (image TEXT NOT NULL, pipeline TEXT NOT NULL, "
                           "vector BLOB, ms REAL, quality TEXT, PRIMARY KEY (image, pipeline))")
        self._conn.execute("CREATE TABLE IF NOT EXISTS timings (key TEXT PRIMARY KEY, ms REAL NOT NULL)")

    def get_many(self, images: list[str], pipeline: str) -> dict[str, tuple[np.ndarray | None, float | None, dict]]:
        """{image hash: (vector or None when no face was found, ms to create it, quality detail)}"""
        out = {}
        for i in range(0, len(images), 900):
            chunk = images[i:i + 900]
            rows = self._conn.execute(
                f"SELECT image, vector, ms, quality FROM templates_v2 WHERE pipeline = ? "
                f"AND image IN ({','.join('?' * len(chunk))})", [pipeline, *chunk])
            for image, blob, ms, quality in rows:
                out[image] = (None if blob is None else np.frombuffer(blob, np.float32).copy(), ms,
                              json.loads(quality or "{}"))
        return out

    def put_many(self, rows: list[tuple[str, np.ndarray | None, float | None, dict]], pipeline: str) -> None:
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO templates_v2(image, pipeline, vector, ms, quality) VALUES (?, ?, ?, ?, ?)",
                [(img, pipeline, None if v is None else np.asarray(v, np.float32).tobytes(), ms, json.dumps(q or {}))
                 for img, v, ms, q in rows])

    def get_timing(self, key: str) -> float | None:
        row = self._conn.execute("SELECT ms FROM timings WHERE key = ?", (key,)).fetchone()
        return None if row is None else float(row[0])

    def put_timing(self, key: str, ms: float) -> None:
        with self._conn:
            self._conn.execute("INSERT OR REPLACE INTO timings(key, ms) VALUES (?, ?)", (key, ms))

    def close(self) -> None:
        self._conn.close()
