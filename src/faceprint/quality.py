"""Face quality: one score in [0, 1] per face, the product of factors from the embedding norm
(the best predictor of recognition errors, frontal or profile), face size, pose, sharpness and the
detector's confidence, so one bad factor is enough to flag a photo. Enrolment refuses only faces
that are unusable (masked, too small, or with an embedding norm at which most mated comparisons
fail); weak ones are enrolled with a warning. Figures: README "Quality" (bench/results/enrolment.json)."""
from __future__ import annotations

import cv2
import numpy as np

from .occlusion import mask_probability
from .types import MASKED_AT, Face, Template

# px between the eyes: below MIN a face is refused (too few pixels: mated FNMR climbs steeply below
# it), from GOOD on size costs nothing (bench/enrolment.py, LFW photos scaled down).
MIN_EYE_DISTANCE = 8.0
GOOD_EYE_DISTANCE = 24.0
GOOD_SHARPNESS = 100.0         # variance of the Laplacian on the 112 px crop
GOOD_DETECTOR = 0.9            # YuNet: clear faces score 0.9+, its detection threshold is 0.6
# Enrolled photos scoring below this come with a warning (they miss more often in searches).
WEAK_BELOW = 0.25


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
    """(score, detail). norm / norm_range: the raw embedding norm and the model's (unusable, good)
    norms from its manifest entry ("quality_norm"), mapped linearly to 0..1 (0: refused). masked: P(masked) of
    the crop where the caller has it already."""
    size = eye_distance(face)
    detail = {
        "eye_distance_px": round(size, 1),
        "size": float(np.clip((size - MIN_EYE_DISTANCE) / (GOOD_EYE_DISTANCE - MIN_EYE_DISTANCE), 0.0, 1.0)),
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


def _record(template: Template | float, detail: dict[str, float] | None) -> tuple[float, dict, float | None]:
    if isinstance(template, Template):
        return template.quality, template.quality_detail, template.masked
    detail = detail or {}
    return float(template), detail, detail.get("masked")


def enrolment_refusal(template: Template | float, detail: dict[str, float] | None = None) -> tuple[str, str] | None:
    """(code, reason) why a template's face must not be enrolled unless forced, or None: only faces
    that are unusable (masked, too small, or unrecognisable: embedding norm at or below the model's
    unusable level). Templates made from raw vectors (no detail) are the caller's responsibility.
    Also takes (score, detail): a quality record as evaluation caches keep it (bench/)."""
    score, detail, masked = _record(template, detail)
    if masked is not None and masked >= MASKED_AT:
        return "masked", (f"the face is covered by a mask (probability {masked:.2f}); enrol a photo "
                          "with nose and mouth uncovered, or force (--force) to enrol it anyway")
    force = "or force (--force) to enrol it anyway"
    if detail.get("eye_distance_px", GOOD_EYE_DISTANCE) < MIN_EYE_DISTANCE:
        return "low_quality", (f"face quality {score:.2f}: the face is too small to recognise "
                               f"({detail['eye_distance_px']:.0f} px between the eyes, at least "
                               f"{MIN_EYE_DISTANCE:.0f} needed, {GOOD_EYE_DISTANCE:.0f}+ is good); use a larger "
                               f"photo of the face, {force}")
    if detail.get("norm", 1.0) <= 0.0:
        return "low_quality", (f"face quality {score:.2f}: the face cannot be recognised in this photo "
                               f"({explain(detail)}); use a photo where it is visible, lit and not turned away, "
                               f"{force}")
    return None


def enrolment_warning(template: Template | float, detail: dict[str, float] | None = None) -> str | None:
    """Why an enrolled (not refused) face is weak, or None: its searches will miss more often."""
    score, detail, _ = _record(template, detail)
    if detail and score < WEAK_BELOW:
        return (f"weak photo (face quality {score:.2f}): {explain(detail)}; it is enrolled, but a clearer, "
                "frontal photo of this person will be found more reliably")
    return None


def explain(detail: dict[str, float]) -> str:
    """Which factors pulled a quality score down, in words a user can act on."""
    reasons = []
    if detail.get("norm", 1.0) < 0.5:
        reasons.append("the face is hard to recognise (occluded, blurred, dark or turned away)")
    if detail.get("size", 1.0) < 0.75:
        reasons.append(f"the face is small ({detail.get('eye_distance_px', 0):.0f} px between the eyes; "
                       f"{GOOD_EYE_DISTANCE:.0f}+ is good)")
    if detail.get("pose", 1.0) < 0.75:
        reasons.append("the face is turned away from the camera")
    if detail.get("sharpness", 1.0) < 0.75:
        reasons.append("the photo is blurred")
    if detail.get("detector_factor", 1.0) < 0.9:
        reasons.append("the detector is unsure it is a face")
    return "; ".join(reasons) or "several small defects together"
