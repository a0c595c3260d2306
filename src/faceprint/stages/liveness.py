"""Passive liveness (presentation-attack detection) of each face in one BGR photo: the two MiniFASNet
models of Silent-Face-Anti-Spoofing, each on its own crop around the detector's box, as upstream
runs them. A face's score fuses the two models' P(live) by the mean of their log-odds (upstream sums
the softmaxes instead; the log-odds mean needs both models to agree, and rejected more simulated
replays at the same BPCER: README, "Liveness"). It is judged live at the shipped threshold, chosen
for a stated BPCER (manifest entry "minifasnet").
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from .. import models
from ..errors import LivenessError
from ..runtime import Session
from ..types import Face

SIZE = 80                 # both models read 80x80 crops
LIVE_CLASS = 1            # upstream's classes: 0 print attack, 1 live, 2 replay attack
# A face narrower than this is not judged (its crop would be mostly upsampling): it counts as not live.
MIN_FACE_PX = 32
MIN_IMAGE_PX = 16


@dataclass(frozen=True)
class LivenessResult:
    """One face's passive liveness: score = P(live) in [0, 1] (the models' fused), live = score >=
    threshold; models: each model's own P(live); reason: why the face was not judged (else None);
    face: the face it is about."""

    score: float
    live: bool
    threshold: float
    models: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    face: Face | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `liveness` block of JSON answers (the face's box goes beside it, not in it)."""
        return {"score": round(self.score, 4), "live": self.live, "threshold": round(self.threshold, 5),
                "models": {k: round(v, 4) for k, v in self.models.items()}, "reason": self.reason}


def crop_box(w: int, h: int, box: Sequence[float], scale: float) -> tuple[int, int, int, int]:
    """Upstream's crop (CropImage._get_new_box): `scale` x the box about its centre, shrunk to fit
    the image and shifted inside it; (x0, y0, x1, y1) inclusive."""
    bx, by, bw, bh = (float(v) for v in box)
    scale = min((h - 1) / bh, (w - 1) / bw, scale)
    cx, cy = bx + bw / 2, by + bh / 2
    x0, x1 = cx - bw * scale / 2, cx + bw * scale / 2
    y0, y1 = cy - bh * scale / 2, cy + bh * scale / 2
    if x0 < 0:
        x1, x0 = x1 - x0, 0.0
    if y0 < 0:
        y1, y0 = y1 - y0, 0.0
    if x1 > w - 1:
        x0, x1 = x0 - (x1 - w + 1), w - 1.0
    if y1 > h - 1:
        y0, y1 = y0 - (y1 - h + 1), h - 1.0
    return int(x0), int(y0), int(x1), int(y1)


def crop(image: np.ndarray, box: Sequence[float], scale: float) -> np.ndarray:
    """The 80x80 BGR crop a model reads."""
    x0, y0, x1, y1 = crop_box(image.shape[1], image.shape[0], box, scale)
    return cv2.resize(image[y0:y1 + 1, x0:x1 + 1], (SIZE, SIZE))


def fuse(per_model: np.ndarray, clip: float = 1e-6) -> np.ndarray:
    """One score per row of (faces, models) P(live): the mean of the log-odds, as a probability
    (clipped first, so one model's 0 or 1 stays finite)."""
    p = np.clip(np.asarray(per_model, np.float64), clip, 1 - clip)
    z = np.log(p / (1 - p)).mean(axis=-1)
    return 1 / (1 + np.exp(-z))


