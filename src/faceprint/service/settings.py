"""One settings object for the service. CLI flags and environment variables map onto it; with
several workers it travels to each worker process as JSON in FACEPRINT_SERVE_SETTINGS."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from ..errors import FaceprintError

ENV = "FACEPRINT_SERVE_SETTINGS"
DEFAULT_GALLERY = "default"
ENROL_POLICIES = ("warn", "strict")


def parse_galleries(specs: list[str]) -> dict[str, str]:
    """["staff.db"] -> {"default": "staff.db"}; ["a=a.db", "b=postgresql://..."] -> by name."""
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, loc = spec.partition("=")
        if not sep or "://" in name or "/" in name or not name.isidentifier():
            name, loc = DEFAULT_GALLERY, spec
        if name in out:
            raise FaceprintError(f"gallery {name!r} is given twice; name each one: --gallery NAME=PATH")
        out[name] = loc
    if not out:
        raise FaceprintError("give at least one --gallery PATH (or NAME=PATH)")
    return out


@dataclass
class Settings:
    galleries: dict[str, str] = field(default_factory=dict)   # name -> SQLite path or postgresql:// URL
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    index: str = "Flat"
    detector: str = "yunet"
    embedder: str | None = None    # model id; None: the one the served galleries hold (check()), else sface
    encryption_key_file: str | None = None
    max_upload_bytes: int = 10 * 2**20
    max_pending: int = 64          # requests waiting for the engine per worker before 503
    engine_threads: int = 1        # requests computing at once per worker (models run one at a time)
    threads: int | None = None     # OpenCV threads per worker; None: the machine's cores shared among the workers
    default_fpir: float = 0.001
    # CompreFace routes: "warn" enrols any detected face (quality and a warning in the answer), as
    # CompreFace does; "strict" refuses masked or low-quality photos, saying which.
    enrol_policy: str = "warn"
    # Native detect/verify/identify: each face's liveness block (off: --no-liveness); require_live:
    # verify/identify refuse a face judged a presentation attack (422 presentation_attack).
    liveness: bool = True
    require_live: bool = False

    def __post_init__(self):
        if self.enrol_policy not in ENROL_POLICIES:
            raise FaceprintError(f"enrol policy must be one of {', '.join(ENROL_POLICIES)}, not {self.enrol_policy!r}")
        if self.require_live and not self.liveness:
            raise FaceprintError("--require-live needs liveness: leave out --no-liveness")

    @classmethod
    def from_env(cls) -> "Settings":
        """FACEPRINT_SERVE_SETTINGS (JSON) first; then single FACEPRINT_* variables override."""
        raw = json.loads(os.environ.get(ENV, "{}"))
        s = cls(**raw)
        if os.environ.get("FACEPRINT_GALLERY"):
            s.galleries = parse_galleries(os.environ["FACEPRINT_GALLERY"].split(","))
        if os.environ.get("FACEPRINT_ENCRYPTION_KEY_FILE"):
            s.encryption_key_file = os.environ["FACEPRINT_ENCRYPTION_KEY_FILE"]
        if os.environ.get("FACEPRINT_MAX_UPLOAD_BYTES"):
            s.max_upload_bytes = int(os.environ["FACEPRINT_MAX_UPLOAD_BYTES"])
        return s

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    def encryption_key(self) -> bytes | None:
        if not self.encryption_key_file:
            return None
        from ..gallery.crypto import load_key
        return load_key(self.encryption_key_file)
