"""Follows faces across frames: IoU matching of detections to each track's box predicted at constant
velocity (SORT's association, greedy instead of Hungarian, which is the same answer for the few,
separated faces of a scene). Why not ByteTrack from `trackers` or `supervision`: the releases that
have it require the GUI `opencv-python`, which would replace `opencv-python-headless` and
fail `pip check` (see README, "Watch video and cameras")."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..types import Face


@dataclass
class _Track:
    id: int
    box: np.ndarray          # x0, y0, x1, y1 at `seen`
    velocity: np.ndarray     # px per second of each coordinate
    seen: float
    updates: int = 0

    def predict(self, t: float) -> np.ndarray:
        return self.box + self.velocity * (t - self.seen)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4), x0 y0 x1 y1."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def _centre_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between the centres of every box in a and every box in b, in widths of the a box;
    infinite where the sizes differ by more than 1.5x."""
    ca, cb = (a[:, :2] + a[:, 2:]) / 2, (b[:, :2] + b[:, 2:]) / 2
    wa, wb = a[:, 2] - a[:, 0], b[:, 2] - b[:, 0]
    d = np.linalg.norm(ca[:, None] - cb[None], axis=2) / np.maximum(wa[:, None], 1e-9)
    ratio = wb[None, :] / np.maximum(wa[:, None], 1e-9)
    return np.where((ratio > 1 / 1.5) & (ratio < 1.5), d, np.inf)


class FaceTracker:
    """update(faces, t) -> ([(track id, face)], [ids of tracks that ended]); each ended id is
    returned once.

    lost_seconds: how long a track survives without a detection (a turned head, a passer-by in
    front) before it ends. min_score: detector score a face needs to start a track. min_iou: overlap
    with a track's predicted box that continues it.
    """

    def __init__(self, *, lost_seconds: float = 1.0, min_score: float = 0.6,
                 min_iou: float = 0.1, smoothing: float = 0.5):
        self.lost_seconds, self.min_score, self.min_iou, self.smoothing = lost_seconds, min_score, min_iou, smoothing
        self._tracks: list[_Track] = []
        self._next = 0

    def update(self, faces: list[Face], t: float) -> tuple[list[tuple[int, Face]], list[int]]:
        boxes = np.array([[f.box[0], f.box[1], f.box[0] + f.box[2], f.box[1] + f.box[3]] for f in faces],
                         np.float64).reshape(-1, 4)
        tracked: list[tuple[int, Face]] = []
        free = set(range(len(faces)))
        if self._tracks and len(faces):
            pred = np.array([tr.predict(t) for tr in self._tracks])
            used: set[int] = set()
            # Greedy, the best pair first: by overlap with the predicted box; then, for a face that
            # skipped frames (missed detections, a fast walker), by centre distance within one
            # face width at a similar size.
            for r, c in self._pairs(-_iou(pred, boxes), -self.min_iou):
                self._continue(r, c, boxes, t, used, free, faces, tracked)
            for r, c in self._pairs(_centre_distance(pred, boxes), 1.0):
                self._continue(r, c, boxes, t, used, free, faces, tracked)
        for c in sorted(free):
            if faces[c].score >= self.min_score:
                self._tracks.append(_Track(self._next, boxes[c], np.zeros(4), t))
                tracked.append((self._next, faces[c]))
                self._next += 1
        ended = [tr.id for tr in self._tracks if t - tr.seen > self.lost_seconds]
        self._tracks = [tr for tr in self._tracks if t - tr.seen <= self.lost_seconds]
        return tracked, ended

    @staticmethod
    def _pairs(cost: np.ndarray, limit: float):
        for r, c in zip(*np.unravel_index(np.argsort(cost, axis=None), cost.shape)):
            if cost[r, c] > limit:
                return
            yield int(r), int(c)

    def _continue(self, r, c, boxes, t, used, free, faces, tracked) -> None:
        if r in used or c not in free:
            return
        used.add(r)
        free.discard(c)
        tr = self._tracks[r]
        dt = t - tr.seen
        if dt > 0:
            v = (boxes[c] - tr.box) / dt
            # The first velocity is taken whole; later ones are smoothed against detector jitter.
            tr.velocity = v if tr.updates == 0 else self.smoothing * tr.velocity + (1 - self.smoothing) * v
        tr.box, tr.seen = boxes[c], t
        tr.updates += 1
        tracked.append((tr.id, faces[c]))

    def end_all(self) -> list[int]:
        ended, self._tracks = [tr.id for tr in self._tracks], []
        return ended
