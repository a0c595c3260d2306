"""API keys: random 256-bit tokens, stored as their SHA-256 in the gallery's own store, each
belonging to one gallery with one role. A plain SHA-256 is enough here (unlike passwords): a key
has 256 bits of entropy, so its hash cannot be brute-forced, and a fast hash keeps the check an
indexed lookup on every request. The store is asked on every request, so a revocation made by
`faceprint keys revoke` (or another worker, or another host) applies to the next request."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from ..errors import FaceprintError
from .errors import ServiceError

ROLES = ("recognize", "admin")          # each role may do everything the ones before it may
PREFIX = "fp_"

api_key_header = APIKeyHeader(name="x-api-key", auto_error=False,
                              description="A key from `faceprint keys create`; it selects the gallery too.")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(store, role: str, name: str = "") -> dict[str, str]:
    """A new key: stored hashed; the clear key is returned once and never again."""
    if role not in ROLES:
        raise FaceprintError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    key = PREFIX + secrets.token_urlsafe(32)
    key_id = secrets.token_hex(6)
    store.add_key(key_id, hash_key(key), role, name or "")
    return {"key": key, "id": key_id, "role": role}


@dataclass(frozen=True)
class Caller:
    key_id: str
    role: str
    gallery_name: str
    gallery: Any
    client: str | None

    def audit(self, action: str, subject: str | None = None, image: bytes | None = None, **outcome) -> dict:
        """An audit row for this caller (written by audit.record)."""
        return {"key_id": self.key_id, "action": action, "subject": subject,
                "image_sha256": hashlib.sha256(image).hexdigest() if image is not None else None,
                "outcome": outcome, "client": self.client}


def _caller(request: Request, key: str | None) -> Caller:
    if not key:
        raise ServiceError(401, "missing_key", "send your API key in the x-api-key header", 0)
    digest = hash_key(key)
    for name, gallery in request.app.state.galleries.items():
        row = gallery.store.key_by_hash(digest)
        if row is not None:
            if row["revoked"]:
                break
            return Caller(row["id"], row["role"], name, gallery,
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
