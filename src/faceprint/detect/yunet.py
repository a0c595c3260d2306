"""YuNet (OpenCV zoo, 2023mar): boxes, 5 landmarks and a score per face.

The network runs in any runtime (faceprint.runtime); its outputs are decoded here in numpy exactly as
cv2.FaceDetectorYN decodes them (input zero-padded to a multiple of 32; per stride 8/16/32 anchor
grid: score = sqrt(cls * obj), box centre/size and landmarks relative to the cell; cv2.dnn.NMSBoxes
on integer boxes), so it finds the same faces whichever runtime runs it.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..models import ModelSpec
from ..runtime import Session
from ..types import Face

STRIDES = (8, 16, 32)


def decode(outputs: list[np.ndarray], pad_h: int, pad_w: int, score_threshold: float,
           nms_threshold: float, top_k: int) -> np.ndarray:
    """(N, 15) rows like cv2.FaceDetectorYN.detect: x, y, w, h, 5 landmarks (x, y), score; best first."""
    rows = []
    for i, stride in enumerate(STRIDES):
        cls, obj, bbox, kps = (outputs[i + 3 * j][0] for j in range(4))
        score = np.sqrt(np.clip(cls[:, 0], 0, 1) * np.clip(obj[:, 0], 0, 1))
        idx = np.flatnonzero(score >= score_threshold)
        if not len(idx):
            continue
        r, c = np.divmod(idx, pad_w // stride)
        b = bbox[idx]
        w, h = np.exp(b[:, 2]) * stride, np.exp(b[:, 3]) * stride
        x = (c + b[:, 0]) * stride - w / 2
        y = (r + b[:, 1]) * stride - h / 2
        k = kps[idx].reshape(-1, 5, 2)
        lm = np.stack([(k[:, :, 0] + c[:, None]) * stride, (k[:, :, 1] + r[:, None]) * stride], -1)
        rows.append(np.column_stack([x, y, w, h, lm.reshape(-1, 10), score[idx]]))
    if not rows:
        return np.zeros((0, 15), np.float32)
    faces = np.vstack(rows).astype(np.float32)
    if len(faces) > 1:
        # FaceDetectorYN suppresses on boxes truncated to integers; so do we, to keep the same faces.
        keep = cv2.dnn.NMSBoxes(faces[:, :4].astype(np.int32).tolist(), faces[:, 14].tolist(),
                                score_threshold, nms_threshold, top_k=top_k)
        faces = faces[np.asarray(keep, int).reshape(-1)]
    return faces


class YuNet:
    def __init__(self, spec: ModelSpec, *, runtime: str | None = None, threads: int | None = None,
                 score_threshold: float = 0.6, nms_threshold: float = 0.3, max_side: int = 960,
                 min_side: int = 160, top_k: int = 5000):
        self.name = spec.name
        self.spec = spec
        self.max_side = max_side
        self.min_side = min_side
        self.score_threshold, self.nms_threshold, self.top_k = score_threshold, nms_threshold, top_k
        # f32 even where OpenVINO would pick bf16: bf16 moves landmarks by up to 5 px on large faces,
        # and detection is the small part of a template's time.
        self.session = Session(spec.onnx(dynamic_hw=True), runtime=runtime, threads=threads, exact=True)
        self.runtime = self.session.runtime

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
            # INTER_AREA anti-aliases strong reductions; for mild ones (720p -> 960) it costs 5x
            # INTER_LINEAR (7.9 vs 1.6 ms) for no difference a 3x3 stride-2 first layer can see.
            interp = cv2.INTER_AREA if scale <= 0.5 else cv2.INTER_LINEAR
            work = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                              interpolation=interp)
        rows = self.raw(work)
        offset = 0
        if not len(rows) and min(h, w) <= 2 * self.min_side:
            # A face touching the frame edges is often missed; retry with a margin around it.
            offset = max(work.shape[:2]) // 4
            rows = self.raw(cv2.copyMakeBorder(work, offset, offset, offset, offset, cv2.BORDER_REPLICATE))
        out = []
        for r in rows:
            box = np.r_[r[0:2] - offset, r[2:4]] / scale
            lm = (r[4:14].reshape(5, 2) - offset) / scale
            x, y, bw, bh = box
            # Clip to the image: a box half outside the frame is still a face, but coordinates stay valid.
            x0, y0 = max(0.0, x), max(0.0, y)
            x1, y1 = min(float(w), x + bw), min(float(h), y + bh)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            out.append(Face(box=np.array([x0, y0, x1 - x0, y1 - y0], np.float32),
                            landmarks=lm.astype(np.float32), score=float(r[14])))
        out.sort(key=lambda f: -f.score)
        return out

    def raw(self, image: np.ndarray) -> np.ndarray:
        """The network's faces on this exact BGR image, as cv2.FaceDetectorYN.detect rows."""
        h, w = image.shape[:2]
        pad_h, pad_w = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((1, 3, pad_h, pad_w), np.float32)
        blob[0, :, :h, :w] = image.transpose(2, 0, 1)
        outputs = self.session.run(blob)
        return decode(outputs, pad_h, pad_w, self.score_threshold, self.nms_threshold, self.top_k)

    def detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        return [self.detect_one(im) for im in images]
