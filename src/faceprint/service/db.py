"""The service's own connection to a gallery's database (the SQLite file or the PostgreSQL database
the gallery lives in), for the tables service/ owns: keys.py and audit.py. The gallery's store never
reads or writes them, and they hold no biometric data."""
from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from ..errors import GalleryBusyError, GalleryError

BUSY_MS = 60_000              # a writer waits this long for another writer's transaction (as the store does)
MIGRATION_LOCK = 0x66707376   # PostgreSQL advisory lock held while the service's tables are created or migrated


def is_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


class ServiceDB:
    """One connection, shared by a worker's threads; SQL is written with "?" placeholders."""

    def __init__(self, location: str):
        self.location = location
        self.where = location.split("@")[-1]        # never a password
        self.postgres = is_url(location)
        self._lock = threading.RLock()
        if self.postgres:
            try:
                import psycopg
            except ImportError:
                raise GalleryError("PostgreSQL galleries need psycopg: pip install 'psycopg[binary]'") from None
            self._errors: tuple = (psycopg.Error,)
            try:
                self._conn: Any = psycopg.connect(location, autocommit=True)
            except psycopg.Error as exc:
                raise self._fail(exc) from None
        else:
            if not os.path.isfile(location):
                raise GalleryError(f"gallery {location} does not exist; create it first (faceprint keys create)")
            self._errors = (sqlite3.Error,)
            self._conn = sqlite3.connect(location, timeout=BUSY_MS / 1000, isolation_level=None,
                                         check_same_thread=False)

    def _fail(self, exc: Exception) -> GalleryError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "locked" in text or "busy" in text:      # SQLite's own words for a held write lock
            return GalleryBusyError(f"gallery {self.where} is busy: another process holds its write lock; try again")
        return GalleryError(f"gallery {self.where}: {text}")

    def sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._conn.execute(self.sql(sql), tuple(args)).fetchall()
            except self._errors as exc:
                raise self._fail(exc) from None

    @contextmanager
    def transaction(self, migrating: bool = False) -> Iterator["ServiceDB._Tx"]:
        """A write transaction; `migrating` also serialises with every other process creating or
        migrating the service's tables."""
        with self._lock:
            try:
                if self.postgres:
                    with self._conn.transaction():
                        if migrating:
                            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                        yield ServiceDB._Tx(self)
                else:
                    self._conn.execute("BEGIN IMMEDIATE")
                    try:
                        yield ServiceDB._Tx(self)
                    except BaseException:
                        self._conn.execute("ROLLBACK")
                        raise
                    self._conn.execute("COMMIT")
            except self._errors as exc:
                raise self._fail(exc) from None

    class _Tx:
        def __init__(self, db: "ServiceDB"):
            self.db = db

        def execute(self, sql: str, args: Sequence[Any] = ()):
            return self.db._conn.execute(self.db.sql(sql), tuple(args))

        def tables(self) -> set[str]:
            """Names of the tables in the gallery's database (its default schema on PostgreSQL)."""
            if self.db.postgres:
                sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            else:
                sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
            return {r[0] for r in self.execute(sql).fetchall()}

    def close(self) -> None:
        with self._lock:
            self._conn.close()
