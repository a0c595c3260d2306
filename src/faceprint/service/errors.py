"""Error JSON. Native routes answer {"code": "<stable machine code>", "message": "<sentence>"};
CompreFace routes (/api/v1/...) answer CompreFace's {"message": ..., "code": <int>}. Errors map by
exception type: the client's mistakes to 4xx, a busy gallery to 503, a gallery fault to 500."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .. import errors as fe

log = logging.getLogger("faceprint.service")


class ServiceError(Exception):
    """An error answer: HTTP status, native code, CompreFace code, message."""

    def __init__(self, status: int, code: str, message: str, cf_code: int = 0, headers: dict | None = None,
                 cf_fields: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.cf_code, self.headers = status, code, message, cf_code, headers
        self.cf_fields = cf_fields or {}        # extra fields of the CompreFace body (clients ignore them)


def not_found(what: str) -> ServiceError:
    return ServiceError(404, "not_found", what, cf_code=34)


def bad_request(message: str, code: str = "bad_request") -> ServiceError:
    return ServiceError(400, code, message, cf_code=26)


# Most specific first. CompreFace codes: 28 is theirs for "no face"; the others are the nearest of theirs.
_MAP: list[tuple[type[fe.FaceprintError], int, str, int, str | None]] = [
    (fe.NoFaceError, 400, "no_face", 28, "No face is found in the given image"),
    (fe.ImageTooLargeError, 413, "image_too_large", 26, None),
    (fe.ImageError, 400, "bad_image", 26, None),
    (fe.ModelMismatchError, 409, "model_mismatch", 26, None),
    (fe.SubjectExistsError, 409, "subject_exists", 26, None),
    (fe.PresentationAttackError, 422, "presentation_attack", 26, None),   # serve --require-live
    (fe.LivenessError, 400, "bad_image", 26, None),
    (fe.UsageError, 422, "bad_request", 26, None),
    (fe.GalleryBusyError, 503, "busy", 0, None),          # another writer holds the lock: retry
]


def from_faceprint(exc: fe.FaceprintError) -> ServiceError:
    for cls, status, code, cf, msg in _MAP:
        if isinstance(exc, cls):
            return ServiceError(status, code, msg or str(exc), cf, headers={"Retry-After": "1"} if status == 503 else None)
    if isinstance(exc, fe.GalleryError):       # the gallery, not the request: a server-side fault to report
        log.error("gallery error: %s", exc)
        return ServiceError(500, "gallery_error", str(exc), 0)
    return ServiceError(400, "bad_request", str(exc), 26)


def _compreface(request: Request) -> bool:
    return request.url.path.startswith("/api/v1/")


def respond(request: Request, err: ServiceError) -> JSONResponse:
    body = ({"message": err.message, "code": err.cf_code, **err.cf_fields} if _compreface(request)
            else {"code": err.code, "message": err.message})
    return JSONResponse(body, status_code=err.status, headers=err.headers)


_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               413: "too_large", 503: "busy"}


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError):
        return respond(request, exc)

    @app.exception_handler(fe.FaceprintError)
    async def _faceprint(request: Request, exc: fe.FaceprintError):
        return respond(request, from_faceprint(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return respond(request, ServiceError(422, "invalid_request", "; ".join(parts) or "invalid request", 26))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return respond(request, ServiceError(exc.status_code, code, str(exc.detail), 0, getattr(exc, "headers", None)))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return respond(request, ServiceError(500, "internal_error",
                                             "internal error; it was logged for the operator", 0))
