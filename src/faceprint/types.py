"""Typed records that flow through the pipeline: Face -> Template -> Match / Verification."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

MASKED_AT = 0.5           # P(masked) from which a face counts as masked


@dataclass(frozen=True)
class Face:
    """One detected face in image pixel coordinates.

    box: (x, y, w, h); landmarks: (5, 2) right eye, left eye, nose tip, right and left mouth corner
    (the subject's right/left, YuNet order); score: detector confidence in [0, 1].
    """

    box: np.ndarray
    landmarks: np.ndarray
    score: float

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])

    @property
    def center(self) -> tuple[float, float]:
        x, y, w, h = (float(v) for v in self.box)
        return x + w / 2, y + h / 2

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [round(float(v), 1) for v in self.box],
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
            "score": round(float(self.score), 4),
        }


@dataclass(frozen=True)
class Template:
    """A normalised embedding of one face, tagged with the model that made it (a str ModelId).

    masked: P(masked) of the face, 3 decimals (None: not assessed); unmasked: the vector was mapped
    towards the clean face's (scoring.masks.unmask), so its scores are equalised when compared.
    quality_detail is a report for people (quality.explain), never read to decide how to score."""

    vector: np.ndarray
    model: str
    quality: float = 1.0
    face: Face | None = None
    quality_detail: dict[str, float] = field(default_factory=dict)
    source: str | None = None      # SHA-256 of the encoded photo it came from (None for raw arrays)
    masked: float | None = None
    unmasked: bool = False

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])

    @property
    def is_masked(self) -> bool | None:
        """Whether the face wears a mask; None where it was not assessed."""
        return None if self.masked is None else bool(self.masked >= MASKED_AT)


@dataclass(frozen=True)
class Subject:
    """An enrolled person: the gallery's row, with how many templates it holds."""

    id: int
    name: str
    metadata: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    updated: str = ""
    templates: int = 0


@dataclass(frozen=True)
class Verification:
    """The answer to "are these two faces the same person?"."""

    score: float
    threshold: float
    same: bool
    model: str

    def to_dict(self) -> dict[str, Any]:
        return {"score": round(self.score, 6), "threshold": self.threshold, "same": self.same,
                "model": self.model}


@dataclass(frozen=True)
class Match:
    """One ranked candidate of a 1:N search."""

    subject: Subject
    score: float
    rank: int
    decision: bool | None = None     # None: a plain search, which decides nothing


@dataclass(frozen=True)
class Identification:
    """The 1:N answer for one face of a probe photo: ranked candidates and the open-set decision
    (the top candidate if it passes the threshold, else None: "not enrolled")."""

    face: Face | None
    candidates: list[Match]
    decision: Match | None
    threshold: float
    fpir: float | None = None        # the target FPIR the threshold was derived from (None: raw threshold)
    gallery_size: int = 0            # enrolled subjects the FPIR threshold assumed
    masked: bool | None = None       # the probe face wears a mask (None: not assessed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "face": self.face.to_dict() if self.face else None,
            "candidates": [{"subject": m.subject.name, "score": round(m.score, 6), "rank": m.rank}
                           for m in self.candidates],
            "decision": self.decision.subject.name if self.decision else None,
            "score": round(self.decision.score, 6) if self.decision else None,
            "threshold": round(self.threshold, 6),
            "fpir": self.fpir,
            "gallery_size": self.gallery_size,
            "masked": self.masked,
        }
