"""Simulated replay attacks: a photo shown on a screen and filmed again by a camera, for testing
liveness where no recorded replay attacks exist. Weaker evidence than recorded replays: real
screens, lenses and sensors make artefacts (and lack others) that this model does not.

The screen: the photo resampled to the screen's resolution, each screen pixel drawn as R, G and B
sub-pixel columns with a dark gap (the pixel grid), the display's gamma and black level, a glare
spot, a moire interference pattern; the camera: the screen and its bezel seen at an angle
(perspective) over a background, resampled to the camera's pixels without anti-aliasing (which is
what makes moire from the sub-pixel grid), blur, sensor noise and JPEG compression.
Each kind switches on one effect (with the camera); "full" switches on all of them.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

KINDS = ("grid", "moire", "gamma", "glare", "angle", "full")
FRAME = (480, 640)          # camera frame (h, w)


@dataclass(frozen=True)
class Effects:
    grid: bool = False
    moire: bool = False
    gamma: bool = False
    glare: bool = False
    angle: bool = False

    @classmethod
    def of(cls, kind: str) -> "Effects":
        if kind not in KINDS:
            raise ValueError(f"replay kind must be one of {KINDS}, not {kind!r}")
        if kind == "full":
            return cls(True, True, True, True, True)
        return cls(**{kind: True})


def _pixel_grid(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo at a screen resolution of 240-400 px wide, each pixel as 3x3 sub-pixels: B, G, R
    columns (BGR order, R on the left as on most LCDs) and a dimmer bottom row (the gap)."""
    h, w = img.shape[:2]
    sw = int(rng.integers(240, 400))
    small = cv2.resize(img, (sw, max(1, round(h * sw / w))), interpolation=cv2.INTER_AREA).astype(np.float32)
    big = np.repeat(np.repeat(small, 3, axis=0), 3, axis=1)
    mask = np.full((3, 3, 3), 0.15, np.float32)          # light leaking into the other sub-pixels
    for col, channel in enumerate((2, 1, 0)):          # R, G, B sub-pixels left to right
        mask[:, col, channel] = 1.0
    mask[2] *= 0.5
    mask /= mask.mean(axis=(0, 1))                      # same mean brightness as the photo
    reps = (big.shape[0] // 3, big.shape[1] // 3, 1)
    return np.clip(big * np.tile(mask, reps), 0, 255)


def _moire(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two slightly rotated fine gratings beating against each other: low-frequency bands."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(2.5, 4.0)
    a, b = rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3) + rng.uniform(0.02, 0.08)
    g1 = np.cos(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / period)
    g2 = np.cos(2 * np.pi * (xx * np.cos(b) + yy * np.sin(b)) / period)
    depth = rng.uniform(0.08, 0.2)
    return np.clip(img * (1 + depth * g1 * g2)[..., None], 0, 255)


def _gamma(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Display gamma 0.6-1.6 and a lifted black level (backlight bleed), slight colour cast."""
    x = img / 255.0
    black = rng.uniform(0.04, 0.15)
    cast = rng.uniform(0.92, 1.08, 3).astype(np.float32)
    return np.clip(255 * (black + (1 - black) * x ** rng.uniform(0.6, 1.6)) * cast, 0, 255)


def _glare(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bright elliptical reflection somewhere on the screen."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    sx, sy = rng.uniform(0.08, 0.25) * w, rng.uniform(0.08, 0.25) * h
    spot = np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2) / 2)
    return np.clip(img + rng.uniform(80, 180) * spot[..., None], 0, 255)


def _place(screen: np.ndarray, rng: np.random.Generator, angle: bool) -> np.ndarray:
    """The screen (with a black bezel) seen by the camera: filling 70-95% of the frame width, turned
    up to 30 degrees when `angle`, over a grey background, through a slightly blurring lens and
    sampled without anti-aliasing, as a camera samples a screen."""
    fh, fw = FRAME
    bezel = max(2, screen.shape[1] // 40)
    screen = cv2.copyMakeBorder(screen, bezel, bezel, bezel, bezel, cv2.BORDER_CONSTANT, value=(12, 12, 12))
    sh, sw = screen.shape[:2]
    width = rng.uniform(0.7, 0.95) * fw
    height = width * sh / sw
    if height > 0.95 * fh:
        width, height = width * 0.95 * fh / height, 0.95 * fh
    cx, cy = fw / 2 + rng.uniform(-0.05, 0.05) * fw, fh / 2 + rng.uniform(-0.05, 0.05) * fh
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float32) * [width / 2, height / 2]
    if angle:
        yaw, pitch, roll = np.radians(rng.uniform(-30, 30)), np.radians(rng.uniform(-20, 20)), np.radians(rng.uniform(-10, 10))
        corners = _tilt(corners, yaw, pitch, roll, focal=1.2 * fw)
    dst = (corners + [cx, cy]).astype(np.float32)
    src = np.array([[0, 0], [sw - 1, 0], [sw - 1, sh - 1], [0, sh - 1]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    # The lens blurs the screen a little before the sensor samples it (aliasing is what remains).
    screen = cv2.GaussianBlur(screen, (0, 0), rng.uniform(0.3, 0.7) * sw / width)
    grey = float(rng.uniform(60, 200))
    background = np.full((fh, fw, 3), grey, np.float32) + rng.normal(0, 3, (fh, fw, 3)).astype(np.float32)
    return cv2.warpPerspective(screen.astype(np.float32), m, (fw, fh), dst=background,
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)


def _tilt(corners: np.ndarray, yaw: float, pitch: float, roll: float, focal: float) -> np.ndarray:
    """Corners of a plane rotated in 3-D and projected by a pinhole camera of this focal length."""
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    pts = np.c_[corners, np.zeros(4)] @ (rz @ rx @ ry).T + [0, 0, focal]
    return (pts[:, :2] * focal / pts[:, 2:3]).astype(np.float32)


def _camera(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lens blur, sensor noise and JPEG compression."""
    frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.4, 1.0))
    frame = np.clip(frame + rng.normal(0, rng.uniform(1.5, 4.0), frame.shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 92))])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def replay(photo: np.ndarray, kind: str = "full", seed: int = 0) -> np.ndarray:
    """A 640x480 BGR camera frame of `photo` (BGR uint8) replayed on a simulated screen."""
    fx = Effects.of(kind)
    rng = np.random.default_rng(seed)
    screen = _pixel_grid(photo, rng) if fx.grid else photo.astype(np.float32)
    if fx.moire:
        screen = _moire(screen, rng)
    if fx.gamma:
        screen = _gamma(screen, rng)
    if fx.glare:
        screen = _glare(screen, rng)
    return _camera(_place(screen, rng, fx.angle), rng)
