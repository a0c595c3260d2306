"""Mask stages: P(masked) of each face (occlusion's classifier) and, for confidently masked
faces, landmarks found again where the detector is steadiest (occlusion.steadied)."""
from __future__ import annotations

import numpy as np

from .. import occlusion
from ..scoring.masks import UNMASK_AT
from .base import FaceWork


class MaskClassifier:
    """P(masked) per face, where the embedder's crop is the 112x112 aligned face it reads."""
    name = "mask"
    after_embedding = False

    def __init__(self):
        self.version = occlusion.classifier_version()

    def run(self, work: FaceWork) -> None:
        readable = bool(work.views) and work.views[0].shape[:2] == (112, 112)
        work.masked = occlusion.mask_probability(work.views) if readable else None


class SteadiedLandmarks:
    """Faces with P(masked) >= UNMASK_AT are re-aligned on steadied landmarks (the Template's face
    then holds those) and re-cropped."""
    name = "steady"
    version = f"{occlusion.STEADY_VERSION}@{UNMASK_AT}"
    after_embedding = False

    def __init__(self, detector, embedder):
        self.detector, self.embedder = detector, embedder

    def run(self, work: FaceWork) -> None:
        if work.masked is None or not np.any(work.masked >= UNMASK_AT):
            return
        work.faces = [occlusion.steadied(self.detector, work.image, f) if p >= UNMASK_AT else f
                      for f, p in zip(work.faces, work.masked)]
        work.crops = self.embedder.crops(work.image, work.faces)
        work.views = [self.embedder.view(c) for c in work.crops]
