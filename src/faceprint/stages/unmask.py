"""The unmasking stage: a confidently masked face's template mapped towards its clean face's
(scoring.masks.unmask); the Template says so (Template.unmasked) and its scores are equalised."""
from __future__ import annotations

from ..modelid import ModelId
from ..scoring import masks
from .base import FaceWork, reported_p_masked


class Unmasking:
    name = "unmask"
    after_embedding = True

    def __init__(self, model: ModelId):
        self.model = model
        self.version = masks.unmasking_version(model)   # None: the model has no map (stage unused)

    def run(self, work: FaceWork) -> None:
        work.unmasked = [False] * len(work.vectors)
        if work.masked is None:
            return
        for k, p in enumerate(work.masked):
            mapped = masks.unmask(work.vectors[k], self.model, reported_p_masked(p))
            if mapped is not None:
                work.vectors[k], work.unmasked[k] = mapped, True
