"""CompreFace-compatible API, as CompreFace's own Python SDK (compreface-sdk 0.6.0) and clients
such as Double Take call it: same paths, options, response shapes and error JSON. `similarity` is
the calibrated map of service/similarity.py; image ids are template ids (as strings)."""
from __future__ import annotations

import math
import time

from fastapi import APIRouter, Body, Depends, Query, Request

from ... import quality, scoring
from ...errors import SubjectExistsError
from ...types import Face, Template
from .. import uploads
from ..auth import Caller, admin
from ..auth import recognize as can_recognize
from ..errors import ServiceError, not_found
from ..schemas import (
    CFBox,
    CFDeletedCount,
    CFDetectOut,
    CFExample,
    CFExampleAdded,
    CFFace,
    CFFaceList,
    CFFaceVerified,
    CFFaceVerifyOut,
    CFMask,
    CFMatch,
    CFRecognized,
    CFRecognizeOut,
    CFSubjectBody,
    CFSubjects,
    CFSubjectScore,
    CFUpdated,
    CFVerification,
    CFVerifyOut,
    image_body,
)
from .common import CF_ERRORS, durable, run
from .gallery import delete_examples, delete_subject_of

router = APIRouter(prefix="/api/v1", tags=["CompreFace-compatible"], responses=CF_ERRORS)

NO_FACE = "No face is found in the given image"


class Options:
    """CompreFace's query options. Unknown face plugins (age, gender, pose, ...) and Double Take's
    `face_plugins=undefined` are ignored, never an error."""

    def __init__(self, limit: int = Query(0, ge=0, le=10_000, description="most faces to return, largest first; 0 = all"),
                 det_prob_threshold: float = Query(0.8, ge=0, le=1, description="minimum detector confidence"),
                 face_plugins: str = Query("", description="comma-separated: landmarks, calculator (embedding), "
                                                           "mask; others are accepted and ignored"),
                 status: bool = Query(False, description="include execution_time and plugins_versions")):
        self.limit, self.det, self.status = limit, det_prob_threshold, status
        self.plugins = {p.strip().lower() for p in face_plugins.split(",")}


def _faces(faces: list[Face], opt: Options) -> list[Face]:
    """Faces above the detection threshold, largest first, at most `limit`; none is CompreFace's 400/28."""
    kept = sorted((f for f in faces if f.score >= opt.det), key=lambda f: -f.area)
    if opt.limit:
        kept = kept[:opt.limit]
    if not kept:
        raise ServiceError(400, "no_face", NO_FACE, 28)
    return kept


def _cf_face(f: Face, opt: Options, ms: dict[str, float], template: Template | None = None) -> dict:
    x, y, w, h = (float(v) for v in f.box)
    out = {"box": CFBox(probability=round(float(f.score), 5), x_min=max(0, math.floor(x)), y_min=max(0, math.floor(y)),
                        x_max=math.ceil(x + w), y_max=math.ceil(y + h))}
    if "landmarks" in opt.plugins:
        out["landmarks"] = [[int(round(float(px))), int(round(float(py)))] for px, py in f.landmarks]
    if "calculator" in opt.plugins and template is not None:
        out["embedding"] = [round(float(v), 6) for v in template.vector]
    if "mask" in opt.plugins and template is not None and (masked := template.is_masked) is not None:
        p = float(template.masked)      # no "worn incorrectly": the classifier has two classes
        out["mask"] = CFMask(value="mask_worn_correctly" if masked else "without_mask",
                             probability=round(max(p, 1 - p), 5))
    if opt.status:
        out["execution_time"] = ms
    return out


def _versions(request: Request, opt: Options) -> dict | None:
    if not opt.status:
        return None
    eng = request.app.state.engine
    return {"detector": f"faceprint.{eng.detector.name if hasattr(eng.detector, 'name') else 'yunet'}",
            "calculator": f"faceprint.{eng.model_id}"}


def _templates(request: Request, data: bytes, opt: Options):
    """(faces kept, their templates, timings in ms) for one image."""
    a = request.app.state.engine.analyse(data, select=None, keep=lambda faces: _faces(faces, opt))
    return a.faces, a.templates, {"detector": round(a.decode_ms + a.detect_ms, 1), "calculator": round(a.template_ms, 1)}


