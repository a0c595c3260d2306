"""What the route modules share: running work on the bounded queue, error responses for OpenAPI,
and Face -> JSON."""
from __future__ import annotations

import asyncio
from concurrent.futures import Future

from fastapi import Request

from ...errors import PresentationAttackError
from ...stages.liveness import LivenessResult
from ...types import Face
from ..schemas import CFError, Error, FaceOut, LivenessOut

ERRORS = {s: {"model": Error} for s in (400, 401, 403, 404, 409, 413, 415, 422, 503)}
CF_ERRORS = {s: {"model": CFError} for s in (400, 401, 403, 404, 409, 413, 415, 422, 503)}


async def run(request: Request, fn, *args):
    """Model and gallery work off the event loop, on this worker's bounded queue."""
    return await request.app.state.work.run(fn, *args)


async def durable(rows: Future) -> None:
    """Wait for audit rows queued by Caller.submit to be committed, without holding an engine slot
    (the next request computes meanwhile); the answer goes out only after that."""
    await asyncio.wrap_future(rows)


def face_out(f: Face, live: LivenessResult | None = None) -> FaceOut:
    d = f.to_dict()
    return FaceOut(box=d["box"], landmarks=d["landmarks"], score=d["score"], liveness=liveness_out(live))


def liveness_out(live: LivenessResult | None) -> LivenessOut | None:
    return None if live is None else LivenessOut(**live.to_dict())


def refused(live: list[LivenessResult | None], require_live: bool, *,
            unjudged: bool = True) -> PresentationAttackError | None:
    """With serve --require-live: the error for the first face judged a presentation attack (and,
    with `unjudged`, for a face too small to judge)."""
    def is_attack(r: LivenessResult | None) -> bool:
        return r is not None and not r.live and (unjudged or r.reason is None)
    attack = next((r for r in live if is_attack(r)), None) if require_live else None
    if attack is None:
        return None
    why = attack.reason or f"liveness score {attack.score:.3f} is under the threshold {attack.threshold:.3f}"
    return PresentationAttackError(f"a face was judged a presentation attack, not a live person ({why}); "
                                   "present a live face to the camera")


def live_outcome(live: list[LivenessResult | None], err: Exception | None) -> dict:
    """Audit fields: each face's liveness score, and the refusal when there was one."""
    scores = [round(r.score, 4) for r in live if r is not None]
    return ({"liveness": scores} if scores else {}) | ({"refused": "presentation_attack"} if err else {})
