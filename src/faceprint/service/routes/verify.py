"""POST /v1/verify: are the most prominent faces of two photos the same person?"""
from __future__ import annotations

import hashlib

from fastapi import APIRouter, Depends, Query, Request

from .. import uploads
from ..auth import Caller, recognize
from ..schemas import VerifyLiveness, VerifyOut, image_body
from .common import ERRORS, durable, live_outcome, liveness_out, refused, run

router = APIRouter(prefix="/v1", tags=["native"], responses=ERRORS)


@router.post("/verify", response_model=VerifyOut, openapi_extra=image_body("a", "b"))
async def verify(request: Request, threshold: float | None = Query(None, ge=-1, le=1,
                                                                   description="raw cosine threshold; default: calibrated"),
                 caller: Caller = Depends(recognize)) -> VerifyOut:
    files, fields = await uploads.read_form(request)
    a, b = uploads.image(files, fields, "a"), uploads.image(files, fields, "b")

    def work():
        eng = request.app.state.engine
        sides = [eng.analyse(a), eng.analyse(b)]
        v = eng.verify(sides[0].template, sides[1].template, threshold=threshold)
        live = [s.liveness[0] if s.liveness else None for s in sides]
        err = refused(live, request.app.state.settings.require_live)
        logged = caller.submit(caller.audit("verify", image=a, image_b_sha256=hashlib.sha256(b).hexdigest(),
                                            score=round(v.score, 6), same=v.same, **live_outcome(live, err)))
        return v, live, err, logged
    v, live, err, logged = await run(request, work)
    await durable(logged)
    if err is not None:
        raise err
    both = VerifyLiveness(a=liveness_out(live[0]), b=liveness_out(live[1])) if None not in live else None
    return VerifyOut(score=v.score, threshold=v.threshold, same=v.same, model=v.model, liveness=both)
