"""Face embedding: the Embedder protocol, the factory, and the batch embedding shared by all models."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .. import models
from ..modelid import ModelId
from ..types import Face


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int
    spec: models.ModelSpec | None   # the manifest entry; None for a bring-your-own .onnx file

    def crops(self, image: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        """The model's canonical aligned crop of each face (the model decides how it aligns)."""
        ...

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """(N, dim) float32 embeddings of N crops, not necessarily normalised."""
        ...

    def view(self, crop) -> np.ndarray:
        """The image of one crop that quality and the mask classifier read (a fused model's crop
        holds one per part model)."""
        ...


def create_embedder(name: str = "sface", *, precision: str = "fp32", **kwargs) -> Embedder:
    """An embedder by registry name, "+"-joined fusion of registry names, or .onnx file path.
    precision "int8": the model's int8 file (models.variant), under the model's own name: its
    templates are interchangeable with the fp32 ones (bench/precision.py)."""
    if precision != "fp32":
        embedder = models.variant(name, precision).create(**kwargs)
        embedder.name = name
        return embedder
    if name.endswith(".onnx"):
        from .onnx_generic import OnnxEmbedder
        return OnnxEmbedder.from_path(name, **kwargs)
    parts = ModelId(name).parts
    if len(parts) > 1 and name not in models.manifest():
        # A fusion without a manifest entry: equal weights, and no calibrated threshold.
        from .fused import Fused
        return Fused(parts=list(parts), **kwargs)
    return models.get(name, task="embed").create(**kwargs)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def embed_crops(embedder: Embedder, crops: list[np.ndarray], *, flip: bool = False) -> np.ndarray:
    """Normalised (N, dim) templates; with flip, the mirror image's embedding is added before normalising
    (test-time augmentation: one extra forward pass per face, in the same batch)."""
    return embed_crops_and_norms(embedder, crops, flip=flip)[0]


def embed_crops_and_norms(embedder: Embedder, crops: list[np.ndarray], *,
                          flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """embed_crops plus each raw embedding's norm before normalising (a face quality signal: low
    for faces the model finds hard)."""
    if not crops:
        return np.zeros((0, embedder.dim), np.float32), np.zeros(0, np.float32)
    if not flip:
        raw = embedder.embed_crops(crops)
        return l2_normalise(raw), np.linalg.norm(raw, axis=1)
    both = embedder.embed_crops(crops + [np.ascontiguousarray(c[:, ::-1]) for c in crops])
    n = len(crops)
    return l2_normalise(l2_normalise(both[:n]) + l2_normalise(both[n:])), np.linalg.norm(both[:n], axis=1)


def embed(embedder: Embedder, image: np.ndarray, faces: list[Face], *, flip: bool = False) -> np.ndarray:
    return embed_crops(embedder, embedder.crops(image, faces), flip=flip)
