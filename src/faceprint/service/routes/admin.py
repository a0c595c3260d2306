"""Native routes about the caller, its gallery's API keys and audit log. Keys and rows are the
caller's gallery's only; every change is itself audited (with key ids, never keys)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from ...errors import UsageError
from ..audit import Filter, utc_time
from ..auth import Caller, admin, recognize
from ..errors import ServiceError, bad_request, not_found
from ..schemas import AuditPage, AuditRow, KeyCreated, KeyIn, KeyList, KeyOut, Me, Revoked
from .common import ERRORS, run

router = APIRouter(prefix="/v1", tags=["native"], responses=ERRORS)


@router.get("/me", response_model=Me)
async def me(caller: Caller = Depends(recognize)) -> Me:
    """Which key is calling, its role and its gallery."""
    return Me(key_id=caller.key_id, role=caller.role, gallery=caller.gallery_name)


@router.get("/audit", response_model=AuditPage)
async def audit(request: Request, subject: str | None = Query(None, max_length=200),
                action: str | None = Query(None, max_length=100),
                since: str | None = Query(None, max_length=64, description="ISO-8601 date or time (UTC if no zone)"),
                until: str | None = Query(None, max_length=64, description="ISO-8601 date or time, exclusive"),
                offset: int = Query(0, ge=0, le=2**31), limit: int = Query(100, ge=1, le=1000),
                caller: Caller = Depends(admin)) -> AuditPage:
    """The gallery's audit rows, newest first."""
    try:
        where = Filter(since=utc_time(since, "since") if since else None,
                       until=utc_time(until, "until") if until else None, subject=subject or None, action=action or None)
    except UsageError as exc:
        raise bad_request(str(exc)) from None

    def work():
        log = caller.tables.audit
        return log.rows(where, offset=offset, limit=limit, newest_first=True), log.count(where)
    rows, total = await run(request, work)
    return AuditPage(rows=[AuditRow(**r) for r in rows], total=total)


@router.get("/keys", response_model=KeyList)
async def list_keys(request: Request, caller: Caller = Depends(admin)) -> KeyList:
    return KeyList(keys=[KeyOut(**k.to_dict()) for k in await run(request, caller.tables.keys.all)])


@router.post("/keys", response_model=KeyCreated, status_code=201)
async def create_key(request: Request, body: KeyIn, caller: Caller = Depends(admin)) -> KeyCreated:
    """A new key for this gallery; the answer is the only place the key itself ever appears."""
    def work():
        made = caller.tables.keys.create(body.role, body.name)
        caller.record(caller.audit("create_key", new_key_id=made.record.id, role=body.role))
        return made
    made = await run(request, work)
    return KeyCreated(key=made.key, id=made.record.id, role=made.record.role, name=made.record.name)


@router.delete("/keys/{key_id}", response_model=Revoked)
async def revoke_key(request: Request, key_id: str, caller: Caller = Depends(admin)) -> Revoked:
    if key_id == caller.key_id:
        raise ServiceError(409, "own_key", "this is the key making the request; revoke it with another admin key "
                                           "or `faceprint keys revoke`", 26)

    def work():
        if not caller.tables.keys.revoke(key_id):
            raise not_found(f"no live key with id {key_id!r} in this gallery")
        caller.record(caller.audit("revoke_key", revoked_key_id=key_id))
    await run(request, work)
    return Revoked(revoked=key_id)
