"""Reading images out of a request: multipart/form-data files, or JSON with base64 strings
(CompreFace accepts {"file": "<base64>"} too). Also the ASGI middleware that caps the body size,
which works for chunked uploads without Content-Length as well."""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from .errors import ServiceError, bad_request


def _b64(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise bad_request(f"{field} must be a non-empty base64 string", "bad_image")
    if value.startswith("data:") and "," in value:        # a data: URL from a browser
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"{field} is not valid base64", "bad_image") from None


async def read_form(request: Request) -> tuple[dict[str, list[bytes]], dict[str, Any]]:
    """(files by field name, other fields) from a multipart form or a JSON object whose string
    values under image fields are base64."""
    ctype = request.headers.get("content-type", "")
    files: dict[str, list[bytes]] = {}
    fields: dict[str, Any] = {}
    if ctype.startswith("multipart/form-data") or ctype.startswith("application/x-www-form-urlencoded"):
        try:
            form = await request.form(max_files=1000, max_fields=1000, max_part_size=request.app.state.settings.max_upload_bytes)
        except ServiceError:
            raise
        except Exception as exc:    # python-multipart's parse errors: the client's malformed body
            raise bad_request(f"malformed form data: {str(exc)[:200]}", "bad_form") from None
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.setdefault(key, []).append(await value.read())
            else:
                fields[key] = value
        return files, fields
    if ctype.startswith("application/json"):
        try:
            body = json.loads(await request.body() or b"null")
        except (ValueError, UnicodeDecodeError):
            raise bad_request("the body is not valid JSON", "bad_json") from None
        if not isinstance(body, dict):
            raise bad_request("the JSON body must be an object", "bad_json")
        return {}, body
    raise ServiceError(415, "unsupported_media_type",
                       "send multipart/form-data (a file field) or application/json (base64 image)", 26)


def images(files: dict[str, list[bytes]], fields: dict[str, Any], name: str, *, many: bool = False) -> list[bytes]:
    """The image(s) under field `name`: uploaded files, or base64 strings in JSON."""
    if name in files:
        out = files[name]
    elif name in fields:
        val = fields[name]
        vals = val if (many and isinstance(val, list)) else [val]
        out = [_b64(v, name) for v in vals]
    else:
        raise bad_request(f"no image given: send it as the {name!r} field (multipart file or base64 in JSON)",
                          "missing_image")
    if not many and len(out) != 1:
        raise bad_request(f"give exactly one {name!r} image", "bad_request")
    return out


def image(files, fields, name: str) -> bytes:
    return images(files, fields, name)[0]


class BodyLimit:
    """Pure ASGI middleware: a body over `limit` bytes is answered 413 before the app parses it,
    whether the client sent Content-Length or streamed chunks."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers.get(b"content-length", b"-1"))
        except ValueError:
            declared = -1
        if declared > self.limit:
            return await self._too_large(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunks.append(msg.get("body", b""))
            size += len(chunks[-1])
            more = msg.get("more_body", False)
            if size > self.limit:
                return await self._too_large(scope, receive, send)
        body, sent = b"".join(chunks), False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()
        await self.app(scope, replay, send)

    async def _too_large(self, scope, receive, send):
        compreface = scope.get("path", "").startswith("/api/v1/")
        msg = f"the upload is larger than the server's limit of {self.limit / 2**20:g} MiB"
        body = json.dumps({"message": msg, "code": 26} if compreface else {"code": "too_large", "message": msg}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
