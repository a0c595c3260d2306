"""Liveness across frames: each track's passive scores (stages.liveness) combined into one decision
(stages.liveness.track_score), for `faceprint watch --liveness` and for a short clip.

A print held up moves and bends and a replayed screen flickers: single frames of an attack can score
live, so a track is judged on all its frames, and only once it has MIN_TRACK_FRAMES of them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ..errors import LivenessError, NoFaceError
from ..stages.liveness import MIN_FACE_PX, MIN_TRACK_FRAMES, PassiveLiveness, fuse, track_score
from .events import Event
from .tracker import FaceTracker

MAX_CLIP_FRAMES = 600        # frames analysed in one clip (a minute at 10 fps)
KEEP_SCORES = 64             # a long track keeps its latest scores only


@dataclass
class TrackLiveness:
    """One track's liveness: per-frame scores, and once it has min_frames of them, the combined
    score and decision (before that score and live are None: undecided)."""
    track: int
    threshold: float
    min_frames: int = MIN_TRACK_FRAMES
    scores: list[float] = field(default_factory=list)
    frames: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0

    def add(self, score: float, t: float) -> None:
        if not self.frames:
            self.first_seen = t
        self.frames += 1
        self.last_seen = t
        self.scores.append(float(score))
        del self.scores[:-KEEP_SCORES]

    @property
    def score(self) -> float | None:
        return track_score(self.scores) if self.frames >= self.min_frames else None

    @property
    def live(self) -> bool | None:
        s = self.score
        return None if s is None else s >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        s = self.score
        return {"track": self.track, "frames": self.frames, "score": None if s is None else round(s, 4),
                "live": self.live, "threshold": self.threshold, "first_seen": round(self.first_seen, 3),
                "last_seen": round(self.last_seen, 3)}


def _frames_of(clip, fps: float | None) -> Iterator[tuple[float, np.ndarray]]:
    """(media seconds, BGR frame) from a video path, or from an iterable of frames at 10 fps (or
    of (seconds, frame) pairs)."""
    if isinstance(clip, (str, Path)):
        from .sources import FileSource
        source = FileSource(clip, fps=fps)
        if source.duration and source.duration * (fps or source.rate) > MAX_CLIP_FRAMES:
            raise LivenessError(f"{clip} is {source.duration:.0f} s long; liveness judges a short clip of at most "
                                f"{MAX_CLIP_FRAMES} analysed frames: cut it, or lower the frame rate (--fps)")
        for frame in source:
            yield frame.time, frame.image
        return
    step = 1.0 / (fps or 10.0)
    for i, item in enumerate(clip):
        yield item if isinstance(item, tuple) else (i * step, item)


def clip_liveness(clip: str | Path | Iterable, *, detector, liveness: PassiveLiveness, fps: float | None = None,
                  min_face: float = MIN_FACE_PX) -> list[TrackLiveness]:
    """One TrackLiveness per face track of a short clip (a video path, or frames), longest first.

    Raises NoFaceError when no frame holds a face at least min_face px wide, and LivenessError when
    no track has MIN_TRACK_FRAMES frames (a 1-frame clip, a face that never stays) or the clip is
    longer than MAX_CLIP_FRAMES analysed frames."""
    tracker = FaceTracker()
    tracks: dict[int, TrackLiveness] = {}
    n = 0
    for n, (t, image) in enumerate(_frames_of(clip, fps), start=1):
        if n > MAX_CLIP_FRAMES:
            raise LivenessError(f"the clip has more than {MAX_CLIP_FRAMES} frames; liveness judges a short clip: "
                                "cut it, or lower the frame rate")
        faces = [f for f in detector.detect([image])[0] if min(f.box[2], f.box[3]) >= min_face]
        tracked, _ = tracker.update(faces, t)
        if not tracked:
            continue
        scores = fuse(liveness.scores(image, [f for _, f in tracked]))
        for (tid, _), s in zip(tracked, scores):
            tracks.setdefault(tid, TrackLiveness(tid, liveness.threshold)).add(float(s), t)
    if n == 0:
        raise LivenessError("the clip has no frames")
    if not tracks:
        raise NoFaceError(f"no face at least {min_face:.0f} px wide in any of the clip's {n} frames")
    longest = max(tr.frames for tr in tracks.values())
    if longest < MIN_TRACK_FRAMES:
        raise LivenessError(f"no face stays for {MIN_TRACK_FRAMES} frames (the longest track has {longest} of "
                            f"the clip's {n} frames); judge a single photo instead, or give a longer clip")
    return sorted(tracks.values(), key=lambda tr: -tr.frames)


class LivenessCheck:
    """`watch --liveness`: every tracked face wide enough is scored on every analysed frame, and a
    track's "recognized" event is held until the track's liveness is decided; it then goes out as
    "recognized" (live) or "attack" (not live), with the track's live score. A track that ends
    before MIN_TRACK_FRAMES frames is judged on the frames it had."""

    def __init__(self, stage: PassiveLiveness, min_face: float = MIN_FACE_PX):
        self.stage = stage
        self.min_face = max(float(min_face), float(MIN_FACE_PX))
        self.tracks: dict[int, TrackLiveness] = {}
        self.held: dict[int, Event] = {}

    def observe(self, image: np.ndarray, tracked: list, t: float) -> None:
        wide = [(tid, f) for tid, f in tracked if min(f.box[2], f.box[3]) >= self.min_face]
        if not wide:
            return
        for (tid, _), s in zip(wide, fuse(self.stage.scores(image, [f for _, f in wide]))):
            self.tracks.setdefault(tid, TrackLiveness(tid, self.stage.threshold)).add(float(s), t)

    def hold(self, event: Event) -> None:
        self.held[event.track] = event

    def _verdict(self, track: int, final: bool) -> tuple[bool | None, float | None]:
        tl = self.tracks.get(track)
        if tl is None or not tl.frames:
            return (False, None) if final else (None, None)     # never seen wide enough: not judged live
        if tl.score is None and final:
            score = track_score(tl.scores)
            return score >= tl.threshold, score
        return tl.live, tl.score

    def release(self, final: int | None = None) -> list[Event]:
        """Held events whose track is now decided (and the `final` track's, decided on what it has)."""
        out = []
        for track in list(self.held):
            live, score = self._verdict(track, final == track)
            if live is None:
                continue
            e = self.held.pop(track)
            out.append(replace(e, event="recognized" if live else "attack", wall=time.time(), live=live,
                               live_score=score))
        return out

    def annotate(self, event: Event) -> Event:
        """An unknown / track_end event with the track's liveness (decided on the frames it had)."""
        live, score = self._verdict(event.track, True)
        return replace(event, live=live if score is not None else None, live_score=score)

    def forget(self, track: int) -> None:
        self.tracks.pop(track, None)
        self.held.pop(track, None)
