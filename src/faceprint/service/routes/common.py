"""What the route modules share: running work on the bounded queue, error responses for OpenAPI,
and Face -> JSON."""
from __future__ import annotations

from fastapi import Request

from ...types import Face
from ..schemas import CFError, Error, FaceOut

ERRORS = {s: {"model": Error} for s in (400, 401, 403, 404, 409, 413, 415, 422, 503)}
CF_ERRORS = {s: {"model": CFError} for s in (400, 401, 403, 404, 409, 413, 415, 422, 503)}


async def run(request: Request, fn, *args):
    """Model and gallery work off the event loop, on this worker's bounded queue."""
    return await request.app.state.work.run(fn, *args)


def face_out(f: Face) -> FaceOut:
    d = f.to_dict()
    return FaceOut(box=d["box"], landmarks=d["landmarks"], score=d["score"])
