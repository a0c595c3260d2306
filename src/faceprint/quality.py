"""Face quality: one score in [0, 1] per face, from the embedding norm, face size, pose, sharpness
and the detector's confidence.

Measured on LFW (bench/quality.py): the embedder's raw embedding norm predicts recognition errors
far better than the image measures: mated pairs whose weaker photo is in the lowest norm decile
fail 8.2% at FMR 1e-3 and 68% at the 1:N threshold of a 2,000-person gallery, the highest decile
0% and 1.1%. The detector score comes second, pose and sharpness barely matter on LFW (all its
photos are frontal-ish press photos), but they flag what LFW lacks: profile faces, motion blur,
tiny faces. Each measure maps to a factor in [0, 1]; the score is their product, so one bad factor
is enough to flag a photo, and the softened ones (pose, sharpness, detector) can at most halve it.
"""
from __future__ import annotations

import cv2
import numpy as np

from .occlusion import MASKED_AT, mask_probability
from .types import Face

MIN_GOOD_EYE_DISTANCE = 40.0   # px; ISO/IEC 19794-5 asks for >= 60 for ID photos, 40 is usable
GOOD_SHARPNESS = 100.0         # variance of the Laplacian on the 112 px crop
GOOD_DETECTOR = 0.9            # YuNet: clear faces score 0.9+, its detection threshold is 0.6
# Enrolment refuses photos below this score unless forced: with SFace it turns away ~2% of LFW
# photos, whose mated pairs fail 13% at FMR 1e-3 against 0.95% overall.
ENROL_FLOOR = 0.25


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


def assess(face: Face, crop: np.ndarray | None = None, *, norm: float | None = None,
           norm_range: tuple[float, float] | list[float] | None = None,
           masked: float | None = None) -> tuple[float, dict[str, float]]:
    """(score, detail). norm / norm_range: the raw embedding norm and the model's (useless, good)
    norms from its manifest entry ("quality_norm"), mapped linearly to 0..1. masked: P(masked) of
    the crop where the caller has it already."""
    size = eye_distance(face)
    detail = {
        "eye_distance_px": round(size, 1),
        "size": min(1.0, size / MIN_GOOD_EYE_DISTANCE),
        "pose": 1.0 - 0.5 * yaw_proxy(face),
        "detector": float(face.score),
        "detector_factor": 0.5 + 0.5 * min(1.0, float(face.score) / GOOD_DETECTOR),
    }
    if crop is not None:
        sharp = sharpness(crop)
        detail["sharpness_raw"] = round(sharp, 1)
        detail["sharpness"] = 0.5 + 0.5 * min(1.0, sharp / GOOD_SHARPNESS)
        # Not a factor of the score: a masked face can be sharp and well lit, and the decision
        # threshold holds the false-match rate for masked probes too (README, "Masked faces").
        p = mask_probability([crop])[0] if masked is None else masked
        detail["masked"] = round(float(p), 3)
    if norm is not None and norm_range:
        lo, good = (float(v) for v in norm_range)
        detail["embedding_norm"] = round(float(norm), 3)
        detail["norm"] = float(np.clip((norm - lo) / (good - lo), 0.0, 1.0))
    return score_of(detail), detail


FACTORS = ("size", "pose", "detector_factor", "sharpness", "norm")


def score_of(detail: dict[str, float]) -> float:
    """The quality score: the product of the factors a detail record holds."""
    return float(np.prod([detail[k] for k in FACTORS if k in detail]))


def is_masked(detail: dict[str, float]) -> bool | None:
    """Whether the face wears a mask; None where it was not assessed (no crop)."""
    return None if "masked" not in detail else bool(detail["masked"] >= MASKED_AT)


def enrolment_refusal(score: float, detail: dict[str, float]) -> tuple[str, str] | None:
    """(code, reason) why a face must not be enrolled unless forced, or None. Templates made
    from raw vectors (no detail) are the caller's responsibility."""
    if is_masked(detail):
        return "masked", (f"the face is covered by a mask (probability {detail['masked']:.2f}); enrol a photo "
                          "with nose and mouth uncovered, or force (--force) to enrol it anyway")
    if detail and score < ENROL_FLOOR:
        return "low_quality", (f"face quality {score:.2f} is below the enrolment floor {ENROL_FLOOR}: "
                               f"{explain(detail)}; use a sharper, frontal, larger photo, or force (--force) "
                               "to enrol it anyway")
    return None


def explain(detail: dict[str, float]) -> str:
    """Which factors pulled a quality score down, in words a user can act on."""
    reasons = []
    if detail.get("norm", 1.0) < 0.5:
        reasons.append("the face is hard to recognise (occluded, blurred, dark or turned away)")
    if detail.get("size", 1.0) < 0.75:
        reasons.append(f"the face is small ({detail.get('eye_distance_px', 0):.0f} px between the eyes; "
                       f"{MIN_GOOD_EYE_DISTANCE:.0f}+ is good)")
    if detail.get("pose", 1.0) < 0.75:
        reasons.append("the face is turned away from the camera")
    if detail.get("sharpness", 1.0) < 0.75:
        reasons.append("the photo is blurred")
    if detail.get("detector_factor", 1.0) < 0.9:
        reasons.append("the detector is unsure it is a face")
    return "; ".join(reasons) or "several small defects together"
