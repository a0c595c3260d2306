"""Follows faces across frames with ByteTrack (the `trackers` package, Roboflow's clean-room
implementation) and tells which tracks have ended."""
from __future__ import annotations

import numpy as np

from ..types import Face
from .sources import need


class FaceTracker:
    """update(faces, t) -> ([(track id, face)] for faces on a confirmed track, [ids of tracks that
    ended]); each ended id is returned once.

    lost_seconds: how long a track survives without a detection (a turned head, a passer-by in
    front) before it ends.
    """

    def __init__(self, fps: float, *, lost_seconds: float = 1.0, min_score: float = 0.6):
        self._sv = need("supervision")
        ByteTrackTracker = need("trackers").ByteTrackTracker
        # lost_track_buffer is counted in 30 fps frames whatever the frame rate; the first detection
        # of a track only gets an id on its second frame (minimum_consecutive_frames=1 still does).
        self._bt = ByteTrackTracker(lost_track_buffer=max(1, round(30 * lost_seconds)), frame_rate=fps,
                                    track_activation_threshold=min_score, high_conf_det_threshold=min_score,
                                    minimum_consecutive_frames=1, minimum_iou_threshold=0.1)
        self._alive: set[int] = set()

    def update(self, faces: list[Face], t: float) -> tuple[list[tuple[int, Face]], list[int]]:
        sv = self._sv
        if faces:
            boxes = np.array([[f.box[0], f.box[1], f.box[0] + f.box[2], f.box[1] + f.box[3]] for f in faces],
                             np.float32)
            det = sv.Detections(xyxy=boxes, confidence=np.array([f.score for f in faces], np.float32),
                                data={"i": np.arange(len(faces))})
        else:
            det = sv.Detections.empty()
        out = self._bt.update(det, timestamp=t)
        tracked = [(int(tid), faces[int(i)]) for tid, i in zip(out.tracker_id, out.data.get("i", []))
                   if tid >= 0]
        alive = {int(tr.tracker_id) for tr in self._bt.tracks if tr.tracker_id >= 0}
        ended = sorted(self._alive - alive)
        self._alive = alive
        return tracked, ended

    def end_all(self) -> list[int]:
        ended, self._alive = sorted(self._alive), set()
        return ended
