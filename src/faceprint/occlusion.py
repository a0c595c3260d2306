"""Masked faces: is the face covered by a mask (a linear classifier on the aligned 112x112 crop),
and where its landmarks really are (`steadied`: the detector's landmarks are noisy under a mask).
How a masked face is then scored lives in scoring/masks.py. Figures: bench/results/masks.json.

Features: gradient energy in six orientations over the lower half of the crop, pooled to 7x14
cells, plus the colour difference between lower and upper face (YCrCb): a mask replaces the
mouth's and nostrils' edges with a smooth surface and the skin colour with the mask's.
Coefficients: models/mask_classifier.json, fitted by `bench/masks.py --write` on synthetic masks
(faceprint.evaluate.masks) over photos that are not LFW."""
from __future__ import annotations

import json
import zlib
from dataclasses import replace
from functools import lru_cache

import cv2
import numpy as np

from . import models
from .errors import ModelError
from .types import MASKED_AT, Face  # noqa: F401

FEATURES_VERSION = "grad6x7x14+ycrcb9"
# `steadied`: a masked face's landmarks found again at this many px between the eyes (the size
# where the detector places them best; bench/masks.py compares sizes).
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


@lru_cache(maxsize=1)
def classifier_version() -> str:
    """The features and the fitted coefficients (a refit changes it), for template caches."""
    spec = models.resource_json("mask_classifier.json") or {}
    return f"{FEATURES_VERSION}:{zlib.crc32(json.dumps(spec, sort_keys=True).encode()):08x}"


@lru_cache(maxsize=1)
def _classifier() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    spec = models.resource_json("mask_classifier.json")
    if spec is None:
        raise ModelError("the mask classifier (faceprint/models/mask_classifier.json) is missing; reinstall faceprint")
    if spec.get("features") != FEATURES_VERSION:
        raise ModelError(f"mask_classifier.json was fitted on features {spec.get('features')!r}, this "
                         f"version computes {FEATURES_VERSION!r}; refit it with bench/masks.py --write")
    return (np.asarray(spec["mean"], np.float32), np.asarray(spec["scale"], np.float32),
            np.asarray(spec["weights"], np.float32), float(spec["bias"]))


def steadied(detector, image: np.ndarray, face: Face) -> Face:
    """This face of this image with its landmarks found again at the detector's steadiest scale: cut
    out around its landmarks at STEADY_EYES px between the eyes, detected there and in the mirror
    image of that cut-out, the two estimates averaged (found in neither, it keeps its own)."""
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
