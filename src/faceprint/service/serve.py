"""What the `serve`, `keys` and `audit` commands do (cli.py only parses and prints)."""
from __future__ import annotations

import logging
import os

from ..errors import FaceprintError, UsageError
from .settings import ENV, Settings, parse_galleries


def settings_from_args(args) -> Settings:
    env = Settings.from_env()
    return Settings(galleries=parse_galleries(args.gallery), host=args.host, port=args.port, workers=args.workers,
                    index=args.index, encryption_key_file=args.encryption_key_file or env.encryption_key_file,
                    max_upload_bytes=int(args.max_upload_mb * 2**20), max_pending=args.max_pending,
                    enrol_policy=args.enrol_policy, liveness=not getattr(args, "no_liveness", False),
                    require_live=getattr(args, "require_live", False))


def _open(location: str, create: bool = False, settings: Settings | None = None, key_file: str | None = None):
    from ..gallery import Gallery
    if settings is None:
        settings = Settings.from_env()
        settings.encryption_key_file = key_file or settings.encryption_key_file
    key = settings.encryption_key()
    return Gallery.open(location, create=create, **({"encryption_key": key} if key else {}))


def check(settings: Settings) -> None:
    """Fail before starting workers: every gallery must exist and open (key, schema); the service's
    own tables are created or migrated here, once, before the workers open them. The service runs one
    model: the one its galleries hold (unless settings name one), so they must agree."""
    from .tables import ServiceTables
    held: dict[str, str] = {}
    for name, location in settings.galleries.items():
        with _open(location, settings=settings) as g:
            if g.model:
                held[name] = g.model
        ServiceTables.open(location).close()
    if settings.embedder is None and len(set(held.values())) > 1:
        raise FaceprintError("the galleries hold templates of different models ("
                             + ", ".join(f"{n}: {m}" for n, m in held.items())
                             + "); serve each model from its own `faceprint serve` process")
    if settings.embedder is None and held:
        settings.embedder = next(iter(held.values()))


def run(settings: Settings) -> None:
    import uvicorn
    if settings.workers < 1:
        raise FaceprintError("--workers must be at least 1")
    # Each worker process builds its app from this (uvicorn imports the factory by name).
    os.environ[ENV] = settings.to_env()
    uvicorn.run("faceprint.service.app:app_from_env", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_level="warning", timeout_graceful_shutdown=10)


def keys(location: str, action: str, *, role: str = "recognize", name: str = "", key_id: str | None = None,
         key_file: str | None = None):
    """`faceprint keys create|list|revoke`: JSON-ready results (a new key's clear text appears
    only in create's)."""
    from .tables import ServiceTables
    with _open(location, create=(action == "create"), key_file=key_file) as g:
        if g.created:
            logging.getLogger("faceprint").warning("created a new gallery at %s", location)
    with ServiceTables.open(location) as t:
        if action == "create":
            made = t.keys.create(role, name)
            return {"key": made.key, "id": made.record.id, "role": made.record.role, "gallery": location.split("@")[-1]}
        if action == "list":
            return [k.to_dict() for k in t.keys.all()]
        if not key_id:
            raise UsageError("give the KEY_ID to revoke (see `faceprint keys list`)")
        if not t.keys.revoke(key_id):
            raise UsageError(f"no active key with id {key_id!r} in {location}")
        return {"revoked": key_id}


def audit_rows(location: str, *, since: str | None = None, subject: str | None = None,
               key_file: str | None = None) -> list[dict]:
    """`faceprint audit`: the gallery's audit rows, oldest first."""
    from .audit import Filter, utc_time
    from .tables import ServiceTables
    _open(location, key_file=key_file).close()
    with ServiceTables.open(location) as t:
        return t.audit.rows(Filter(since=utc_time(since, "--since") if since else None, subject=subject))
