"""Native gallery routes: identify, subjects, examples, bulk enrolment, stats. The gallery is the
caller's key's gallery; a key of one gallery can neither see nor change another."""
from __future__ import annotations

from dataclasses import asdict, replace

from fastapi import APIRouter, Depends, Path, Query, Request

from ...errors import EnrolmentRefusedError, FaceprintError, GalleryPurgePendingError, NoFaceError
from .. import uploads
from ..auth import Caller, admin, recognize
from ..errors import ServiceError, bad_request, from_faceprint, not_found
from ..schemas import (
    BulkItem,
    BulkOut,
    Candidate,
    Deleted,
    ExampleList,
    ExampleOut,
    ExamplesAdded,
    IdentifiedFace,
    IdentifyOut,
    Skipped,
    StatsOut,
    SubjectIn,
    SubjectList,
    SubjectOut,
    SubjectPatch,
    image_body,
)
from .common import ERRORS, durable, face_out, live_outcome, refused, run

router = APIRouter(prefix="/v1", tags=["native"], responses=ERRORS)
MAX_ID = 2**63 - 1       # template ids are 64-bit database integers


def _subject_out(s) -> SubjectOut:
    return SubjectOut(id=s.id, name=s.name, metadata=s.metadata, created=s.created, updated=s.updated,
                      templates=s.templates)


def _analysed(engine, data: bytes) -> tuple[list, list]:
    """Every face's template and liveness (None each with liveness off); ([], []) for no face."""
    try:
        a = engine.analyse(data, select=None)
    except NoFaceError:
        return [], []
    return a.templates, a.liveness or [None] * len(a.templates)


def _code(exc: FaceprintError) -> str:
    return from_faceprint(exc).code


@router.post("/identify", response_model=IdentifyOut, openapi_extra=image_body("file"))
async def identify(request: Request,
                   k: int = Query(5, ge=1, le=100, description="candidates per face"),
                   fpir: float | None = Query(None, gt=0, lt=1, description="target false-positive identification rate"),
                   threshold: float | None = Query(None, ge=-1, le=1, description="raw cosine threshold instead of an FPIR"),
                   caller: Caller = Depends(recognize)) -> IdentifyOut:
    if fpir is not None and threshold is not None:
        raise bad_request("give fpir or threshold, not both")
    files, fields = await uploads.read_form(request)
    data = uploads.image(files, fields, "file")
    g = caller.gallery

    def work():
        templates, live = _analysed(request.app.state.engine, data)
        # A bystander too small to judge does not refuse the request; it is just never a decision.
        require = request.app.state.settings.require_live
        err = refused(live, require, unjudged=False)
        results = g.identify(templates, k=k, fpir=fpir, threshold=threshold)   # [] for no face
        if require:
            results = [r if lv is None or lv.live else replace(r, decision=None) for r, lv in zip(results, live)]
        rows = [caller.audit("identify", subject=r.decision.subject.name if r.decision else None, image=data,
                             decision=r.decision.subject.name if r.decision else None,
                             score=round(r.candidates[0].score, 6) if r.candidates else None,
                             threshold=round(r.threshold, 6), **live_outcome([lv], err))
                for r, lv in zip(results, live)]
        logged = caller.submit(*(rows or [caller.audit("identify", image=data, faces=0)]))
        return results, live, err, results[0].gallery_size if results else g.size, logged
    results, live, err, size, logged = await run(request, work)
    await durable(logged)
    if err is not None:
        raise err
    out = []
    for r, lv in zip(results, live):
        f = face_out(r.face, lv)
        out.append(IdentifiedFace(
            **f.model_dump(), candidates=[Candidate(subject=m.subject.name, score=m.score, rank=m.rank) for m in r.candidates],
            decision=r.decision.subject.name if r.decision else None,
            decision_score=r.decision.score if r.decision else None, threshold=r.threshold,
            fpir=getattr(r, "fpir", None) if threshold is None else None, masked=r.masked))
    return IdentifyOut(faces=out, gallery_size=size)


# -- subjects -------------------------------------------------------------------------------
@router.get("/subjects", response_model=SubjectList)
async def list_subjects(request: Request, offset: int = Query(0, ge=0, le=2**31), limit: int = Query(100, ge=1, le=1000),
                        q: str | None = Query(None, max_length=200, description="only names containing this (any case)"),
                        caller: Caller = Depends(recognize)) -> SubjectList:
    subjects, total = await run(request, caller.gallery.subject_page, q, offset, limit)
    return SubjectList(subjects=[_subject_out(s) for s in subjects], total=total, offset=offset, limit=limit)


