"""PostgreSQL template store (the server option), same contract as the SQLite store.

Writers serialise on an advisory lock so that template ids and change-log order stay identical;
readers never block. After a deletion the table is vacuumed so the removed vectors' tuples are
reclaimed instead of lingering as dead rows. A read-only store runs every statement in read-only
transactions and creates nothing.
"""
from __future__ import annotations

import threading
from typing import Sequence

from ..errors import GalleryError, GalleryNotFoundError
from .store_sql import SQLStore

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS subjects (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE,
       metadata TEXT NOT NULL DEFAULT '{}', created TEXT NOT NULL, updated TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS templates (id BIGINT PRIMARY KEY, subject_id BIGINT NOT NULL REFERENCES subjects(id),
       vector BYTEA NOT NULL, quality REAL, source_sha256 TEXT, created TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS templates_subject ON templates(subject_id)",
    """CREATE TABLE IF NOT EXISTS changes (seq BIGSERIAL PRIMARY KEY, op TEXT NOT NULL,
       first_id BIGINT NOT NULL, last_id BIGINT NOT NULL)""",
]
WRITE_LOCK = 0x66616365   # advisory lock key shared by all faceprint writers


class PostgresStore(SQLStore):
    def __init__(self, url: str, *, create: bool = False, readonly: bool = False, key: bytes | None = None):
        try:
            import psycopg
        except ImportError:
            raise GalleryError("PostgreSQL galleries need psycopg: pip install 'psycopg[binary]'") from None
        self._error = psycopg.Error
        self.where = url.split("@")[-1]      # never the password
        self.readonly = readonly
        try:
            self._conn = psycopg.connect(url, autocommit=True,
                                         options="-c default_transaction_read_only=on" if readonly else None)
        except psycopg.Error as exc:
            raise GalleryError(f"cannot connect to {self.where}: {str(exc).strip().splitlines()[0]}") from None
        self._lock = threading.RLock()
        try:
            if (not create or readonly) and self._q("SELECT to_regclass('subjects')")[0][0] is None:
                raise GalleryNotFoundError(f"database {self.where} holds no faceprint gallery; check the URL, "
                                           "or enrol someone to create it")
            if not readonly:
                with self._tx() as cur:
                    for stmt in SCHEMA:
                        cur.execute(stmt)
            self._setup(key)
        except BaseException:
            self._conn.close()
            raise

    def _tx(self):
        store = self

        class Tx:
            def __enter__(self):
                if store.readonly:
                    raise GalleryError(f"gallery {store.where} was opened read-only")
                store._lock.acquire()
                try:
                    self.t = store._conn.transaction()
                    self.t.__enter__()
                    cur = store._conn.cursor()
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                except store._error as exc:
                    store._lock.release()
                    raise store._fail(exc) from None
                return cur

            def __exit__(self, *exc):
                try:
                    self.t.__exit__(*exc)
                except store._error as err:
                    raise store._fail(err) from None
                finally:
                    store._lock.release()
                if isinstance(exc[1], store._error):
                    raise store._fail(exc[1]) from None
        return Tx()

    def _fail(self, exc: Exception) -> GalleryError:
        return GalleryError(f"gallery {self.where}: {str(exc).strip().splitlines()[0]}")

    def _q(self, sql, args=()):
        with self._lock:
            try:
                return self._conn.execute(self._sql(sql), args).fetchall()
            except self._error as exc:
                raise self._fail(exc) from None

    def set_meta(self, values):
        with self._tx() as c:
            for k, v in values.items():
                c.execute("INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (k, v))

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def _insert(self, c, rows) -> None:
        with c.copy("COPY templates (id, subject_id, vector, quality, source_sha256, created) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)

    def _subject_ids(self, c, names: list[str], ts: str) -> dict[str, int]:
        c.execute("INSERT INTO subjects(name, metadata, created, updated) SELECT n, '{}', %s, %s "
                  "FROM unnest(%s::text[]) AS n ON CONFLICT (name) DO NOTHING", (ts, ts, names))
        return dict(c.execute("SELECT name, id FROM subjects WHERE name = ANY(%s)", (names,)).fetchall())

    def delete_subject(self, name, before_commit=None):
        with self._tx() as c:
            c.execute("SELECT id FROM subjects WHERE name = %s", (name,))
            row = c.fetchone()
            if row is None:
                return None
            c.execute("DELETE FROM templates WHERE subject_id = %s RETURNING id", (row[0],))
            ids = sorted(r[0] for r in c.fetchall())
            c.execute("DELETE FROM subjects WHERE id = %s", (row[0],))
            for i in ids:
                c.execute("INSERT INTO changes(op, first_id, last_id) VALUES ('del', %s, %s)", (i, i))
            if before_commit is not None:
                before_commit(ids)
        self._purge()
        return ids

    def _purge(self, rewrite: bool = False) -> bool:
        with self._lock:
            try:     # FULL writes a new table file: after a rekey no old ciphertext stays in the old one
                self._conn.execute("VACUUM FULL templates" if rewrite else "VACUUM templates")
            except self._error as exc:
                raise self._fail(exc) from None
        return True

    def subject_of(self, template_ids: Sequence[int]):
        ids = [int(i) for i in template_ids]
        rows = self._q("SELECT t.id, s.id, s.name FROM templates t JOIN subjects s ON s.id = t.subject_id "
                       "WHERE t.id = ANY(%s)", (ids,))
        return {r[0]: (r[1], r[2]) for r in rows}

    def close(self):
        with self._lock:
            self._conn.close()
