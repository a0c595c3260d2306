"""Append-only audit records, one per enrolment, deletion, rename, identification and
verification: time, key id (never the key), action, subject, SHA-256 of the uploaded image,
outcome, client address. No images and no templates; rows outlive the subjects they name."""
from __future__ import annotations

from datetime import datetime, timezone

from ..errors import FaceprintError


def record(gallery, *rows: dict) -> None:
    if rows:
        gallery.store.append_audit(list(rows))


def query(gallery, since: str | None = None, subject: str | None = None) -> list[dict]:
    if since:
        # A bare date means its start (UTC); rows hold ISO-8601 UTC strings, which compare as text.
        try:
            dt = datetime.fromisoformat(since)
        except ValueError:
            raise FaceprintError(f"--since {since!r} is not a date; use e.g. 2026-11-01 or 2026-11-01T08:00") from None
        since = (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds")
    return gallery.store.audit_rows(since=since, subject=subject)
