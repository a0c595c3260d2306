"""TemplateMaker: turns a batch of listed photos into template rows. The same class runs in this
process (local jobs) and as a Ray Data actor (cluster jobs): only who calls it differs.

Rows in: subject, path, known (the SHA-256s already enrolled for that subject, "\\n"-joined).
Rows out (columns of equal length): subject, path, sha256, status, reason, vector (N, dim) float32,
quality, masked (NaN: not assessed), unmasked, detail (the quality report, JSON), model.
status is "ok" (a template), "already_enrolled" (its SHA-256 is known: not decoded, not embedded),
"no_face" or "unreadable"; a bad photo becomes a row, never an exception."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

import numpy as np

from ..engine import Engine
from ..errors import FaceprintError
from ..imageio import decode, describe

Batch = dict[str, Any]      # column name -> list or numpy array, all of one length


@dataclass(frozen=True)
class EngineSpec:
    """What each template maker builds its Engine from (plain values: they travel to Ray workers):
    the model id (embedder and flip, as Engine.for_model takes it), detector, runtime, precision and
    inference threads."""
    model: str = "sface"
    detector: str = "yunet"
    runtime: str | None = None
    precision: str = "fp32"
    threads: int | None = None

    @classmethod
    def of(cls, engine: Engine) -> EngineSpec:
        """The spec that makes the same templates as `engine`."""
        return cls(model=engine.model_id, detector=engine.detector.name, runtime=engine.runtime,
                   precision=engine.precision, threads=engine.threads)

    def build(self) -> Engine:
        return Engine.for_model(self.model, detector=self.detector, runtime=self.runtime, precision=self.precision,
                                threads=self.threads)


@dataclass
class _Photo:
    subject: str
    path: str
    sha256: str = ""
    image: np.ndarray | None = None
    status: str = "ok"
    reason: str = ""


class TemplateMaker:
    """Loads the Engine once (or takes one already built, in this process); each call makes the templates of one batch of photos (the most
    prominent face of each), reading and decoding them on `decode_threads` threads first."""

    def __init__(self, spec: EngineSpec, decode_threads: int = 2, engine: Engine | None = None):
        self.engine = engine or spec.build()
        self.dim = self.engine.embedder.dim
        self._pool = ThreadPoolExecutor(max_workers=decode_threads)

    def __call__(self, batch: Batch) -> Batch:
        return self.finish(self.prepare(batch))

    def prepare(self, batch: Batch) -> list[_Photo]:
        """Read, hash and decode the batch's photos (a known SHA-256 stops after the hash)."""
        # A subject's rows share one "known" string: each is split into a set once per batch.
        known = {k: set(str(k).split("\n")) - {""} for k in set(batch["known"])}
        rows = zip(batch["subject"], batch["path"], batch["known"])
        return list(self._pool.map(lambda r: self._read(str(r[0]), str(r[1]), known[r[2]]), rows))

    def _read(self, subject: str, path: str, known: set[str]) -> _Photo:
        photo = _Photo(subject, path)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            photo.status, photo.reason = "unreadable", f"{path}: cannot be read ({exc.strerror or exc})"
            return photo
        photo.sha256 = sha256(data).hexdigest()
        if photo.sha256 in known:
            photo.status, photo.reason = "already_enrolled", "this photo is already enrolled for this subject"
            return photo
        try:
            photo.image = decode(data, limits=self.engine.limits)[0]
        except FaceprintError as exc:
            photo.status, photo.reason = "unreadable", str(exc).replace(describe(data), path, 1)
        return photo

    def finish(self, photos: list[_Photo]) -> Batch:
        """Detect and embed the decoded photos in one batched pass; every photo becomes a row."""
        todo = [p for p in photos if p.image is not None]
        made = dict(zip((id(p) for p in todo), self.engine.templates_batch([p.image for p in todo], select="largest")))
        n = len(photos)
        out: Batch = {"subject": [p.subject for p in photos], "path": [p.path for p in photos],
                      "sha256": [p.sha256 for p in photos], "status": [], "reason": [],
                      "vector": np.zeros((n, self.dim), np.float32), "quality": np.zeros(n, np.float32),
                      "masked": np.full(n, np.nan, np.float32), "unmasked": np.zeros(n, bool),
                      "detail": [""] * n, "model": [self.engine.model_id] * n}
        for i, p in enumerate(photos):
            templates = made.get(id(p))
            if templates == []:
                p.status, p.reason = "no_face", f"no face found in {p.path}"
            out["status"].append(p.status)
            out["reason"].append(p.reason)
            if templates:
                t = templates[0]
                out["vector"][i], out["quality"][i], out["unmasked"][i] = t.vector, t.quality, t.unmasked
                out["masked"][i] = np.nan if t.masked is None else t.masked
                out["detail"][i] = json.dumps(t.quality_detail, default=float)
        # Ray Data takes numpy columns; strings as object arrays (no fixed-width copies).
        return {k: v if isinstance(v, np.ndarray) else np.array(v, dtype=object) for k, v in out.items()}
