"""SQLite template store (the embedded default): WAL journal, full fsync, secure delete.

Every write is one transaction that also appends to the change log, so an index that crashed
behind the store catches up by replaying the log from the last sequence number it saved.
A read-only store opens the file with mode=ro: it never takes a write lock, so readers never wait
behind a writer (WAL readers see the last committed state).
"""
from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

from ..errors import GalleryBusyError, GalleryError, GalleryPurgePendingError
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
BUSY_MS = 60_000        # a writer waits this long for another writer's transaction
PURGE_WAIT_MS = 2_000   # a purge waits this long for readers' snapshots before reporting it must wait


def _open_error(path: str, exc: Exception) -> GalleryError:
    """The typed error, naming the gallery, for an SQLite error met opening or using it."""
    p = Path(path)
    if p.is_dir():
        return GalleryError(f"gallery {path} is a directory; give a gallery file such as {p / 'gallery.db'}")
    if not p.parent.is_dir():
        return GalleryError(f"cannot create gallery {path}: directory {p.parent} does not exist; create it first")
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        return GalleryError(f"{path} is not a faceprint gallery (not an SQLite database); check the path")
    if "locked" in str(exc) or "busy" in str(exc):
        return GalleryBusyError(f"gallery {path} is busy: another process holds its write lock; try again")
    if "malformed" in str(exc) or "corrupt" in str(exc):
        return GalleryError(f"gallery {path} is damaged ({exc}); restore it from a backup")
    return GalleryError(f"gallery {path} cannot be used: {exc}")


class SQLiteStore(SQLStore):
    def __init__(self, path: str, *, create: bool = True, readonly: bool = False, key: bytes | None = None):
        self.path = self.where = str(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        self._purge_pending = False
        if not create and os.path.isfile(path) and os.path.getsize(path) == 0:
            raise GalleryError(f"{path} is an empty file, not a faceprint gallery; check the path")
        try:
            if readonly:
                self._conn = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True,
                                             timeout=BUSY_MS / 1000, isolation_level=None, check_same_thread=False)
            else:
                self._conn = sqlite3.connect(path, timeout=BUSY_MS / 1000, isolation_level=None,
                                             check_same_thread=False)
            c = self._conn
            tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "templates" not in tables and (tables or not create):
                raise GalleryError(f"{path} is an SQLite database but not a faceprint gallery; check the path")
            if not readonly:
                c.execute("PRAGMA journal_mode=WAL")
                c.execute("PRAGMA synchronous=FULL")   # a reported commit survives power loss, not only a crash
                c.execute("PRAGMA secure_delete=ON")   # deleted templates are overwritten, not just unlinked
                c.execute("PRAGMA foreign_keys=ON")
                with self._tx():
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            c.execute(statement)
        except (sqlite3.Error, GalleryError) as exc:
            if hasattr(self, "_conn"):
                self._conn.close()
            if isinstance(exc, GalleryError):
                raise
            raise _open_error(path, exc) from None
        try:
            self._setup(key)
            if not readonly:
                self._purge(wait_ms=0)      # what a killed or blocked deletion left behind goes now
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------
    class _Tx:
        def __init__(self, store: "SQLiteStore"):
            self.s = store

        def __enter__(self):
            if self.s.readonly:
                raise GalleryError(f"gallery {self.s.path} was opened read-only")
            self.s._lock.acquire()
            try:
                self.s._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self.s._lock.release()
                raise _open_error(self.s.path, exc) from None
            return self.s._conn

        def __exit__(self, exc_type, exc, tb):
            try:
                self.s._conn.execute("ROLLBACK" if exc_type else "COMMIT")
            except sqlite3.Error as err:
                if exc_type is None:
                    raise _open_error(self.s.path, err) from None
            finally:
                self.s._lock.release()
            if isinstance(exc, sqlite3.Error):
                raise _open_error(self.s.path, exc) from None
            if exc_type is None and self.s._purge_pending:
                self.s._purge(wait_ms=0)

    def _tx(self) -> "_Tx":
        return SQLiteStore._Tx(self)

    def _q(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise _open_error(self.path, exc) from None

    def _purge(self, rewrite: bool = False, wait_ms: int = PURGE_WAIT_MS) -> bool:
        """Checkpoint the WAL into the database file and truncate it, so that deleted templates (which
        secure_delete zeroes in the new page versions) leave both files. A reader's open snapshot
        keeps old pages needed: then wait briefly, and report failure instead of pretending."""
        with self._lock:
            try:
                self._conn.execute(f"PRAGMA busy_timeout={wait_ms}")
                busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error:
                busy = 1
            finally:
                self._conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        self._purge_pending = bool(busy)
        return not busy

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

    def delete_subject(self, name, before_commit=None):
        """Delete a subject and its templates; before_commit(ids) runs inside the transaction (the
        gallery removes its index file there, so no kill can leave the file behind the deletion).
        Raises GalleryPurgePendingError when the deletion committed but a reader's snapshot keeps
        the bytes in the database file for now."""
        with self._tx() as c:
            row = c.execute("SELECT id FROM subjects WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            ids = [r[0] for r in c.execute("SELECT id FROM templates WHERE subject_id = ?", (row[0],))]
            c.execute("DELETE FROM templates WHERE subject_id = ?", (row[0],))
            c.execute("DELETE FROM subjects WHERE id = ?", (row[0],))
            c.executemany("INSERT INTO changes(op, first_id, last_id) VALUES ('del', ?, ?)", [(i, i) for i in ids])
            if before_commit is not None:
                before_commit(ids)
        if not self._purge():
            raise GalleryPurgePendingError(
                f"{name!r} is deleted, but another process's open read keeps its template bytes in {self.path} "
                "for now; they are purged at this gallery's next write or close (close readers, or retry)")
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
            if not self.readonly and self._purge_pending:
                self._purge()
            self._conn.close()
