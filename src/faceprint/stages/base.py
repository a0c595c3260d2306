"""What a face stage is: one named, versioned step between detection and the Template, run by
the Engine in order on a FaceWork record (insightface-style: each step adds to the record)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..types import Face


@dataclass(eq=False)
class FaceWork:
    """One photo's faces on their way to templates: built by the Engine from its inputs (which it
    never changes) and filled in by the embedder and the stages."""
    image: np.ndarray
    faces: list[Face]
    source: str | None
    crops: list = field(default_factory=list)           # the embedder's aligned crop per face
    views: list[np.ndarray] = field(default_factory=list)   # the image of each crop stages read
    masked: np.ndarray | None = None                    # P(masked) per face; None: not assessed
    vectors: list[np.ndarray] = field(default_factory=list)
    norms: list[float] = field(default_factory=list)     # raw embedding norms
    quality: list[float] = field(default_factory=list)
    detail: list[dict[str, float]] = field(default_factory=list)
    unmasked: list[bool] = field(default_factory=list)


def reported_p_masked(p: float) -> float:
    """P(masked) as templates carry and report it (3 decimals); decisions read this value."""
    return round(float(p), 3)


class FaceStage(Protocol):
    """name and version go into the template cache key; after_embedding: whether the stage reads
    the embeddings (it then runs after the embedder)."""
    name: str
    version: str
    after_embedding: bool

    def run(self, work: FaceWork) -> None: ...
