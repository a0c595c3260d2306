"""The quality stage: each face's quality score and its detail (quality.assess)."""
from __future__ import annotations

from .. import quality
from .base import FaceWork

# Bump when quality.assess changes what it records (q3: P(masked)).
QUALITY_VERSION = "q3"


class QualityAssessor:
    name = "quality"
    after_embedding = True

    def __init__(self, norm_range: list[float] | tuple[float, float] | None):
        self.norm_range = norm_range      # the model's (useless, good) embedding norms; None: not used
        self.version = QUALITY_VERSION + (f":norm={norm_range[0]},{norm_range[1]}" if norm_range else "")

    def run(self, work: FaceWork) -> None:
        work.quality, work.detail = [], []
        for k, (face, view, norm) in enumerate(zip(work.faces, work.views, work.norms)):
            p = None if work.masked is None else float(work.masked[k])
            q, detail = quality.assess(face, view if p is not None else None,
                                       norm=float(norm) if self.norm_range else None,
                                       norm_range=self.norm_range, masked=p)
            work.quality.append(q)
            work.detail.append(detail)
