"""POST /v1/detect: every face with its box, 5 landmarks and detector score."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from .. import uploads
from ..auth import Caller, recognize
from ..schemas import DetectOut, image_body
from .common import ERRORS, face_out, run

router = APIRouter(prefix="/v1", tags=["native"], responses=ERRORS)


@router.post("/detect", response_model=DetectOut, openapi_extra=image_body("file"))
async def detect(request: Request, caller: Caller = Depends(recognize)) -> DetectOut:
    files, fields = await uploads.read_form(request)
    data = uploads.image(files, fields, "file")
    eng = request.app.state.engine

    def work():
        img = eng.load(data)
        faces = eng.detector.detect([img])[0]
        live = eng.liveness_stage.assess(img, faces) if eng.liveness_stage is not None else [None] * len(faces)
        return faces, live
    faces, live = await run(request, work)
    return DetectOut(faces=[face_out(f, lv) for f, lv in zip(faces, live)])