def _sim(request: Request, score: float) -> float:
    return round(float(request.app.state.similarity(score)), 5)


# -- recognition ---------------------------------------------------------------------------------
@router.post("/recognition/recognize", response_model=CFRecognizeOut, response_model_exclude_none=True,
             openapi_extra=image_body("file"))
async def recognize(request: Request, opt: Options = Depends(),
                    prediction_count: int = Query(1, ge=0, le=100, description="subjects per face, best first"),
                    caller: Caller = Depends(can_recognize)) -> CFRecognizeOut:
    files, fields = await uploads.read_form(request)
    data = uploads.image(files, fields, "file")
    g = caller.gallery

    def work():
        faces, templates, ms = _templates(request, data, opt)
        t0 = time.perf_counter()
        hits = g.search_batch(templates, k=max(1, prediction_count))
        ms["recognizer"] = round((time.perf_counter() - t0) * 1000, 1)
        logged = caller.submit(*[caller.audit("identify", subject=h[0].subject.name if h else None, image=data,
                                              score=round(h[0].score, 6) if h else None,
                                              similarity=_sim(request, h[0].score) if h else None, api="compreface")
                                 for h in hits])
        return faces, templates, hits, ms, logged
    faces, templates, hits, ms, logged = await run(request, work)
    await durable(logged)
    return CFRecognizeOut(result=[CFRecognized(
        **_cf_face(f, opt, ms, t),
        subjects=[CFSubjectScore(subject=m.subject.name, similarity=_sim(request, m.score)) for m in h])
        for f, t, h in zip(faces, templates, hits)], plugins_versions=_versions(request, opt))


# The CLI's hint means nothing to a CompreFace client, which has no way to force an enrolment.
_FORCE_HINT = ", or force (--force) to enrol it anyway"


def _refused(status: int, code: str, message: str) -> ServiceError:
    """An enrolment refusal: the message says why, and `reason` names it for programs."""
    return ServiceError(status, code, message, 26, cf_fields={"reason": code})


@router.post("/recognition/faces", response_model=CFExampleAdded, response_model_exclude_none=True, status_code=201,
             openapi_extra=image_body("file"))
async def add_example(request: Request, subject: str = Query(..., min_length=1, max_length=200),
                      det_prob_threshold: float = Query(0.8, ge=0, le=1),
                      caller: Caller = Depends(admin)) -> CFExampleAdded:
    """Enrol the photo's largest face. Under `--enrol-policy warn` (the default) any detected face
    is enrolled, as CompreFace does, with a `warning` when it is masked, unusable or weak; under
    `strict` a masked or unusable one is refused (400, `reason` masked or low_quality), as the
    native API refuses it without `force`. The same photo again, or a near copy of it, is refused
    under both (409, `reason` duplicate or near_duplicate)."""
    files, fields = await uploads.read_form(request)
    data = uploads.image(files, fields, "file")
    opt = Options(limit=1, det_prob_threshold=det_prob_threshold, face_plugins="", status=False)
    name = subject.strip()
    if not name:
        raise ServiceError(400, "bad_request", "subject must not be blank", 26)
    strict = request.app.state.settings.enrol_policy == "strict"

    def work():
        _, templates, _ = _templates(request, data, opt)
        gate = quality.enrolment_refusal(templates[0])
        warning = gate[1].replace(_FORCE_HINT, "") if gate else quality.enrolment_warning(templates[0])
        if gate and strict:
            raise _refused(400, gate[0], f"{warning} (this server enrols only photos that pass its quality gate: "
                                         "--enrol-policy strict)")
        enr = caller.gallery.enroll(name, templates, force=True)
        if not enr.added:
            skip = enr.skipped[0]
            raise _refused(409, skip.code, f"this photo is already enrolled for {name!r}" if skip.code == "duplicate"
                           else skip.reason)
        caller.record(caller.audit("enroll", subject=name, image=data, template_id=enr.added[0], api="compreface",
                                   warning=gate[0] if gate else None))
        return enr.added[0], templates[0].quality, warning
    tid, q, warning = await run(request, work)
    return CFExampleAdded(image_id=str(tid), subject=name, quality=round(float(q), 3), warning=warning)


