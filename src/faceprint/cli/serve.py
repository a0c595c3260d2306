"""`faceprint serve`: the REST API (native + CompreFace-compatible) and web page. What it does lives
in service/serve.py; this module only parses."""
from __future__ import annotations

from .common import add_command, positive_int


def register(sub, parents) -> None:
    sp = add_command(sub, parents, "serve", "run the REST API (native + CompreFace-compatible) and web page", run)
    sp.add_argument("--gallery", action="append", required=True, metavar="[NAME=]PATH",
                    help="SQLite file or postgresql:// URL; repeat as NAME=PATH to serve several galleries")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=positive_int, default=8000)
    sp.add_argument("--workers", type=positive_int, default=1, help="worker processes (each loads the models once)")
    sp.add_argument("--index", default="Flat", help="FAISS factory string (default: Flat = exact)")
    sp.add_argument("--encryption-key-file", default=None,
                    help="key for templates encrypted at rest (or FACEPRINT_ENCRYPTION_KEY_FILE)")
    sp.add_argument("--max-upload-mb", type=float, default=10, help="largest request body in MiB (default 10)")
    sp.add_argument("--max-pending", type=positive_int, default=64, help="queued requests per worker before 503")
    sp.add_argument("--enrol-policy", choices=("warn", "strict"), default="warn",
                    help="CompreFace routes: warn (default) enrols any detected face and says in the answer when its "
                         "quality is low or it is masked, as CompreFace does; strict refuses those photos, naming why")
    live = sp.add_mutually_exclusive_group()
    live.add_argument("--require-live", action="store_true",
                      help="native /v1/verify and /v1/identify refuse a face judged a presentation attack "
                           "(422, code presentation_attack)")
    live.add_argument("--no-liveness", action="store_true",
                      help="skip the liveness block of /v1/detect, /v1/verify, /v1/identify (saves a few ms per face)")


def run(args) -> int:
    from ..service import serve
    settings = serve.settings_from_args(args)
    serve.check(settings)
    serve.run(settings)
    return 0
