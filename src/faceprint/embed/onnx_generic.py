"""ONNX embedders on an aligned crop, run by any runtime (faceprint.runtime): SFace from the
registry, or bring your own (e.g. an insightface ArcFace file the user owns).

Defaults follow insightface's recognition models: RGB, (x - 127.5) / 127.5, NCHW, 112x112 crop.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..align import align
from ..errors import ModelNotFoundError
from ..models import ModelSpec, cards
from ..runtime import Session, prepare_onnx
from ..types import Face
from ..util import sha256

# Crops per forward pass: large enough to amortise per-call overhead, small enough to stay in cache.
BATCH = 32


class OnnxEmbedder:
    def __init__(self, path: str | Path, *, mean: float = 127.5, std: float = 127.5, rgb: bool = True,
                 crop: str = "arcface-112", runtime: str | None = None, threads: int | None = None,
                 name: str | None = None, spec: ModelSpec | None = None):
        # OpenVINO may compute in bf16 here (its default on CPUs with native bf16): for SFace that
        # halves the time at equal LFW accuracy, and a bf16 template scores >= 0.996 against the
        # f32 one of the same photo (README, "Default models").
        self.session = Session(path, runtime=runtime, threads=threads)
        self.runtime = self.session.runtime
        h, w = self.session.input_shape[2:4]
        self.size = (w or 112, h or 112)
        self.dim = int(self.session.run(np.zeros((1, 3, self.size[1], self.size[0]), np.float32))[0].size)
        self.name = name or f"onnx:{Path(path).stem}"
        self.spec = spec
        self.mean, self.std, self.rgb, self.crop = mean, std, rgb, crop
        self._batched = True

    @classmethod
    def from_path(cls, path: str, *, card: bool = True, **kwargs) -> OnnxEmbedder:
        """The model in this file; with its model card (models.cards) when one exists and `card`:
        the card's preprocessing, thresholds and quality norm."""
        path = Path(path)
        if not path.is_file():
            raise ModelNotFoundError(f"embedder file {path} not found; pass the path of an .onnx face model")
        found = cards.load(path) if card else None
        if found is not None:
            info, spec = found
            pre = info.get("input", {})
            kwargs = {**{k: pre[k] for k in ("mean", "std", "rgb", "crop") if k in pre}, **kwargs, "spec": spec}
            cards.remember(spec)
        return cls(prepare_onnx(str(path), sha256(path)), name=cards.model_id(path), **kwargs)

    def crops(self, image: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        out = [align(image, f.landmarks, self.crop) for f in faces]
        return [c if c.shape[1::-1] == self.size else cv2.resize(c, self.size) for c in out]

    def view(self, crop: np.ndarray) -> np.ndarray:
        return crop

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        out = []
        for i in range(0, len(crops), BATCH):
            blob = cv2.dnn.blobFromImages(crops[i:i + BATCH], 1.0 / self.std, self.size, (self.mean,) * 3,
                                          swapRB=self.rgb)
            out.append(self._forward(blob))
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)

    def _forward(self, blob: np.ndarray) -> np.ndarray:
        if self._batched or len(blob) == 1:
            try:
                return self.session.run(blob)[0].reshape(len(blob), -1)
            except Exception:
                if len(blob) == 1:
                    raise
                # Some user models fix the batch size inside the graph (e.g. a Reshape to 1 x N).
                self._batched = False
        return np.concatenate([self.session.run(blob[i:i + 1])[0].reshape(1, -1) for i in range(len(blob))])
