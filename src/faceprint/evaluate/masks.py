"""Synthetic face masks drawn over the lower face from the 5 landmarks (as NIST FRVT Part 6A and
MaskTheFace do), to measure how recognition degrades on masked probes. Seeded: the same image and
seed always get the same mask."""
from __future__ import annotations

import zlib

import cv2
import numpy as np

from ..types import Face

COLOURS = {  # BGR
    "surgical-blue": (219, 191, 143), "white": (236, 236, 236), "black": (35, 35, 35),
    "grey": (128, 128, 128), "navy": (90, 40, 20), "red": (40, 40, 170),
}
SHAPES = ("surgical", "cloth", "n95")


def _frame(face: Face) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin between the eyes, unit 'right' (image-left eye -> image-right eye) and 'down' vectors,
    and the eye distance, so mask shapes are defined in face coordinates and follow head roll."""
    lm = face.landmarks.astype(np.float64)
    right = lm[1] - lm[0]
    d = float(np.linalg.norm(right)) or 1.0
    right /= d
    down = np.array([-right[1], right[0]])
    return (lm[0] + lm[1]) / 2, right, down, d


def mask_polygon(face: Face, shape: str) -> np.ndarray:
    """The mask outline as an (N, 2) int32 polygon in image coordinates."""
    o, r, dn, d = _frame(face)
    mouth_y = float(((face.landmarks[3] + face.landmarks[4]) / 2 - o) @ dn)
    # In eye-distance units below the eye line: nose tip ~0.6, mouth ~1.15; masks start on the bridge.
    top = 0.3 * d
    chin = mouth_y + 0.8 * d
    if shape == "surgical":
        pts = [(-0.85, top), (0.85, top), (1.05, mouth_y), (0.8, chin), (-0.8, chin), (-1.05, mouth_y)]
    elif shape == "n95":   # an ellipse over nose, mouth and chin
        cy, ry = (top + chin) / 2, (chin - top) / 2
        pts = [(0.95 * np.sin(t), (cy - ry * np.cos(t)) / d) for t in np.linspace(0, 2 * np.pi, 24, endpoint=False)]
        pts = [(x, y * d) for x, y in pts]
    else:  # cloth: rounded, reaching a little higher on the nose
        pts = [(-0.7, top), (0.0, top - 0.1 * d), (0.7, top), (1.05, mouth_y),
               (0.6, chin + 0.05 * d), (0.0, chin + 0.15 * d), (-0.6, chin + 0.05 * d), (-1.05, mouth_y)]
    poly = [o + (x * d) * r + y * dn for x, y in pts]
    return np.round(np.array(poly)).astype(np.int32)


def draw_mask(image: np.ndarray, face: Face, *, shape: str = "surgical", colour: str = "surgical-blue") -> np.ndarray:
    out = image.copy()
    poly = mask_polygon(face, shape)
    cv2.fillPoly(out, [poly], COLOURS[colour], lineType=cv2.LINE_AA)
    o, r, dn, d = _frame(face)
    shade = tuple(int(c * 0.8) for c in COLOURS[colour])
    if shape == "surgical":                       # pleats
        for k in (0.9, 1.2, 1.5):
            a = o + (-0.8 * d) * r + (k * d) * dn
            b = o + (0.8 * d) * r + (k * d) * dn
            cv2.line(out, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), shade, max(1, int(d / 30)), cv2.LINE_AA)
    # Straps towards the ears.
    for side in (-1, 1):
        a = o + (side * 1.0 * d) * r + (0.6 * d) * dn
        b = o + (side * 1.45 * d) * r + (0.15 * d) * dn
        cv2.line(out, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), shade, max(1, int(d / 20)), cv2.LINE_AA)
    return out


def mask_drawn(key: str, seed: int = 0) -> tuple[str, str]:
    """The (shape, colour) that synthetic_mask draws for this key and seed."""
    h = zlib.crc32(f"{seed}:{key}".encode())
    return SHAPES[h % len(SHAPES)], list(COLOURS)[(h // 7) % len(COLOURS)]


def synthetic_mask(image: np.ndarray, face: Face, key: str, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Draw the mask that (key, seed) picks; returns the image and what was drawn."""
    shape, colour = mask_drawn(key, seed)
    return draw_mask(image, face, shape=shape, colour=colour), {"shape": shape, "colour": colour}


def mask_transform(seed: int = 0):
    """An image transform for runner.image_templates: draw a seeded synthetic mask on the face the
    pipeline would pick (found on the clean image); images without a face pass unchanged."""
    def transform(engine, img: np.ndarray, path) -> np.ndarray:
        from ..engine import pick_face
        faces = engine.detector.detect([img])[0]
        if not faces:
            return img
        return synthetic_mask(img, faces[pick_face(faces, img.shape, "center")], path.name, seed)[0]
    return transform
