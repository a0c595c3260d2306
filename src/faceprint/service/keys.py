"""API keys, the service's own table in each gallery's database: random 256-bit tokens stored as
their SHA-256, each with one role. A plain SHA-256 is enough here (unlike passwords): a key has
256 bits of entropy, so its hash cannot be brute-forced, and a fast hash keeps the check an
indexed lookup on every request. The table is read on every request, so a revocation made by
`faceprint keys revoke` (or another worker, or another host) applies to the next request."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from ..errors import UsageError
from .db import ServiceDB

ROLES = ("recognize", "admin")          # each role may do everything the ones before it may
PREFIX = "fp_"
TABLE = "service_keys"
LEGACY_TABLE = "api_keys"               # where galleries made before the service owned its tables kept them
SCHEMA = (f"CREATE TABLE IF NOT EXISTS {TABLE} (id TEXT PRIMARY KEY, key_sha256 TEXT NOT NULL UNIQUE, "
          "role TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', created TEXT NOT NULL, revoked TEXT)")


@dataclass(frozen=True)
class ApiKey:
    """A key's record (never the key itself, nor its hash)."""
    id: str
    role: str
    name: str
    created: str
    revoked: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NewKey:
    """A key just made: the clear key is shown this once and stored only as its hash."""
    key: str
    record: ApiKey


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def migrate(tx) -> None:
    """Create the table; a gallery made before the service owned its tables keeps its keys (the
    old table is renamed, rows untouched)."""
    tables = tx.tables()
    if LEGACY_TABLE in tables and TABLE not in tables:
        tx.execute(f"ALTER TABLE {LEGACY_TABLE} RENAME TO {TABLE}")
    tx.execute(SCHEMA)


class KeyTable:
    _COLS = "id, role, name, created, revoked"

    def __init__(self, db: ServiceDB):
        self.db = db

    def create(self, role: str, name: str = "") -> NewKey:
        if role not in ROLES:
            raise UsageError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        key = PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(id=secrets.token_hex(6), role=role, name=name or "", created=_now(), revoked=None)
        with self.db.transaction() as tx:
            tx.execute(f"INSERT INTO {TABLE}(id, key_sha256, role, name, created) VALUES (?, ?, ?, ?, ?)",
                       (record.id, hash_key(key), record.role, record.name, record.created))
        return NewKey(key=key, record=record)

    def lookup(self, key: str) -> ApiKey | None:
        """The record of this clear key (revoked or not), or None when it is unknown."""
        rows = self.db.query(f"SELECT {self._COLS} FROM {TABLE} WHERE key_sha256 = ?", (hash_key(key),))
        return ApiKey(*rows[0]) if rows else None

    def get(self, key_id: str) -> ApiKey | None:
        rows = self.db.query(f"SELECT {self._COLS} FROM {TABLE} WHERE id = ?", (key_id,))
        return ApiKey(*rows[0]) if rows else None

    def all(self) -> list[ApiKey]:
        return [ApiKey(*r) for r in self.db.query(f"SELECT {self._COLS} FROM {TABLE} ORDER BY created, id")]

    def revoke(self, key_id: str) -> bool:
        """Revoke a live key; False when there is no such key or it is already revoked."""
        with self.db.transaction() as tx:
            cur = tx.execute(f"UPDATE {TABLE} SET revoked = ? WHERE id = ? AND revoked IS NULL", (_now(), key_id))
            return cur.rowcount > 0
