"""Pydantic request/response models, so /openapi.json describes every route completely."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Error(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. no_face, unknown_key")
    message: str = Field(description="what went wrong and what to do about it")


class CFError(BaseModel):
    message: str
    code: int
    reason: str | None = Field(default=None, description="why an enrolment was refused: low_quality, masked, "
                                                         "duplicate or near_duplicate (absent on other errors)")


# -- native ---------------------------------------------------------------------------------
class LivenessOut(BaseModel):
    score: float = Field(description="P(live) in [0, 1]: the two MiniFASNet models fused")
    live: bool = Field(description="score >= threshold (false too for a face too small to judge)")
    threshold: float = Field(description="the threshold in force (shipped: fitted for BPCER 1%)")
    models: dict[str, float] = Field(description="each model's own P(live)")
    reason: str | None = Field(None, description="why the face was not judged (too small), else null")


class FaceOut(BaseModel):
    box: list[float] = Field(description="x, y, width, height in pixels")
    landmarks: list[list[float]] = Field(description="5 points: right eye, left eye, nose, mouth corners")
    score: float = Field(description="detector confidence in [0, 1]")
    liveness: LivenessOut | None = Field(None, description="live person or presentation attack; null when the "
                                                            "server runs with --no-liveness")


class DetectOut(BaseModel):
    faces: list[FaceOut]


class VerifyLiveness(BaseModel):
    a: LivenessOut
    b: LivenessOut


class VerifyOut(BaseModel):
    score: float
    threshold: float
    same: bool
    model: str
    liveness: VerifyLiveness | None = Field(None, description="each compared face's liveness; null when the "
                                                               "server runs with --no-liveness")


class Candidate(BaseModel):
    subject: str
    score: float
    rank: int


class IdentifiedFace(FaceOut):
    candidates: list[Candidate]
    decision: str | None = Field(description="the enrolled subject, or null: not enrolled")
    decision_score: float | None
    threshold: float = Field(description="the score threshold the decision used")
    fpir: float | None = Field(description="the false-positive identification rate the threshold targets "
                                           "(null when a raw threshold was given)")
    masked: bool | None = Field(default=None, description="the face wears a mask (recognition is weaker; the "
                                                           "false-match rate still holds)")


class IdentifyOut(BaseModel):
    faces: list[IdentifiedFace]
    gallery_size: int


class SubjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    consent: str | None = Field(default=None, max_length=2000, description="consent record kept with the subject")


class SubjectOut(BaseModel):
    id: int
    name: str
    metadata: dict[str, Any]
    created: str
    updated: str
    templates: int


class SubjectList(BaseModel):
    subjects: list[SubjectOut]
    total: int
    offset: int
    limit: int


class SubjectPatch(BaseModel):
    """Rename and/or replace metadata; at least one field."""
    name: str | None = Field(default=None, min_length=1, max_length=200, description="the new name")
    metadata: dict[str, Any] | None = Field(default=None, description="replaces the subject's metadata")
    consent: str | None = Field(default=None, max_length=2000, description="sets metadata.consent; null clears it")


class ExampleOut(BaseModel):
    id: int
    subject: str
    quality: float | None
    source_sha256: str | None
    created: str


class ExampleList(BaseModel):
    examples: list[ExampleOut]
    total: int


class Skipped(BaseModel):
    index: int
    code: str
    reason: str


class ExamplesAdded(BaseModel):
    subject: str
    added: list[int]
    skipped: list[Skipped]


class BulkItem(BaseModel):
    index: int
    subject: str
    ok: bool
    template_id: int | None = None
    code: str | None = None
    reason: str | None = None


class BulkOut(BaseModel):
    results: list[BulkItem]
    enrolled: int
    failed: int


class Deleted(BaseModel):
    deleted: bool


class ObservedFmrOut(BaseModel):
    threshold: float | None
    fmr_target: float | None = Field(description="the FMR per comparison the threshold was set for")
    fmr_observed: float | None = Field(description="the FMR among this gallery's own subjects (null: too few)")
    pairs: int = Field(description="non-mated pairs of enrolled subjects the observation rests on")
    false_matches: int | None


class CalibrationOut(BaseModel):
    subjects: int
    templates: int = Field(description="templates scored")
    sampled: bool = Field(description="true: a uniform sample of the gallery's templates (large gallery)")
    duplicate_subject_pairs: int = Field(description="subject pairs left out as one person enrolled twice")
    one_to_one: ObservedFmrOut
    open_set: ObservedFmrOut


class StatsOut(BaseModel):
    gallery: str
    subjects: int
    templates: int
    model: str | None
    index: str
    indexed: int
    default_fpir: float = Field(description="the FPIR identify targets when none is given")
    threshold: float | None = Field(description="the score threshold that FPIR gives at this gallery's size "
                                                "(null: empty gallery)")
    calibration: CalibrationOut | None = Field(None, description="observed FMR among the enrolled subjects "
                                               "at the 1:1 threshold and at the open-set one in force")


# -- the caller, keys and the audit log (admin) ---------------------------------------------------
class Me(BaseModel):
    key_id: str
    role: str
    gallery: str


class AuditRow(BaseModel):
    id: int
    ts: str
    key_id: str | None
    action: str
    subject: str | None
    image_sha256: str | None
    outcome: dict[str, Any]
    client: str | None


class AuditPage(BaseModel):
    rows: list[AuditRow] = Field(description="newest first")
    total: int = Field(description="rows matching the filters")


class KeyOut(BaseModel):
    id: str
    role: str
    name: str
    created: str
    revoked: str | None


class KeyList(BaseModel):
    keys: list[KeyOut]


class KeyIn(BaseModel):
    role: str = Field(pattern="^(recognize|admin)$")
    name: str = Field(default="", max_length=200)


class KeyCreated(BaseModel):
    key: str = Field(description="the key itself: shown this once, stored only as its hash")
    id: str
    role: str
    name: str


class Revoked(BaseModel):
    revoked: str


class Health(BaseModel):
    status: str
    galleries: list[str]
    model: str
    worker_pid: int = Field(description="the worker process that answered (several run with --workers N)")


# -- CompreFace-compatible ------------------------------------------------------------------
class CFBox(BaseModel):
    probability: float
    x_min: int
    y_min: int
    x_max: int
    y_max: int


class CFSubjectScore(BaseModel):
    subject: str
    similarity: float


class CFMask(BaseModel):
    value: str = Field(description="without_mask or mask_worn_correctly")
    probability: float


class CFFace(BaseModel):
    box: CFBox
    landmarks: list[list[int]] | None = None
    embedding: list[float] | None = None
    mask: CFMask | None = None
    execution_time: dict[str, float] | None = None


class CFRecognized(CFFace):
    subjects: list[CFSubjectScore]


class CFRecognizeOut(BaseModel):
    result: list[CFRecognized]
    plugins_versions: dict[str, str] | None = None


class CFDetectOut(BaseModel):
    result: list[CFFace]
    plugins_versions: dict[str, str] | None = None


class CFFaceVerified(CFFace):
    similarity: float
    subject: str | None = None


class CFFaceVerifyOut(BaseModel):
    result: list[CFFaceVerified]
    plugins_versions: dict[str, str] | None = None


class CFMatch(CFFace):
    similarity: float


class CFVerification(BaseModel):
    source_image_face: CFFace
    face_matches: list[CFMatch]


class CFVerifyOut(BaseModel):
    result: list[CFVerification]
    plugins_versions: dict[str, str] | None = None


class CFExample(BaseModel):
    image_id: str
    subject: str


class CFExampleAdded(CFExample):
    quality: float = Field(description="the face's quality score in [0, 1] (faceprint's; CompreFace clients ignore it)")
    warning: str | None = Field(default=None, description="why this example may recognise worse (low quality, "
                                                          "a mask); absent when there is nothing to say")


class CFFaceList(BaseModel):
    faces: list[CFExample]
    page_number: int
    page_size: int
    total_pages: int
    total_elements: int


class CFDeletedCount(BaseModel):
    deleted: int


class CFSubjectBody(BaseModel):
    subject: str = Field(min_length=1, max_length=200)


class CFSubjects(BaseModel):
    subjects: list[str]


class CFUpdated(BaseModel):
    updated: bool


# -- request bodies read by hand (multipart or base64 JSON), described for OpenAPI -------------
def image_body(*names: str, many: tuple[str, ...] = (), text: tuple[str, ...] = ()) -> dict:
    """openapi_extra for a route that takes images as multipart files or base64 strings in JSON."""
    def binary(n):
        return {"type": "array", "items": {"type": "string", "format": "binary"}} if n in many \
            else {"type": "string", "format": "binary"}

    def b64(n):
        return {"type": "array", "items": {"type": "string", "contentEncoding": "base64"}} if n in many \
            else {"type": "string", "contentEncoding": "base64"}
    extra = {n: {"type": "string"} for n in text}
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": list(names),
                                           "properties": {**{n: binary(n) for n in names}, **extra}}},
        "application/json": {"schema": {"type": "object", "required": list(names),
                                        "properties": {**{n: b64(n) for n in names}, **extra}}},
    }}}
