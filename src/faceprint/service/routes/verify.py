"""POST /v1/verify: are the most prominent faces of two photos the same person?"""
from __future__ import annotations

import hashlib

from fastapi import APIRouter, Depends, Query, Request

from .. import audit, uploads
from ..auth import Caller, recognize
from ..schemas import VerifyOut, image_body
from .common import ERRORS, run

router = APIRouter(prefix="/v1", tags=["native"], responses=ERRORS)


@router.post("/verify", response_model=VerifyOut, openapi_extra=image_body("a", "b"))
async def verify(request: Request, threshold: float | None = Query(None, ge=-1, le=1,
                                                                   description="raw cosine threshold; default: calibrated"),
                 caller: Caller = Depends(recognize)) -> VerifyOut:
    files, fields = await uploads.read_form(request)
    a, b = uploads.image(files, fields, "a"), uploads.image(files, fields, "b")

    def work():
        v = request.app.state.engine.verify(a, b, threshold=threshold)
        audit.record(caller.gallery, caller.audit("verify", image=a, image_b_sha256=hashlib.sha256(b).hexdigest(),
                                                  score=round(v.score, 6), same=v.same))
        return v
    v = await run(request, work)
    return VerifyOut(score=v.score, threshold=v.threshold, same=v.same, model=v.model)