def p_live(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e[:, LIVE_CLASS] / e.sum(axis=1)


class MiniFASNet:
    """One MiniFASNet model: P(live) of faces, each cropped at the model's scale."""

    def __init__(self, spec: models.ModelSpec, *, runtime: str | None = None, threads: int | None = None):
        self.name = spec.name
        self.spec = spec
        self.scale = float(spec.extra["crop_scale"])
        # f32 everywhere: the shipped threshold is fitted on f32 scores.
        self.session = Session(spec.onnx(), runtime=runtime, threads=threads, exact=True)
        self.runtime = self.session.runtime

    def crops(self, image: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        return [crop(image, f.box, self.scale) for f in faces]

    def logits(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        x = np.stack([c.transpose(2, 0, 1) for c in crops]).astype(np.float32)
        return self.session.run(x)[0]

    def p_live(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        return p_live(self.logits(self.crops(image, faces)))


class PassiveLiveness:
    """The liveness face stage: a LivenessResult per face of a BGR photo.

    threshold: None uses the shipped one (manifest "minifasnet", fitted for a stated BPCER);
    runtime / threads: as for the other models (faceprint.runtime)."""

    name = "liveness"
    after_embedding = False

    def __init__(self, spec: models.ModelSpec | None = None, *, runtime: str | None = None,
                 threads: int | None = None, threshold: float | None = None):
        self.spec = spec or models.get("minifasnet", task="liveness")
        self.parts = [models.get(p, task="liveness").create(runtime=runtime, threads=threads)
                      for p in self.spec.extra["parts"]]
        shipped = self.spec.thresholds["bpcer"]
        self.threshold, self.target_bpcer = float(shipped["value"]), float(shipped["bpcer"])
        if threshold is not None:
            self.set_threshold(threshold)
        self.runtime = self.parts[0].runtime
        self.version = "+".join(f"{p.name}@{p.scale:g}" for p in self.parts) + "/mean-log-odds"

    def set_threshold(self, threshold: float) -> None:
        """Decide at this threshold instead of the shipped one (its BPCER is then unknown)."""
        if not 0.0 <= float(threshold) <= 1.0:
            raise LivenessError(f"liveness threshold {threshold} is outside [0, 1]")
        self.threshold, self.target_bpcer = float(threshold), None

    def scores(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """(faces, models) P(live) of each model; (0, models) for no face. fuse() makes the score."""
        if not faces:
            return np.zeros((0, len(self.parts)), np.float32)
        _check_input(image, faces)
        return np.stack([p.p_live(image, faces) for p in self.parts], axis=1)

    def assess(self, image: np.ndarray, faces: Sequence[Face]) -> list[LivenessResult]:
        """A LivenessResult per face (same order); faces narrower than MIN_FACE_PX are not judged live."""
        per_model = self.scores(image, faces)
        return [self.result(row, face) for row, face in zip(per_model, faces)]

    def result(self, per_model: np.ndarray, face: Face | None = None) -> LivenessResult:
        score = float(fuse(per_model))
        named = {p.name: float(s) for p, s in zip(self.parts, per_model)}
        if face is not None and min(face.box[2], face.box[3]) < MIN_FACE_PX:
            return LivenessResult(score, False, self.threshold, named,
                                  f"face is {min(face.box[2], face.box[3]):.1f} px wide, under the "
                                  f"{MIN_FACE_PX} px needed to judge liveness: move closer to the camera", face)
        return LivenessResult(score, score >= self.threshold, self.threshold, named, face=face)


def _check_input(image: np.ndarray, faces: Sequence[Face]) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        raise LivenessError(f"liveness needs a BGR uint8 image of shape (h, w, 3), got {shape}")
    if min(image.shape[:2]) < MIN_IMAGE_PX:
        raise LivenessError(f"the image is {image.shape[1]}x{image.shape[0]} px; liveness needs at least "
                            f"{MIN_IMAGE_PX} px on each side")
    for f in faces:
        if not (f.box[2] > 0 and f.box[3] > 0):
            raise LivenessError(f"face box {[float(v) for v in f.box]} is empty: pass the detector's faces")


# Track decisions: frames' scores are clipped here before their log-odds are averaged, so one
# frame's extreme confidence (P = 1e-9) cannot outvote the others.
TRACK_CLIP = 1e-4
MIN_TRACK_FRAMES = 3


def track_score(scores: Sequence[float]) -> float:
    """One score for a track's frames: the mean of their log-odds, back as a probability (a print
    that moves and bends scores live in a few frames; one lucky frame should not decide)."""
    p = np.clip(np.asarray(scores, float), TRACK_CLIP, 1 - TRACK_CLIP)
    if not p.size:
        raise LivenessError("a track needs at least one frame with a liveness score")
    z = float(np.mean(np.log(p / (1 - p))))
    return float(1 / (1 + np.exp(-z)))
