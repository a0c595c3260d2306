"""Masked faces: is the face covered by a mask (a linear classifier on the aligned 112x112 crop),
and how a masked face is matched (a linear map on its template plus a score equaliser).

Features: gradient energy in six orientations over the lower half of the crop (nose, mouth, chin),
pooled to 7x14 cells and L2-normalised, plus the colour difference between the lower face and the
upper face (YCrCb means and spreads). A mask replaces the mouth's and nostrils' edges with a smooth
surface and the skin colour with the mask's. Grey and colour photos give the same gradient features,
so grey training photos teach the colour-free part too.

The coefficients (models/mask_classifier.json) are fitted by `bench/masks.py --write` on synthetic
masks (faceprint.evaluate.masks) over photos that are not LFW, and measured on LFW there.

Alignment: YuNet's landmarks are worse under a mask. On LFW folds 0-3 with synthetic masks it puts
a masked face's eyes 0.12 eye-distances (median) from where it puts them on the same photo unmasked,
nose and mouth 0.17-0.19; aligned on the unmasked photo's landmarks, the raw masked FNMR at FMR 1e-3
is 4.7% instead of 13.2%. `steadied` finds a masked face's landmarks again on a cut-out of it at
the size where the detector places them best, and in its mirror image, and averages the two (two
small detections per masked face): 6.5%.

Matching: a masked face's embedding loses the lower face and gains the mask. A linear map
(models/unmask_<model>.json, fitted by `bench/masks.py --write` on synthetic masks over LFW people
outside the measured folds) moves it towards the embedding of the same face without the mask; its
scores against clean templates have their own false-match distribution, so `equalise` puts them on
the model's clean scale (the clean threshold of the same FMR, from a table measured on LFW people
that neither fitted the map nor are measured). Every threshold, FPIR-based or given, then holds
its false-match rate for masked probes too.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

from .errors import ModelError
from .types import Face

FEATURES_VERSION = "grad6x7x14+ycrcb9"
MASKED_AT = 0.5           # probability from which a face counts as masked
# ... and from which its template is unmasked: mapping a clean face costs it recognition, and on
# LFW 0.7 maps 7 of 13,233 clean photos instead of 29, and 98.7% of masked ones instead of 99.0%.
UNMASK_AT = 0.7
# `steadied`: a masked face's landmarks found again at this many px between the eyes (LFW, folds 0-3:
# 24 px gave masked probes 6.5% raw FNMR, 18 / 30 / 36 px 8.3% / 7.8% / 8.8%, scaling the whole
# photo by 0.5 / 0.6 7.0% / 7.4%; LFW's own faces have 44 px).
STEADY_EYES = 24
STEADY_VERSION = f"cut{STEADY_EYES}+mirror"   # for template caches
# Landmark order after mirroring: the eyes swap, and so do the mouth corners.
_MIRRORED = [1, 0, 2, 4, 3]
ORIENTATIONS = 6


# Each pixel of the lower half (56x112) -> its 8x8 cell (7x14 cells), for one bincount per feature.
CELLS = 7 * 14
_CELL = (np.arange(56)[:, None] // 8 * 14 + np.arange(112)[None, :] // 8).ravel()


def features(crop: np.ndarray) -> np.ndarray:
    """The classifier's input for one aligned 112x112 BGR (or grey) crop."""
    colour = crop if crop.ndim == 3 else cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    gray = cv2.cvtColor(colour[55:112], cv2.COLOR_BGR2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0)[1:], cv2.Sobel(gray, cv2.CV_32F, 0, 1)[1:]
    mag = cv2.magnitude(gx, gy).ravel()
    half_turns = np.fmod(cv2.phase(gx, gy).ravel(), np.float32(np.pi)) * np.float32(ORIENTATIONS / np.pi)
    bins = np.minimum(half_turns.astype(np.int64), ORIENTATIONS - 1)
    cells = np.bincount(bins * CELLS + _CELL, weights=mag, minlength=ORIENTATIONS * CELLS)
    cells /= np.linalg.norm(cells) + 1e-6
    ycc = cv2.cvtColor(colour, cv2.COLOR_BGR2YCrCb)
    (um, us), (lm, ls) = (cv2.meanStdDev(ycc[20:50, 20:92]), cv2.meanStdDev(ycc[70:105, 30:82]))
    stats = np.r_[(lm - um).ravel(), ls.ravel(), us.ravel()] / 50.0
    return np.r_[cells, stats].astype(np.float32)


def _resource(name: str) -> dict | None:
    path = resources.files("faceprint.models").joinpath(name)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"faceprint/models/{name} is unreadable ({exc}); reinstall faceprint") from exc


