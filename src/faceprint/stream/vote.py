"""Per-track evidence: a quality gate on each face, the best templates of the track, and a
quality-weighted vote that decides once, with the gallery's open-set rule."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import quality
from ..types import Face, Identification, Template


@dataclass(frozen=True)
class Gate:
    """Which faces are worth a template: wide enough, confidently detected, not turned away, sharp."""
    min_face: float = 40.0        # box width in pixels
    min_score: float = 0.7        # detector confidence
    max_yaw: float = 0.6          # faceprint.quality.yaw_proxy: 0 frontal, 1 nose over one eye
    min_sharpness: float = 0.15   # faceprint.quality sharpness factor of the aligned crop, 0..1

    def before_embedding(self, face: Face) -> bool:
        return (float(face.box[2]) >= self.min_face and face.score >= self.min_score
                and quality.yaw_proxy(face) <= self.max_yaw)

    def after_embedding(self, t: Template) -> bool:
        return t.quality_detail.get("sharpness", 1.0) >= self.min_sharpness


@dataclass(eq=False)
class Sample:
    template: Template
    weight: float
    top: str | None = None        # this sample's own rank-1 subject, once searched


@dataclass
class TrackVote:
    """Evidence about one track. Templates live only as long as the track (never stored)."""
    track: int
    first_seen: float
    max_samples: int = 8
    slow_rate: float = 2.0
    last_sample_time: float = float("-inf")
    samples: list[Sample] = field(default_factory=list)
    decision: Identification | None = None
    best_score: float | None = None
    best_crop: tuple[float, np.ndarray] | None = None   # (quality, image), kept only for --save-unknown
    last_face: Face | None = None
    last_time: float = 0.0
    last_frame: int = 0

    @property
    def decided(self) -> bool:
        return self.decision is not None

    def wants(self, face: Face, t: float) -> bool:
        """A new template is worth computing while undecided, until max_samples are kept; after that
        (a long undecided track: most likely someone not enrolled) at most `slow_rate` per second, and
        only for a face likely better than the weakest kept sample, to bound the CPU it costs."""
        if self.decided:
            return False
        if len(self.samples) < self.max_samples:
            return True
        if t - self.last_sample_time < 1.0 / self.slow_rate:
            return False
        return face.score * quality.eye_distance(face) > min(
            s.template.face.score * quality.eye_distance(s.template.face) for s in self.samples)

    def add(self, t: Template, now: float) -> None:
        self.last_sample_time = now
        self.samples.append(Sample(t, max(float(t.quality), 0.05)))
        if len(self.samples) > self.max_samples:
            del self.samples[int(np.argmin([s.weight for s in self.samples]))]

    def masked(self) -> bool | None:
        """Whether the kept faces, by weight, mostly wear a mask; None where none was assessed."""
        flags = [(m, s.weight) for s in self.samples if (m := s.template.is_masked) is not None]
        if not flags:
            return None
        return sum(w for m, w in flags if m) > 0.5 * sum(w for _, w in flags)

    def fused(self) -> Template:
        """The quality-weighted mean of the kept templates, re-normalised (template averaging), over
        the kind holding most of the weight: unmasked templates (a masked face's, scoring.masks.unmask)
        or the others, as their scores are read on different scales until equalised."""
        unmasked = [s.template.unmasked for s in self.samples]
        majority = sum(s.weight for s, u in zip(self.samples, unmasked) if u) > 0.5 * sum(s.weight for s in self.samples)
        kept = [s for s, u in zip(self.samples, unmasked) if u == majority]
        w = np.array([s.weight for s in kept], np.float32)
        v = (np.vstack([s.template.vector for s in kept]) * w[:, None]).sum(0)
        v /= max(float(np.linalg.norm(v)), 1e-12)
        best = max(kept, key=lambda s: s.weight).template
        p_masked = [(s.template.masked, s.weight) for s in kept if s.template.masked is not None]
        masked = sum(p * wt for p, wt in p_masked) / sum(wt for _, wt in p_masked) if p_masked else None
        return Template(vector=v.astype(np.float32), model=best.model, quality=float(w.mean()), face=best.face,
                        masked=masked, unmasked=majority)


@dataclass(frozen=True)
class VotePolicy:
    """When a track's vote is confident: at least min_samples templates, the fused template passes
    the open-set threshold, and samples holding at least `agreement` of the weight rank the same
    subject first."""
    min_samples: int = 2
    agreement: float = 0.6


def decide(votes: list[TrackVote], gallery, policy: VotePolicy, *, fpir: float | None,
           threshold: float | None) -> list[TrackVote]:
    """Search once for every undecided track with new evidence; returns the tracks decided now."""
    pending = [v for v in votes if not v.decided and len(v.samples) >= 1]
    if not pending:
        return []
    probes: list[Template] = []
    unsearched: list[list[Sample]] = []
    for v in pending:
        new = [s for s in v.samples if s.top is None]
        unsearched.append(new)
        probes.append(v.fused())
        probes.extend(s.template for s in new)
    results = gallery.identify(probes, k=1, fpir=fpir, threshold=threshold)
    decided, pos = [], 0
    for v, new in zip(pending, unsearched):
        fused = results[pos]
        for s, r in zip(new, results[pos + 1:pos + 1 + len(new)]):
            s.top = r.candidates[0].subject.name if r.candidates else ""
        pos += 1 + len(new)
        if fused.candidates:
            v.best_score = max(v.best_score or -1.0, fused.candidates[0].score)
        if fused.decision is None or len(v.samples) < policy.min_samples:
            continue
        name = fused.decision.subject.name
        total = sum(s.weight for s in v.samples)
        if sum(s.weight for s in v.samples if s.top == name) >= policy.agreement * total:
            v.decision = fused
            decided.append(v)
    return decided
