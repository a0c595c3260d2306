"""Who is calling: the x-api-key header names a live key of one of the served galleries (keys.py);
the key selects that gallery and carries a role. Dependencies for the routes."""
from __future__ import annotations

import hashlib
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from .errors import ServiceError
from .keys import ROLES
from .tables import ServiceTables

api_key_header = APIKeyHeader(name="x-api-key", auto_error=False,
                              description="A key from `faceprint keys create`; it selects the gallery too.")


@dataclass(frozen=True)
class Caller:
    key_id: str
    role: str
    gallery_name: str
    gallery: Any
    tables: ServiceTables       # the service's own tables in that gallery's database
    client: str | None

    def audit(self, action: str, subject: str | None = None, image: bytes | None = None, **outcome) -> dict:
        """An audit row for this caller (written by record)."""
        return {"key_id": self.key_id, "action": action, "subject": subject,
                "image_sha256": hashlib.sha256(image).hexdigest() if image is not None else None,
                "outcome": outcome, "client": self.client}

    def record(self, *rows: dict) -> None:
        """Append audit rows to the caller's gallery's log; returns once they are durable."""
        self.tables.audit.record(*rows)

    def submit(self, *rows: dict) -> Future:
        """Queue audit rows; the Future completes once they are durable (routes/common.durable
        awaits it outside the engine's slot)."""
        return self.tables.audit.submit(*rows)


def _caller(request: Request, key: str | None) -> Caller:
    if not key:
        raise ServiceError(401, "missing_key", "send your API key in the x-api-key header", 0)
    for name, tables in request.app.state.tables.items():
        found = tables.keys.lookup(key)
        if found is not None:
            if found.revoked:
                break
            return Caller(found.id, found.role, name, request.app.state.galleries[name], tables,
                          request.client.host if request.client else None)
    raise ServiceError(401, "unknown_key", "this API key is unknown or was revoked", 0)


def require(role: str):
    """A dependency: the caller's key must exist, be live, and carry `role` or a higher one."""
    need = ROLES.index(role)

    def dep(request: Request, key: str | None = Depends(api_key_header)) -> Caller:
        caller = _caller(request, key)
        if ROLES.index(caller.role) < need:
            raise ServiceError(403, "forbidden", f"this key's role is {caller.role!r}; this needs {role!r}", 0)
        return caller
    return dep


recognize = require("recognize")
admin = require("admin")
