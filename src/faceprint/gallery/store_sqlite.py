"""SQLite template store (the embedded default): WAL journal, full fsync, secure delete.

Every write is one transaction that also appends to the change log, so an index that crashed
behind the store catches up by replaying the log from the last sequence number it saved.
"""
from __future__ import annotations

import sqlite3
import threading
from typing import Any, Sequence


from ..util import chunks
from .store_sql import SQLStore

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


class SQLiteStore(SQLStore):
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
    def set_meta(self, values: dict[str, str]) -> None:
        with self._tx() as c:
            c.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(values.items()))

    # -- writes (enroll/add_bulk are shared: store_sql.SQLStore) -------------------------------
    def _insert(self, c, rows) -> None:
        c.executemany("INSERT INTO templates(id, subject_id, vector, quality, source_sha256, created) "
                      "VALUES (?, ?, ?, ?, ?, ?)", rows)

    def _subject_ids(self, c, names: list[str], ts: str) -> dict[str, int]:
        c.executemany("INSERT OR IGNORE INTO subjects(name, metadata, created, updated) VALUES (?, '{}', ?, ?)",
                      [(n, ts, ts) for n in names])
        sid = {}
        for chunk in chunks(names):
            sid.update(c.execute(f"SELECT name, id FROM subjects WHERE name IN ({','.join('?' * len(chunk))})",
                                 chunk).fetchall())
        return sid

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

    # -- reads (the rest are shared: store_sql.SQLStore) -------------------------------------
    def subject_of(self, template_ids):
        ids = [int(i) for i in template_ids]
        out = {}
        for chunk in chunks(ids):
            out.update({r[0]: (r[1], r[2]) for r in self._q(
                f"SELECT t.id, s.id, s.name FROM templates t JOIN subjects s ON s.id = t.subject_id "
                f"WHERE t.id IN ({','.join('?' * len(chunk))})", chunk)})
        return out

    def close(self):
        with self._lock:
            self._conn.close()