@router.post("/subjects", response_model=SubjectOut, status_code=201)
async def create_subject(request: Request, body: SubjectIn, caller: Caller = Depends(admin)) -> SubjectOut:
    name = body.name.strip()
    if not name:
        raise bad_request("name must not be blank")
    metadata = {**body.metadata, **({"consent": body.consent} if body.consent else {})}

    def work():
        subject = caller.gallery.create_subject(name, metadata)
        caller.record(caller.audit("create_subject", subject=name))
        return subject
    return _subject_out(await run(request, work))


def _subject(gallery, name: str):
    s = gallery.subject(name)
    if s is None:
        raise not_found(f"no subject named {name!r} in this gallery")
    return s


@router.get("/subjects/{name}", response_model=SubjectOut)
async def show_subject(request: Request, name: str, caller: Caller = Depends(recognize)) -> SubjectOut:
    return _subject_out(await run(request, _subject, caller.gallery, name))


@router.patch("/subjects/{name}", response_model=SubjectOut)
async def update_subject(request: Request, name: str, body: SubjectPatch, caller: Caller = Depends(admin)) -> SubjectOut:
    """Rename (409 when the new name is taken) and/or replace the metadata or its consent record."""
    fields = body.model_fields_set - {"name"}
    new = body.name.strip() if body.name is not None else name
    if not new or not (fields or body.name is not None):
        raise bad_request("give a non-blank name, metadata or consent")

    def work():
        g = caller.gallery
        subject = _subject(g, name)
        if new != name:
            subject = g.rename_subject(name, new)
            caller.record(caller.audit("rename", subject=new, old_name=name))
        if fields:
            meta = dict(body.metadata if body.metadata is not None else subject.metadata)
            if "consent" in fields:
                meta.pop("consent", None)
                meta.update({"consent": body.consent} if body.consent else {})
            subject = g.set_metadata(new, meta)
            caller.record(caller.audit("update_subject", subject=new, fields=sorted(fields)))
        return subject
    return _subject_out(await run(request, work))


@router.delete("/subjects/{name}", response_model=Deleted)
async def delete_subject(request: Request, name: str, caller: Caller = Depends(admin)) -> Deleted:
    def work():
        if not delete_subject_of(caller.gallery, name):
            raise not_found(f"no subject named {name!r} in this gallery")
        caller.record(caller.audit("delete_subject", subject=name))
    await run(request, work)
    return Deleted(deleted=True)


# -- examples (templates) ---------------------------------------------------------------------
def enroll_images(request: Request, caller: Caller, name: str, images: list[bytes], metadata=None, force: bool = False):
    """Template each photo (its most prominent face) and enrol the good ones in one transaction;
    photos without a usable face are skipped with the reason (force: masked or low-quality faces too)."""
    eng, g = request.app.state.engine, caller.gallery
    templates, skipped, kept = [], [], []
    for i, data in enumerate(images):
        try:
            templates.append(eng.template(data))
            kept.append(i)
        except FaceprintError as exc:
            skipped.append(Skipped(index=i, code=_code(exc), reason=str(exc)))
    added = []
    if templates:
        try:
            enr = g.enroll(name, templates, metadata=metadata, force=force)
            added, skips = list(enr.added), enr.skipped
        except EnrolmentRefusedError as exc:       # a new subject with nothing to enrol: each photo's reason
            skips = exc.skipped
        for s in skips:
            skipped.append(Skipped(index=kept[s.index], code=s.code, reason=s.reason))
        left_out = {kept[s.index] for s in skips}
        kept = [i for i in kept if i not in left_out]
    caller.record(*[caller.audit("enroll", subject=name, image=images[i], template_id=tid)
                    for i, tid in zip(kept, added)])
    return added, sorted(skipped, key=lambda s: s.index)


@router.post("/subjects/{name}/examples", response_model=ExamplesAdded, status_code=201,
             openapi_extra=image_body("file", many=("file",)))
async def add_examples(request: Request, name: str,
                       force: bool = Query(False, description="enrol masked or low-quality faces too"),
                       caller: Caller = Depends(admin)) -> ExamplesAdded:
    """Add photos of a subject (created if new); one template per photo. Masked or low-quality faces
    are skipped with the reason unless `force`."""
    if not name.strip():
        raise bad_request("subject name must not be blank")
    files, fields = await uploads.read_form(request)
    images = uploads.images(files, fields, "file", many=True)
    if not images:
        raise bad_request("no photos given", "missing_image")
    added, skipped = await run(request, enroll_images, request, caller, name.strip(), images, None, force)
    if not added:
        first = skipped[0]
        raise ServiceError(400, first.code, f"no photo could be enrolled: {first.reason}", 28 if first.code == "no_face" else 26)
    return ExamplesAdded(subject=name.strip(), added=added, skipped=skipped)


