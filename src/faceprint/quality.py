"""Face quality estimates from the detection and the aligned crop: size, sharpness, pose, detector score.

Each measure is mapped to [0, 1] and the overall quality is their product, so one bad factor
(tiny, blurred, or turned away) is enough to flag a face for recapture.
"""
from __future__ import annotations

import cv2
import numpy as np

from .types import Face

MIN_GOOD_EYE_DISTANCE = 40.0   # px; ISO/IEC 19794-5 asks for >= 60 for ID photos, 40 is usable
GOOD_SHARPNESS = 100.0         # variance of the Laplacian on the 112 px crop


def eye_distance(face: Face) -> float:
    return float(np.linalg.norm(face.landmarks[0] - face.landmarks[1]))


def yaw_proxy(face: Face) -> float:
    """0 for a frontal face, towards 1 as the nose moves over one eye (a rough yaw estimate)."""
    lm = face.landmarks
    eyes_mid = (lm[0] + lm[1]) / 2
    d = eye_distance(face)
    return float(min(1.0, abs(lm[2, 0] - eyes_mid[0]) / max(d / 2, 1e-6)))


def sharpness(crop: np.ndarray) -> float:
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def assess(face: Face, crop: np.ndarray | None = None) -> tuple[float, dict[str, float]]:
    size = eye_distance(face)
    detail = {
        "eye_distance_px": round(size, 1),
        "size": min(1.0, size / MIN_GOOD_EYE_DISTANCE),
        "pose": 1.0 - yaw_proxy(face),
        "detector": float(face.score),
    }
    if crop is not None:
        sharp = sharpness(crop)
        detail["sharpness_raw"] = round(sharp, 1)
        detail["sharpness"] = min(1.0, sharp / GOOD_SHARPNESS)
    score = detail["size"] * detail["pose"] * detail["detector"] * detail.get("sharpness", 1.0)
    return float(score), detail
