"""YuNet (OpenCV zoo) through cv2.FaceDetectorYN: boxes, 5 landmarks and a score per face."""
from __future__ import annotations

import threading

import cv2
import numpy as np

from ..models import ModelSpec
from ..types import Face


class YuNet:
    def __init__(self, spec: ModelSpec, *, score_threshold: float = 0.6, nms_threshold: float = 0.3,
                 max_side: int = 960, min_side: int = 160, top_k: int = 5000):
        self.name = spec.name
        self.spec = spec
        self.max_side = max_side
        self.min_side = min_side
        self._net = cv2.FaceDetectorYN.create(str(spec.path()), "", (320, 320), score_threshold,
                                              nms_threshold, top_k)
        # FaceDetectorYN keeps per-call state (input size); one call at a time per instance.
        self._lock = threading.Lock()

    def _scale_for(self, h: int, w: int) -> float:
        longest, shortest = max(h, w), min(h, w)
        if longest > self.max_side:
            return self.max_side / longest
        if shortest < self.min_side:
            # Tight crops (e.g. 92x112 ID photos): faces that fill the frame are easier at a larger size.
            return min(self.min_side / shortest, self.max_side / longest)
        return 1.0

    def detect_one(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        scale = self._scale_for(h, w)
        work = image
        if scale != 1.0:
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            work = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                              interpolation=interp)
        faces = self._run(work)
        if not faces and min(h, w) <= 2 * self.min_side:
            # A face touching the frame edges is often missed; retry with a margin around it.
            pad = max(work.shape[:2]) // 4
            padded = cv2.copyMakeBorder(work, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            faces = self._run(padded, offset=pad)
        out = []
        for f in faces:
            box = f.box / scale
            lm = f.landmarks / scale
            x, y, bw, bh = box
            # Clip to the image: a box half outside the frame is still a face, but coordinates stay valid.
            x0, y0 = max(0.0, x), max(0.0, y)
            x1, y1 = min(float(w), x + bw), min(float(h), y + bh)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            out.append(Face(box=np.array([x0, y0, x1 - x0, y1 - y0], np.float32),
                            landmarks=lm.astype(np.float32), score=f.score))
        out.sort(key=lambda f: -f.score)
        return out

    def _run(self, image: np.ndarray, offset: int = 0) -> list[Face]:
        h, w = image.shape[:2]
        with self._lock:
            self._net.setInputSize((w, h))
            _, rows = self._net.detect(image)
        if rows is None:
            return []
        return [Face(box=np.r_[r[0:2] - offset, r[2:4]].astype(np.float32),
                     landmarks=(r[4:14].reshape(5, 2) - offset).astype(np.float32),
                     score=float(r[14])) for r in rows]

    def detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        return [self.detect_one(im) for im in images]
