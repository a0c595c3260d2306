"""dlib's ResNet face descriptor (the model behind the face_recognition library).

dlib aligns with its own 5-point shape predictor (eye corners + nose base) rather than YuNet's
landmarks, so the crop is dlib's 150 px chip. The predictor is seeded with a box shaped like
dlib's HOG detector box, derived from the YuNet box.
"""
from __future__ import annotations

import threading

import numpy as np

from ..models import ModelSpec
from ..types import Face


class DlibResNet:
    def __init__(self, spec: ModelSpec, *, runtime: str | None = None, threads: int | None = None):
        # dlib runs its own single-threaded CPU code: runtime and threads do not apply.
        import dlib

        self._dlib = dlib
        self.name = spec.name
        self.spec = spec
        self.dim = int(spec.dim or 128)
        self._predictor = dlib.shape_predictor(str(spec.path("predictor")))
        self._net = dlib.face_recognition_model_v1(str(spec.path("weights")))
        self._lock = threading.Lock()

    def _rect(self, face: Face):
        x, y, w, h = (float(v) for v in face.box)
        side = 0.8 * max(w, h)
        cx, cy = x + w / 2, y + h / 2 + 0.05 * h
        return self._dlib.rectangle(round(cx - side / 2), round(cy - side / 2),
                                    round(cx + side / 2), round(cy + side / 2))

    def crops(self, image: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        chips = []
        for f in faces:
            shape = self._predictor(rgb, self._rect(f))
            chips.append(np.asarray(self._dlib.get_face_chip(rgb, shape, size=150, padding=0.25)))
        return chips

    def view(self, crop: np.ndarray) -> np.ndarray:
        return crop

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            out = self._net.compute_face_descriptor([np.ascontiguousarray(c) for c in crops])
        return np.asarray([np.asarray(v) for v in out], np.float32)