@router.get("/recognition/faces", response_model=CFFaceList)
async def list_faces(request: Request, page: int = Query(0, ge=0, le=2**31), size: int = Query(20, ge=1, le=1000),
                     subject: str | None = Query(None), caller: Caller = Depends(can_recognize)) -> CFFaceList:
    rows, total = await run(request, caller.gallery.examples, subject or None, page * size, size)
    return CFFaceList(faces=[CFExample(image_id=str(r.id), subject=r.subject) for r in rows], page_number=page,
                      page_size=size, total_pages=math.ceil(total / size), total_elements=total)


@router.delete("/recognition/faces", response_model=CFDeletedCount)
async def delete_faces_of_subject(request: Request, subject: str | None = Query(None),
                                  caller: Caller = Depends(admin)) -> CFDeletedCount:
    """Every example of `subject` (of every subject when absent); the subjects themselves stay."""
    def work():
        ids, offset = [], 0
        while True:
            rows, total = caller.gallery.examples(subject or None, offset, 10_000)
            ids += [r.id for r in rows]
            offset += len(rows)
            if not rows or offset >= total:
                break
        return len(delete_examples(caller, ids))
    return CFDeletedCount(deleted=await run(request, work))


def _image_id(image_id: str) -> int | None:
    return int(image_id) if image_id.isdigit() and len(image_id) < 19 else None


@router.delete("/recognition/faces/{image_id}", response_model=CFExample)
async def delete_face(request: Request, image_id: str, caller: Caller = Depends(admin)) -> CFExample:
    tid = _image_id(image_id)
    done = await run(request, delete_examples, caller, [tid] if tid is not None else [])
    if not done:
        raise not_found(f"no example with image_id {image_id!r}")
    return CFExample(image_id=str(done[0][0]), subject=done[0][1])


@router.post("/recognition/faces/delete", response_model=list[CFExample])
async def delete_faces(request: Request, image_ids: list[str | int] = Body(..., max_length=10_000),
                       caller: Caller = Depends(admin)) -> list[CFExample]:
    ids = [i for i in (_image_id(str(x)) for x in image_ids) if i is not None]
    done = await run(request, delete_examples, caller, ids)
    return [CFExample(image_id=str(i), subject=s) for i, s in done]


@router.post("/recognition/faces/{image_id}/verify", response_model=CFFaceVerifyOut, response_model_exclude_none=True,
             openapi_extra=image_body("file"))
async def verify_face(request: Request, image_id: str, opt: Options = Depends(),
                      caller: Caller = Depends(can_recognize)) -> CFFaceVerifyOut:
    files, fields = await uploads.read_form(request)
    data = uploads.image(files, fields, "file")
    tid = _image_id(image_id)
    g = caller.gallery

    def work():
        owner = g.example_owners([tid]).get(tid) if tid is not None else None
        vector = g.example_vector(tid) if owner is not None else None
        if vector is None:
            raise not_found(f"no example with image_id {image_id!r}")
        faces, templates, ms = _templates(request, data, opt)
        scores = [scoring.probe_score(t, vector) for t in templates]
        logged = caller.submit(caller.audit("verify", subject=owner, image=data, template_id=tid,
                                            score=round(max(scores), 6), api="compreface"))
        return faces, templates, scores, ms, owner, logged
    faces, templates, scores, ms, subject, logged = await run(request, work)
    await durable(logged)
    return CFFaceVerifyOut(result=[CFFaceVerified(**_cf_face(f, opt, ms, t), similarity=_sim(request, s),
                                                  subject=subject)
                                   for f, t, s in zip(faces, templates, scores)],
                           plugins_versions=_versions(request, opt))


# -- subjects ------------------------------------------------------------------------------------
@router.post("/recognition/subjects", response_model=CFSubjectBody, status_code=201)
async def add_subject(request: Request, body: CFSubjectBody, caller: Caller = Depends(admin)) -> CFSubjectBody:
    name = body.subject.strip()

    def work():
        if not name:
            raise ServiceError(400, "bad_request", "the subject name must not be blank", 26)
        try:
            caller.gallery.create_subject(name)
        except SubjectExistsError as exc:      # CompreFace answers 400 here, not 409
            raise ServiceError(400, "subject_exists", str(exc), 26) from None
        caller.record(caller.audit("create_subject", subject=name, api="compreface"))
    await run(request, work)
    return CFSubjectBody(subject=name)


