"""SQLite template store (the embedded default): WAL journal, full fsync, secure delete.

Every write is one transaction that also appends to the change log, so an index that crashed
behind the store catches up by replaying the log from the last sequence number it saved.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from typing import Any, Iterator, Sequence

import numpy as np

from .base import Change, Subject

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subjects (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, metadata TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS templates (
    id INTEGER PRIMARY KEY, subject_id INTEGER NOT NULL REFERENCES subjects(id),
    vector BLOB NOT NULL, quality REAL, source_sha256 TEXT, created TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS templates_subject ON templates(subject_id);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, first_id INTEGER NOT NULL, last_id INTEGER NOT NULL);
"""


def _unpack(rows: list[tuple], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(id, vector blob) rows -> (ids, (N, dim) float32)."""
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    return (np.array([r[0] for r in rows], np.int64),
            np.frombuffer(b"".join(bytes(r[1]) for r in rows), np.float32).reshape(len(rows), -1))


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class SQLiteStore:
    def __init__(self, path: str):
        self.path = path
        self._conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        c = self._conn
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=FULL")       # a reported commit survives power loss, not only a crash
        c.execute("PRAGMA secure_delete=ON")       # deleted templates are overwritten, not just unlinked
        c.execute("PRAGMA foreign_keys=ON")
        with self._tx():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)

    # -- plumbing ---------------------------------------------------------------------------
    class _Tx:
        def __init__(self, store: "SQLiteStore"):
            self.s = store

        def __enter__(self):
            self.s._lock.acquire()
            self.s._conn.execute("BEGIN IMMEDIATE")
            return self.s._conn

        def __exit__(self, exc_type, exc, tb):
            try:
                self.s._conn.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.s._lock.release()

    def _tx(self) -> "_Tx":
        return SQLiteStore._Tx(self)

    def _q(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # -- meta -------------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self._q("SELECT key, value FROM meta"))

    def set_meta(self, values: dict[str, str]) -> None:
        with self._tx() as c:
            c.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(values.items()))

    # -- writes -----------------------------------------------------------------------------
    def _next_template_id(self, c) -> int:
        row = c.execute("SELECT max(last_id) FROM changes WHERE op = 'add'").fetchone()
        return (row[0] or 0) + 1     # ids are never reused, even after deletes

    def _subject_id(self, c, name: str, metadata: dict | None, ts: str) -> int:
        row = c.execute("SELECT id, metadata FROM subjects WHERE name = ?", (name,)).fetchone()
        if row is None:
            cur = c.execute("INSERT INTO subjects(name, metadata, created, updated) VALUES (?, ?, ?, ?)",
                            (name, json.dumps(metadata or {}), ts, ts))
            return int(cur.lastrowid)
        merged = {**json.loads(row[1]), **(metadata or {})}
        c.execute("UPDATE subjects SET metadata = ?, updated = ? WHERE id = ?", (json.dumps(merged), ts, row[0]))
        return int(row[0])

    def enroll(self, name, metadata, vectors, qualities, sources):
        ts = now()
        vectors = np.ascontiguousarray(vectors, np.float32)
        with self._tx() as c:
            sid = self._subject_id(c, name, metadata, ts)
            first = self._next_template_id(c)
            ids = list(range(first, first + len(vectors)))
            c.executemany("INSERT INTO templates(id, subject_id, vector, quality, source_sha256, created) "
                          "VALUES (?, ?, ?, ?, ?, ?)",
                          [(i, sid, v.tobytes(), float(q), s, ts) for i, v, q, s in zip(ids, vectors, qualities, sources)])
            if ids:
                c.execute("INSERT INTO changes(op, first_id, last_id) VALUES ('add', ?, ?)", (ids[0], ids[-1]))
        return sid, ids

    def add_bulk(self, names, vectors):
        ts = now()
        vectors = np.ascontiguousarray(vectors, np.float32)
        with self._tx() as c:
            unique = list(dict.fromkeys(names))
            c.executemany("INSERT OR IGNORE INTO subjects(name, metadata, created, updated) VALUES (?, '{}', ?, ?)",
                          [(n, ts, ts) for n in unique])
            sid = {}
            for i in range(0, len(unique), 900):
                chunk = unique[i:i + 900]
                rows = c.execute(f"SELECT name, id FROM subjects WHERE name IN ({','.join('?' * len(chunk))})", chunk)
                sid.update(rows.fetchall())
            first = self._next_template_id(c)
            c.executemany("INSERT INTO templates(id, subject_id, vector, quality, source_sha256, created) "
                          "VALUES (?, ?, ?, NULL, NULL, ?)",
                          ((first + i, sid[n], vectors[i].tobytes(), ts) for i, n in enumerate(names)))
            if len(names):
                c.execute("INSERT INTO changes(op, first_id, last_id) VALUES ('add', ?, ?)",
                          (first, first + len(names) - 1))
        return list(range(first, first + len(names)))

    def delete_subject(self, name):
        with self._tx() as c:
            row = c.execute("SELECT id FROM subjects WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            ids = [r[0] for r in c.execute("SELECT id FROM templates WHERE subject_id = ?", (row[0],))]
            c.execute("DELETE FROM templates WHERE subject_id = ?", (row[0],))
            c.execute("DELETE FROM subjects WHERE id = ?", (row[0],))
            c.executemany("INSERT INTO changes(op, first_id, last_id) VALUES ('del', ?, ?)", [(i, i) for i in ids])
        with self._lock:
            # Move the committed deletion out of the WAL and truncate it, so no old page survives there.
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return ids

    # -- reads ------------------------------------------------------------------------------
    def _subject(self, row) -> Subject:
        return Subject(id=row[0], name=row[1], metadata=json.loads(row[2]), created=row[3], updated=row[4],
                       templates=row[5])

    _SUBJECT_SQL = ("SELECT s.id, s.name, s.metadata, s.created, s.updated, "
                    "(SELECT count(*) FROM templates t WHERE t.subject_id = s.id) FROM subjects s")

    def subject(self, name):
        rows = self._q(self._SUBJECT_SQL + " WHERE s.name = ?", (name,))
        return self._subject(rows[0]) if rows else None

    def subjects(self):
        return [self._subject(r) for r in self._q(self._SUBJECT_SQL + " ORDER BY s.name")]

    def subject_of(self, template_ids):
        ids = [int(i) for i in template_ids]
        out = {}
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            out.update({r[0]: (r[1], r[2]) for r in self._q(
                f"SELECT t.id, s.id, s.name FROM templates t JOIN subjects s ON s.id = t.subject_id "
                f"WHERE t.id IN ({','.join('?' * len(chunk))})", chunk)})
        return out

    def vectors_between(self, first, last):
        rows = self._q("SELECT id, vector FROM templates WHERE id BETWEEN ? AND ? ORDER BY id", (first, last))
        return _unpack(rows, int(self.meta().get("dim", 0)))

    def iter_templates(self, batch=100_000):
        last = 0
        while True:
            rows = self._q("SELECT id, vector FROM templates WHERE id > ? ORDER BY id LIMIT ?", (last, batch))
            if not rows:
                return
            last = rows[-1][0]
            yield _unpack(rows, 0)

    def changes_since(self, seq):
        return [Change(r[0], r[1], r[2], r[3]) for r in
                self._q("SELECT seq, op, first_id, last_id FROM changes WHERE seq > ? ORDER BY seq", (seq,))]

    def last_seq(self):
        return int(self._q("SELECT coalesce(max(seq), 0) FROM changes")[0][0])

    def counts(self):
        return {"subjects": self._q("SELECT count(*) FROM subjects")[0][0],
                "templates": self._q("SELECT count(*) FROM templates")[0][0]}

    def max_templates_per_subject(self):
        return int(self._q("SELECT coalesce(max(n), 0) FROM (SELECT count(*) n FROM templates GROUP BY subject_id)")[0][0])

    def close(self):
        with self._lock:
            self._conn.close()
