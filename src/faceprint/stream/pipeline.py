"""watch(source, gallery): frames -> faces -> tracks -> per-track vote -> events.

Per analysed frame: detect every face, follow them with the tracker, compute templates only for
undecided tracks' faces that pass the quality gate, and let each track's vote decide once. Events
are yielded in order and copied to the sinks."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..errors import ModelMismatchError, UsageError
from ..progress import progress
from ..stages.liveness import PassiveLiveness
from ..types import Face
from .liveness import LivenessCheck
from .sinks import AnnotatedVideo, Event, sink_failed
from .sources import FileSource, Frame, LiveSource, Status, open_source
from .tracker import FaceTracker
from .vote import Gate, TrackVote, VotePolicy, decide


class Watcher:
    """An iterator of Events over one source. stats: frames analysed, frames dropped by a live
    source's reader (it fell behind), tracks, events by type. close() stops the reader and the sinks
    (iterating to the end, or leaving a `with` block, does it)."""

    def __init__(self, source, *, gallery, engine=None, fpir: float | None = None,
                 threshold: float | None = None, fps: float | None = 10.0, min_face: float = 40.0,
                 sinks: list | None = None, output: str | Path | None = None,
                 save_unknown: str | Path | None = None, progress: bool = False, threads: int | None = None,
                 policy: VotePolicy = VotePolicy(), gate: Gate | None = None, max_backoff: float = 10.0,
                 detect_width: int = 640, liveness: PassiveLiveness | None = None):
        if fps is not None and not fps > 0:
            raise UsageError(f"fps must be above 0 (or None for every frame), not {fps}")
        if not min_face >= 0:
            raise UsageError(f"min_face must be 0 or more pixels, not {min_face}")
        self.gallery = gallery
        self.engine = engine or gallery.engine or _engine_for(gallery)
        if gallery.model and self.engine.model_id != gallery.model:
            raise ModelMismatchError(f"the gallery holds {gallery.model!r} templates but the engine makes "
                                     f"{self.engine.model_id!r} ones; use the gallery's model (--embedder/--flip)")
        self.fpir, self.threshold = fpir, threshold
        self.fps = fps
        self.detect_width = detect_width
        self.policy = policy
        self.gate = gate or Gate(min_face=min_face)
        self.sinks = list(sinks or [])
        # liveness: a recognised track's event waits for its liveness decision (stream.liveness).
        self._liveness = LivenessCheck(liveness, min_face) if liveness is not None else None
        self.save_unknown = Path(save_unknown) if save_unknown else None
        self.source = source if isinstance(source, (FileSource, LiveSource)) else open_source(
            source, fps=fps, threads=threads, max_backoff=max_backoff)
        self.name = self.source.name
        _warm_up(self.engine)
        self._video = AnnotatedVideo(output, fps or 10.0) if output else None
        self._progress = progress
        self.stats = {"frames": 0, "dropped": 0, "tracks": 0, "events": {}, "seconds": 0.0}
        self._closed = False

    # -- iteration --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Event]:
        try:
            yield from self._run()
        finally:
            self.close()

    def __enter__(self) -> "Watcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _emit(self, event: Event) -> Event:
        self.stats["events"][event.event] = self.stats["events"].get(event.event, 0) + 1
        for sink in self.sinks:
            try:
                sink.emit(event)
            except Exception as exc:   # a failing sink never stops the watcher
                sink_failed(sink, exc)
        return event

    def _run(self) -> Iterator[Event]:
        tracker = FaceTracker()
        votes: dict[int, TrackVote] = {}
        started = time.perf_counter()
        src = self.source
        expected = None
        if src.duration:
            expected = round(src.duration * self.fps) if self.fps else src.total_frames
        for item in progress(src, desc="watching", unit="frame", total=expected,
                             enabled=self._progress and not src.live):
            if isinstance(item, Status):
                if item.event == "source_lost":   # a track lives within one unbroken stream (ids go on)
                    for tid in tracker.end_all():
                        yield from self._end(votes.pop(tid, None))
                yield self._emit(Event(item.event, self.name, item.time, time.time(), reason=item.reason or None))
                continue
            frame: Frame = item
            faces = self._detect(frame.image)
            tracked, ended = tracker.update(faces, frame.time)
            self.stats["frames"] += 1
            yield from self._frame(frame, tracked, votes)
            for tid in ended:
                yield from self._end(votes.pop(tid, None))
            self.stats["dropped"] = self.source.dropped
        for tid in tracker.end_all():
            yield from self._end(votes.pop(tid, None))
        self.stats["seconds"] = round(time.perf_counter() - started, 3)

    def _detect(self, image: np.ndarray) -> list[Face]:
        """Detect on a copy scaled down to about detect_width pixels (HD frames cost several times
        more at full size), but never so far that a min_face face falls under 20 px; boxes and
        landmarks come back in full-resolution pixels, and templates are cut from the full frame."""
        h, w = image.shape[:2]
        s = min(1.0, max(self.detect_width / max(w, h), 20.0 / max(self.gate.min_face, 1.0)))
        if s >= 0.95:
            return self.engine.detector.detect([image])[0]
        small = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        return [Face(box=f.box / s, landmarks=f.landmarks / s, score=f.score)
                for f in self.engine.detector.detect([small])[0]]

    def _frame(self, frame: Frame, tracked: list, votes: dict[int, TrackVote]) -> Iterator[Event]:
        to_embed: list[tuple[TrackVote, object]] = []
        for tid, face in tracked:
            v = votes.get(tid)
            if v is None:
                v = votes[tid] = TrackVote(tid, first_seen=frame.time)
                self.stats["tracks"] += 1
            v.last_face, v.last_time, v.last_frame = face, frame.time, frame.index
            if v.wants(face, frame.time) and self.gate.before_embedding(face):
                to_embed.append((v, face))
        if self._liveness is not None:
            self._liveness.observe(frame.image, tracked, frame.time)
        changed = []
        if to_embed:
            templates = self.engine.templates_for(frame.image, [f for _, f in to_embed])
            for (v, face), tpl in zip(to_embed, templates):
                if self.gate.after_embedding(tpl):
                    v.add(tpl, frame.time)
                    changed.append(v)
                    if self.save_unknown is not None:
                        self._keep_crop(v, frame.image, face, tpl.quality)
        for v in decide(changed, self.gallery, self.policy, fpir=self.fpir, threshold=self.threshold):
            v.best_crop = None
            m = v.decision.decision
            e = Event("recognized", self.name, frame.time, time.time(), track=v.track, subject=m.subject.name,
                      score=float(m.score), first_seen=v.first_seen, frame=frame.index, box=_box(v.last_face),
                      masked=v.masked(), samples=len(v.samples))
            if self._liveness is None:
                yield self._emit(e)
            else:
                self._liveness.hold(e)
        for e in self._liveness.release() if self._liveness is not None else []:
            yield self._emit(e)
        if self._video is not None:
            labels = []
            for tid, face in tracked:
                v = votes[tid]
                d = v.decision.decision if v.decided else None
                labels.append((face.box, f"#{tid} {d.subject.name} {d.score:.2f}" if d else f"#{tid} ?", d is not None))
            self._video.write(frame.image, labels)

    def _end(self, v: TrackVote | None) -> Iterator[Event]:
        if v is None:
            return
        live = self._liveness
        for e in live.release(final=v.track) if live is not None else []:
            yield self._emit(e)
        common = dict(track=v.track, first_seen=v.first_seen, frame=v.last_frame,
                      box=_box(v.last_face) if v.last_face is not None else None, masked=v.masked(),
                      samples=len(v.samples))
        if not v.decided and len(v.samples) >= self.policy.min_samples:
            e = Event("unknown", self.name, v.last_time, time.time(), score=v.best_score, **common)
            yield self._emit(live.annotate(e) if live is not None else e)
            if v.best_crop is not None and self.save_unknown is not None:
                self.save_unknown.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(self.save_unknown / f"track{v.track:06d}_{v.first_seen:09.2f}s.jpg"), v.best_crop[1])
        if v.decided or len(v.samples) >= self.policy.min_samples:
            subject = v.decision.decision.subject.name if v.decided else None
            e = Event("track_end", self.name, v.last_time, time.time(), subject=subject, **common)
            yield self._emit(live.annotate(e) if live is not None else e)
        if live is not None:
            live.forget(v.track)
        v.samples.clear()   # templates of the track go with it

    def _keep_crop(self, v: TrackVote, image: np.ndarray, face, q: float) -> None:
        if v.best_crop is not None and v.best_crop[0] >= q:
            return
        x, y, w, h = (float(c) for c in face.box)
        m = 0.3 * max(w, h)
        x0, y0 = max(0, int(x - m)), max(0, int(y - m))
        x1, y1 = min(image.shape[1], int(x + w + m)), min(image.shape[0], int(y + h + m))
        v.best_crop = (q, image[y0:y1, x0:x1].copy())

    def stop(self) -> None:
        """Finish early (from another thread or a signal handler): open tracks still end with their
        events, then iteration stops."""
        self.source.stop()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.source.close()
        if self._video is not None:
            self._video.close()
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                sink_failed(sink, exc)


def _engine_for(gallery):
    from ..engine import Engine
    return Engine.for_model(gallery.model)


def _warm_up(engine) -> None:
    """Run both models once: their first call allocates (hundreds of ms) and would delay the first
    decision on a live stream."""
    img = np.zeros((360, 640, 3), np.uint8)
    engine.detector.detect([img])
    lm = np.array([[300, 160], [340, 160], [320, 180], [305, 200], [335, 200]], np.float32)
    engine.templates_for(img, [Face(box=np.array([290, 130, 60, 80], np.float32), landmarks=lm, score=1.0)])


def _box(face) -> list[float]:
    return [round(float(c), 1) for c in face.box]


def watch(source, *, gallery, engine=None, fpir: float | None = None, threshold: float | None = None,
          fps: float | None = 10.0, min_face: float = 40.0, sinks: list | None = None,
          output: str | Path | None = None, save_unknown: str | Path | None = None,
          progress: bool = False, threads: int | None = None, **options) -> Watcher:
    """Recognise the people in a video file, webcam (index) or stream URL, one event per track.

    for event in watch("rtsp://cam/stream", gallery=Gallery.open("staff.db")): ...

    fpir / threshold: the open-set decision, as for Gallery.identify (default: the gallery's FPIR).
    fps: frames analysed per second of media (None: every frame). min_face: narrowest face (px) used
    for recognition. sinks: objects with emit(event)/close() (see faceprint.stream.sinks). output:
    write an annotated video. save_unknown: keep one best crop per unknown track in this folder
    (off by default: nothing of unknown people is stored). Raises SourceError (a FaceprintError)
    when the source cannot be opened.
    """
    return Watcher(source, gallery=gallery, engine=engine, fpir=fpir, threshold=threshold, fps=fps,
                   min_face=min_face, sinks=sinks, output=output, save_unknown=save_unknown,
                   progress=progress, threads=threads, **options)
