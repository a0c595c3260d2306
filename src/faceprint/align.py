"""Alignment: a 5-point similarity transform from detected landmarks to an embedder's canonical crop."""
from __future__ import annotations

import cv2
import numpy as np

# ArcFace/InsightFace 112x112 reference points (image-left eye, image-right eye, nose tip,
# image-left mouth corner, image-right mouth corner); cv2.FaceRecognizerSF.alignCrop uses the same.
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)

CROPS = {"arcface-112": (ARCFACE_112, (112, 112))}


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation mapping src points onto dst (Umeyama 1991).

    Returns the 2x3 matrix for cv2.warpAffine. cv2.estimateAffinePartial2D would fit the same model
    but with RANSAC/LMEDS, which on only 5 points drops landmarks instead of averaging them.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def align(image: np.ndarray, landmarks: np.ndarray, crop: str = "arcface-112") -> np.ndarray:
    """Warp the face with these 5 landmarks to the named canonical crop (BGR in, BGR out)."""
    ref, size = CROPS[crop]
    m = similarity_transform(landmarks, ref)
    return cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR)
