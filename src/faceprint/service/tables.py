"""The service's own tables in one gallery's database (keys.py, audit.py), opened together and
created or migrated on open, under a lock so that several workers opening at once do it once."""
from __future__ import annotations

from dataclasses import dataclass

from . import audit, keys
from .db import ServiceDB


@dataclass
class ServiceTables:
    db: ServiceDB
    keys: keys.KeyTable
    audit: audit.AuditLog

    @classmethod
    def open(cls, location: str) -> "ServiceTables":
        """Open them in the gallery at `location` (which must exist: open the Gallery first)."""
        db = ServiceDB(location)
        try:
            with db.transaction(migrating=True) as tx:
                keys.migrate(tx)
                audit.migrate(tx)
        except BaseException:
            db.close()
            raise
        return cls(db, keys.KeyTable(db), audit.AuditLog(db))

    def close(self) -> None:
        self.audit.close()
        self.db.close()

    def __enter__(self) -> "ServiceTables":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
