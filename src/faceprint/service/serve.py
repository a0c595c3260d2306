"""What the `serve`, `keys` and `audit` commands do (cli.py only parses and prints)."""
from __future__ import annotations

import logging
import os

from ..errors import FaceprintError
from .settings import ENV, Settings, parse_galleries


def settings_from_args(args) -> Settings:
    env = Settings.from_env()
    return Settings(galleries=parse_galleries(args.gallery), host=args.host, port=args.port, workers=args.workers,
                    index=args.index, encryption_key_file=args.encryption_key_file or env.encryption_key_file,
                    max_upload_bytes=int(args.max_upload_mb * 2**20), max_pending=args.max_pending)


def _open(location: str, create: bool = False, settings: Settings | None = None, key_file: str | None = None):
    from ..gallery import Gallery
    if settings is None:
        settings = Settings.from_env()
        settings.encryption_key_file = key_file or settings.encryption_key_file
    key = settings.encryption_key()
    return Gallery.open(location, create=create, **({"encryption_key": key} if key else {}))


def check(settings: Settings) -> None:
    """Fail before starting workers: every gallery must exist and open (key, schema)."""
    for location in settings.galleries.values():
        _open(location, settings=settings).close()


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
    from .auth import create_key
    with _open(location, create=(action == "create"), key_file=key_file) as g:
        if g.created:
            logging.getLogger("faceprint").warning("created a new gallery at %s", location)
        if action == "create":
            return {**create_key(g.store, role, name), "gallery": location.split("@")[-1]}
        if action == "list":
            return g.store.keys()
        if not key_id:
            raise FaceprintError("give the KEY_ID to revoke (see `faceprint keys list`)")
        if not g.store.revoke_key(key_id):
            raise FaceprintError(f"no active key with id {key_id!r} in {location}")
        return {"revoked": key_id}


def audit_rows(location: str, *, since: str | None = None, subject: str | None = None,
               key_file: str | None = None) -> list[dict]:
    from . import audit
    with _open(location, key_file=key_file) as g:
        return audit.query(g, since=since, subject=subject)
