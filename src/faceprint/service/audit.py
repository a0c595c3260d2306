"""The audit log, the service's own append-only table in each gallery's database: one row per
enrolment, deletion, rename, identification and verification: time, key id (never the key),
action, subject, SHA-256 of the uploaded image, outcome, client address. No images and no
templates; rows outlive the subjects they name, and the database itself refuses to change them."""
from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import GalleryError, UsageError
from .db import ServiceDB

TABLE = "service_audit"
LEGACY_TABLE = "audit"          # where galleries made before the service owned its tables kept it
COLUMNS = ("ts", "key_id", "action", "subject", "image_sha256", "outcome", "client")
_SQLITE = [f"""CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, key_id TEXT,
               action TEXT NOT NULL, subject TEXT, image_sha256 TEXT, outcome TEXT NOT NULL DEFAULT '{{}}', client TEXT)""",
           *(f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_{op} BEFORE {op.upper()} ON {TABLE} "
             "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END" for op in ("update", "delete"))]
_POSTGRES = [f"""CREATE TABLE IF NOT EXISTS {TABLE} (id BIGSERIAL PRIMARY KEY, ts TEXT NOT NULL, key_id TEXT,
                 action TEXT NOT NULL, subject TEXT, image_sha256 TEXT, outcome TEXT NOT NULL DEFAULT '{{}}', client TEXT)""",
             *(f"CREATE OR REPLACE RULE {TABLE}_no_{op} AS ON {op.upper()} TO {TABLE} DO INSTEAD NOTHING"
               for op in ("update", "delete"))]
# What the gallery stores used to create with the old table; replaced by the statements above.
_LEGACY_GUARDS = {False: ["DROP TRIGGER IF EXISTS audit_no_update", "DROP TRIGGER IF EXISTS audit_no_delete",
                          "DROP INDEX IF EXISTS audit_ts"],
                  True: ["DROP RULE IF EXISTS audit_no_update ON audit", "DROP RULE IF EXISTS audit_no_delete ON audit",
                         "DROP INDEX IF EXISTS audit_ts"]}


def migrate(tx) -> None:
    """Create the table; a gallery made before the service owned its tables keeps its rows (the old
    table is renamed, its rows untouched, its append-only guards replaced by this table's)."""
    tables = tx.tables()
    if LEGACY_TABLE in tables and TABLE not in tables:
        for statement in _LEGACY_GUARDS[tx.db.postgres]:
            tx.execute(statement)
        tx.execute(f"ALTER TABLE {LEGACY_TABLE} RENAME TO {TABLE}")
    for statement in _POSTGRES if tx.db.postgres else _SQLITE:
        tx.execute(statement)
    tx.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_ts ON {TABLE}(ts)")


def utc_time(text: str, name: str) -> str:
    """An ISO-8601 date or date-time (UTC when it has no zone) as the text rows hold; a bare date
    means its start. Rows hold ISO-8601 UTC strings, which compare as text."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{name} {text!r} is not a date; use e.g. 2026-11-01 or 2026-11-01T08:00") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Filter:
    """Which rows to read: from `since` (inclusive) to `until` (exclusive), of one subject or action."""
    since: str | None = None
    until: str | None = None
    subject: str | None = None
    action: str | None = None

    def where(self) -> tuple[str, list]:
        parts, args = [], []
        for column, op, value in (("ts", ">=", self.since), ("ts", "<", self.until),
                                  ("subject", "=", self.subject), ("action", "=", self.action)):
            if value:
                parts.append(f"{column} {op} ?")
                args.append(value)
        return (" WHERE " + " AND ".join(parts) if parts else ""), args


class AuditLog:
    """Writes are group-committed: a writer thread (with its own connection) commits every row
    waiting at that moment in one transaction, so concurrent requests share one fsync instead of
    paying one each while holding the engine. A row is acknowledged only once it is durable."""

    def __init__(self, db: ServiceDB):
        self.db = db
        self._cv = threading.Condition()
        self._waiting: list[tuple[list[tuple], Future]] = []
        self._writer: threading.Thread | None = None
        self._closed = False

    def submit(self, *rows: dict) -> Future:
        """Queue rows (dicts with the COLUMNS; ts defaults to now); the Future completes when they
        are committed (or carries the error that stopped them)."""
        done: Future = Future()
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        values = [(r.get("ts") or now, r.get("key_id"), r["action"], r.get("subject"), r.get("image_sha256"),
                   json.dumps(r.get("outcome") or {}), r.get("client")) for r in rows]
        if not values:
            done.set_result(None)
            return done
        with self._cv:
            if self._closed:
                raise GalleryError(f"the audit log of {self.db.where} is closed")
            self._waiting.append((values, done))
            if self._writer is None:
                self._writer = threading.Thread(target=self._write, name="faceprint-audit", daemon=True)
                self._writer.start()
            self._cv.notify()
        return done

    def record(self, *rows: dict) -> None:
        """Append rows and return once they are durable."""
        self.submit(*rows).result()

    def _write(self) -> None:
        try:
            db = ServiceDB(self.db.location)
        except BaseException as exc:            # the next submit starts a new writer
            with self._cv:
                batch, self._waiting, self._writer = self._waiting, [], None
            for _, done in batch:
                done.set_exception(exc)
            return
        try:
            while True:
                with self._cv:
                    while not self._waiting and not self._closed:
                        self._cv.wait()
                    if not self._waiting:
                        return
                    batch, self._waiting = self._waiting, []
                try:
                    with db.transaction() as tx:
                        for values, _ in batch:
                            for v in values:
                                tx.execute(f"INSERT INTO {TABLE}({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)", v)
                except BaseException as exc:    # every request in the batch gets the failure
                    for _, done in batch:
                        done.set_exception(exc)
                else:
                    for _, done in batch:
                        done.set_result(None)
        finally:
            db.close()

    def close(self) -> None:
        """Commit what is waiting, then stop the writer."""
        with self._cv:
            self._closed = True
            self._cv.notify()
            writer = self._writer
        if writer is not None:
            writer.join()

    def rows(self, where: Filter | None = None, *, offset: int = 0, limit: int = 100_000,
             newest_first: bool = False) -> list[dict]:
        """Rows as dicts (id, the COLUMNS; outcome decoded), oldest first unless newest_first."""
        sql, args = (where or Filter()).where()
        order = "DESC" if newest_first else "ASC"
        rows = self.db.query(f"SELECT id, {', '.join(COLUMNS)} FROM {TABLE}{sql} ORDER BY id {order} LIMIT ? OFFSET ?",
                             (*args, limit, offset))
        return [{**dict(zip(("id",) + COLUMNS, r)), "outcome": json.loads(r[6] or "{}")} for r in rows]

    def count(self, where: Filter | None = None) -> int:
        sql, args = (where or Filter()).where()
        return int(self.db.query(f"SELECT count(*) FROM {TABLE}{sql}", args)[0][0])