@lru_cache(maxsize=1)
def _classifier() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    spec = _resource("mask_classifier.json")
    if spec is None:
        raise ModelError("the mask classifier (faceprint/models/mask_classifier.json) is missing; reinstall faceprint")
    if spec.get("features") != FEATURES_VERSION:
        raise ModelError(f"mask_classifier.json was fitted on features {spec.get('features')!r}, this "
                         f"version computes {FEATURES_VERSION!r}; refit it with bench/masks.py --write")
    return (np.asarray(spec["mean"], np.float32), np.asarray(spec["scale"], np.float32),
            np.asarray(spec["weights"], np.float32), float(spec["bias"]))


@lru_cache(maxsize=8)
def _unmasking(model_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    """(map, masked thresholds, clean thresholds at the same FMRs, version) or None when the model
    has no fitted map (only the template variant it was fitted on: "sface", not "sface:flip")."""
    from . import models
    from .match import threshold_for_fmr

    spec = _resource(f"unmask_{model_id.replace(':', '_')}.json")
    if spec is None:
        return None
    weights = models.get(model_id.partition(":")[0]).files.get("weights", {}).get("sha256")
    if spec.get("model") != model_id or spec.get("weights_sha256") != weights:
        raise ModelError(f"unmask_{model_id}.json was fitted for other {model_id!r} weights; refit it with "
                         "bench/masks.py --write")
    fmr, masked = np.asarray(spec["table"]["fmr"], float), np.asarray(spec["table"]["threshold"], float)
    clean = np.array([threshold_for_fmr(model_id, f) for f in fmr])
    order = np.argsort(masked)
    return (np.asarray(spec["matrix"], np.float32), masked[order], clean[order],
            str(spec.get("version", "1")))


def unmasking_version(model_id: str) -> str | None:
    """What changes masked templates of this model (for template caches); None without a map."""
    m = _unmasking(model_id)
    return None if m is None else f"{m[3]}@{UNMASK_AT}"


def unmask(vector: np.ndarray, model_id: str, p_masked: float) -> np.ndarray | None:
    """A masked face's unit template mapped towards its clean face's; None when the model has no
    map or the face is not confidently masked (p_masked < UNMASK_AT)."""
    m = _unmasking(model_id)
    if m is None or p_masked < UNMASK_AT:
        return None
    v = vector @ m[0]
    return (v / (np.linalg.norm(v) or 1.0)).astype(np.float32)


def equalise(scores, model_id: str) -> np.ndarray:
    """Scores of unmasked probes against clean templates, put on the model's clean scale: a score
    at the masked table's threshold for FMR f becomes the clean table's threshold for f (piecewise
    linear between table rows, and from the table's ends to -1 and 1). Monotone, so rankings do
    not change, and still a cosine's range."""
    s = np.asarray(scores, np.float64)
    m = _unmasking(model_id)
    if m is None:
        return s
    _, masked, clean = m[:3]
    return np.interp(s, np.r_[-1.0, masked, 1.0], np.r_[-1.0, clean, 1.0])


def steadied(detector, image: np.ndarray, face: Face) -> Face:
    """This face of this image with its landmarks found again at the detector's steadiest scale: cut
    out around its landmarks at STEADY_EYES px between the eyes, detected there and in the mirror
    image of that cut-out, the two estimates averaged (found in neither, it keeps its own)."""
    from dataclasses import replace

    side = max(160, 6 * STEADY_EYES)       # room for the whole head: the detector needs context
    lm = face.landmarks.astype(np.float64)
    scale = STEADY_EYES / max(float(np.linalg.norm(lm[0] - lm[1])), 1.0)
    shift = side / 2 - scale * lm.mean(0)
    m = np.array([[scale, 0.0, shift[0]], [0.0, scale, shift[1]]])
    cut = cv2.warpAffine(image, m, (side, side), borderMode=cv2.BORDER_REPLICATE,
                         flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    found = []
    for mirrored, faces in zip((False, True), detector.detect([cut, np.ascontiguousarray(cut[:, ::-1])])):
        off_centre = [float(np.linalg.norm(g.landmarks.mean(0) - side / 2)) for g in faces]
        if faces and min(off_centre) < STEADY_EYES:
            g = faces[int(np.argmin(off_centre))].landmarks
            if mirrored:
                g = g[_MIRRORED] * [-1.0, 1.0] + [side - 1, 0.0]
            found.append((g - shift) / scale)
    return replace(face, landmarks=np.mean(found, 0).astype(np.float32)) if found else face


def mask_probability(crops: list[np.ndarray]) -> np.ndarray:
    """P(masked) for each aligned crop."""
    if not crops:
        return np.zeros(0, np.float32)
    return mask_probability_of_features(np.stack([features(c) for c in crops]))


def mask_probability_of_features(x: np.ndarray) -> np.ndarray:
    mean, scale, w, b = _classifier()
    z = ((x - mean) / scale) @ w + b
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
