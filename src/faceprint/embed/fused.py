"""Score-level fusion of several embedders, as one embedder.

Z-normalised score averaging, mean_i((s_i - mu_i) / sigma_i), ranks pairs exactly like the weighted
sum sum_i c_i * s_i with c_i proportional to 1 / sigma_i. Scaling each model's unit-norm embedding
by sqrt(c_i) (with sum c_i = 1) and concatenating makes that weighted sum the plain inner product of
two unit-norm fused templates, so verification, thresholds and gallery search (FAISS/Milvus inner
product) all work on fused templates unchanged.
"""
from __future__ import annotations

import numpy as np

from ..models import ModelSpec
from ..types import Face
from . import Embedder, create_embedder, embed_crops


class Fused:
    def __init__(self, spec: ModelSpec | None = None, *, parts: list[str] | None = None,
                 weights: list[float] | None = None, name: str | None = None, runtime: str | None = None,
                 threads: int | None = None):
        self.spec = spec
        parts = parts or spec.extra["parts"]
        weights = weights or (spec.extra.get("weights") if spec else None) or [1.0] * len(parts)
        self.parts: list[Embedder] = [create_embedder(p, runtime=runtime, threads=threads) for p in parts]
        w = np.asarray(weights, np.float64)
        self.weights = w / w.sum()
        self.name = name or (spec.name if spec else "+".join(parts))
        self.dim = sum(p.dim for p in self.parts)

    def crops(self, image: np.ndarray, faces: list[Face]) -> list[tuple[np.ndarray, ...]]:
        per_part = [p.crops(image, faces) for p in self.parts]
        return list(zip(*per_part))

    def view(self, crop: tuple[np.ndarray, ...]) -> np.ndarray:
        """The first part model's crop stands for the face (quality, mask classifier)."""
        return crop[0]

    def embed_crops(self, crops: list[tuple[np.ndarray, ...]]) -> np.ndarray:
        blocks = []
        for j, (part, w) in enumerate(zip(self.parts, self.weights)):
            # Each part embeds as it would alone, flip included where its manifest turns it on.
            flip = bool(part.spec.extra.get("default_flip")) if part.spec else False
            blocks.append(np.sqrt(w) * embed_crops(part, [c[j] for c in crops], flip=flip))
        return np.hstack(blocks).astype(np.float32)

    def part_scores(self, a: np.ndarray, b: np.ndarray) -> list[float]:
        """Each model's own cosine similarity, recovered from two fused templates."""
        out, start = [], 0
        for part, w in zip(self.parts, self.weights):
            sl = slice(start, start + part.dim)
            out.append(float(a[sl] @ b[sl] / w))
            start += part.dim
        return out