@router.get("/recognition/subjects", response_model=CFSubjects)
async def list_subjects(request: Request, caller: Caller = Depends(can_recognize)) -> CFSubjects:
    return CFSubjects(subjects=[s.name for s in await run(request, caller.gallery.subjects)])


@router.put("/recognition/subjects/{subject}", response_model=CFUpdated)
async def rename_subject(request: Request, subject: str, body: CFSubjectBody, caller: Caller = Depends(admin)) -> CFUpdated:
    """Rename; renaming onto an existing subject merges the two (as CompreFace does)."""
    new = body.subject.strip()

    def work():
        if not new:
            raise ServiceError(400, "bad_request", "the new subject name must not be blank", 26)
        if caller.gallery.rename_subject(subject, new, merge=True) is None:
            raise not_found(f"subject {subject!r} not found")
        caller.record(caller.audit("rename", subject=new, old_name=subject, api="compreface"))
    await run(request, work)
    return CFUpdated(updated=True)


@router.delete("/recognition/subjects/{subject}", response_model=CFSubjectBody)
async def delete_subject(request: Request, subject: str, caller: Caller = Depends(admin)) -> CFSubjectBody:
    def work():
        if not delete_subject_of(caller.gallery, subject):
            raise not_found(f"subject {subject!r} not found")
        caller.record(caller.audit("delete_subject", subject=subject, api="compreface"))
    await run(request, work)
    return CFSubjectBody.model_construct(subject=subject)


@router.delete("/recognition/subjects", response_model=CFDeletedCount)
async def delete_all_subjects(request: Request, caller: Caller = Depends(admin)) -> CFDeletedCount:
    def work():
        n = 0
        for s in caller.gallery.subjects():
            if delete_subject_of(caller.gallery, s.name):
                n += 1
                caller.record(caller.audit("delete_subject", subject=s.name, api="compreface"))
        return n
    return CFDeletedCount(deleted=await run(request, work))


# -- detection and verification ------------------------------------------------------------------
@router.post("/detection/detect", response_model=CFDetectOut, response_model_exclude_none=True,
             openapi_extra=image_body("file"))
async def detect(request: Request, opt: Options = Depends(), caller: Caller = Depends(can_recognize)) -> CFDetectOut:
    files, fields = await uploads.read_form(request)
    data = uploads.image(files, fields, "file")

    def work():
        if opt.plugins & {"calculator", "mask"}:
            return _templates(request, data, opt)
        t0 = time.perf_counter()
        faces = _faces(request.app.state.engine.detect(data), opt)
        return faces, [None] * len(faces), {"detector": round((time.perf_counter() - t0) * 1000, 1)}
    faces, templates, ms = await run(request, work)
    return CFDetectOut(result=[CFFace(**_cf_face(f, opt, ms, t)) for f, t in zip(faces, templates)],
                       plugins_versions=_versions(request, opt))


@router.post("/verification/verify", response_model=CFVerifyOut, response_model_exclude_none=True,
             openapi_extra=image_body("source_image", "target_image"))
async def verify(request: Request, opt: Options = Depends(), caller: Caller = Depends(can_recognize)) -> CFVerifyOut:
    files, fields = await uploads.read_form(request)
    src, tgt = uploads.image(files, fields, "source_image"), uploads.image(files, fields, "target_image")

    def work():
        one = Options(limit=1, det_prob_threshold=opt.det, face_plugins=",".join(opt.plugins), status=opt.status)
        sf, st, sms = _templates(request, src, one)
        tf, tt, tms = _templates(request, tgt, opt)
        scores = [scoring.compare(st[0], t) for t in tt]
        logged = caller.submit(caller.audit("verify", image=src, score=round(max(scores), 6), api="compreface"))
        return sf[0], st[0], sms, tf, tt, tms, scores, logged
    sf, st, sms, tf, tt, tms, scores, logged = await run(request, work)
    await durable(logged)
    return CFVerifyOut(result=[CFVerification(
        source_image_face=CFFace(**_cf_face(sf, opt, sms, st)),
        face_matches=[CFMatch(**_cf_face(f, opt, tms, t), similarity=_sim(request, s))
                      for f, t, s in zip(tf, tt, scores)])], plugins_versions=_versions(request, opt))