@router.get("/subjects/{name}/examples", response_model=ExampleList)
async def list_examples(request: Request, name: str, offset: int = Query(0, ge=0, le=2**31), limit: int = Query(100, ge=1, le=1000),
                        caller: Caller = Depends(recognize)) -> ExampleList:
    def work():
        _subject(caller.gallery, name)
        return caller.gallery.examples(name, offset, limit)
    rows, total = await run(request, work)
    return ExampleList(examples=[ExampleOut(**asdict(r)) for r in rows], total=total)


def delete_subject_of(gallery, name: str) -> bool:
    """Gallery.delete; a deletion whose byte purge waits for another process's open read has
    still happened (the bytes go at the gallery's next write or close)."""
    try:
        return gallery.delete(name)
    except GalleryPurgePendingError:
        return True


def delete_examples(caller: Caller, ids: list[int], subject: str | None = None) -> list[tuple[int, str]]:
    """Delete templates by id (only the subject's when given), log them, and take them out of the
    index file too."""
    done = caller.gallery.delete_examples(ids, subject=subject)
    caller.record(*[caller.audit("delete_example", subject=s, template_id=i) for i, s in done])
    return done


@router.delete("/subjects/{name}/examples/{template_id}", response_model=Deleted)
async def delete_example(request: Request, name: str, template_id: int = Path(ge=1, le=MAX_ID), caller: Caller = Depends(admin)) -> Deleted:
    done = await run(request, delete_examples, caller, [template_id], name)
    if not done:
        raise not_found(f"subject {name!r} has no example {template_id}")
    return Deleted(deleted=True)


# -- bulk -----------------------------------------------------------------------------------------
_BULK_DOC = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "description": "one file field per photo, named by its subject",
                                       "additionalProperties": {"type": "string", "format": "binary"}}},
    "application/json": {"schema": {"type": "object", "required": ["items"], "properties": {"items": {
        "type": "array", "items": {"type": "object", "required": ["subject", "image"], "properties": {
            "subject": {"type": "string"}, "image": {"type": "string", "contentEncoding": "base64"}}}}}}},
}}}


@router.post("/bulk", response_model=BulkOut, openapi_extra=_BULK_DOC)
async def bulk_enroll(request: Request, caller: Caller = Depends(admin)) -> BulkOut:
    """Enrol many photos of many subjects in one request: multipart fields named by subject, or JSON
    items. Returns one result per photo, in order."""
    files, fields = await uploads.read_form(request)
    items: list[tuple[str, bytes]] = []
    if files:
        items = [(subject, data) for subject, datas in files.items() for data in datas]
    else:
        raw = fields.get("items")
        if not isinstance(raw, list) or not raw:
            raise bad_request("give items: [{subject, image (base64)}, ...] or multipart files named by subject")
        for i, it in enumerate(raw):
            if not isinstance(it, dict) or not isinstance(it.get("subject"), str):
                raise bad_request(f"items[{i}] needs a subject (string) and an image (base64)")
            items.append((it["subject"], uploads._b64(it.get("image"), f"items[{i}].image")))
    by_subject: dict[str, list[int]] = {}
    for i, (subject, _) in enumerate(items):
        by_subject.setdefault(subject.strip(), []).append(i)

    def work():
        results: list[BulkItem | None] = [None] * len(items)
        for subject, idx in by_subject.items():
            if not subject:
                for i in idx:
                    results[i] = BulkItem(index=i, subject=subject, ok=False, code="bad_request", reason="blank subject")
                continue
            added, skipped = enroll_images(request, caller, subject, [items[i][1] for i in idx])
            bad = {s.index: s for s in skipped}
            it = iter(added)
            for j, i in enumerate(idx):
                if j in bad:
                    results[i] = BulkItem(index=i, subject=subject, ok=False, code=bad[j].code, reason=bad[j].reason)
                else:
                    results[i] = BulkItem(index=i, subject=subject, ok=True, template_id=next(it))
        return results
    results = await run(request, work)
    ok = sum(r.ok for r in results)
    return BulkOut(results=results, enrolled=ok, failed=len(results) - ok)


@router.get("/stats", response_model=StatsOut)
async def stats(request: Request, caller: Caller = Depends(recognize)) -> StatsOut:
    def work():
        g = caller.gallery
        s = g.stats()
        threshold = g.threshold_for_fpir(g.default_fpir) if s["subjects"] else None
        return StatsOut(gallery=caller.gallery_name, subjects=s["subjects"], templates=s["templates"],
                        model=s["model"], index=str(s["index"]), indexed=s["indexed"], default_fpir=g.default_fpir,
                        threshold=threshold, calibration=g.population_calibration())
    return await run(request, work)
