"""Presentation-attack detection metrics as ISO/IEC 30107-3 defines them, and the dataset walker.

APCER of one attack type (PAI species): the share of its attack presentations judged live; the
APCER reported is the worst type's. BPCER: the share of live presentations judged attacks. ACER:
their mean (dropped from the 2023 edition of the standard, still what papers quote). Every rate is
per subject first and then averaged over subjects, so one subject's many frames cannot hide
another's failures; frame-pooled rates are reported beside them.

Datasets: folders named `live` (bona fide) and `*attack*` (one attack type per folder name) at any
depth; the subject of an image is the path between the dataset root and its class folder, and its
first folder inside the class folder (NUAA: live/0001/x.jpg and print_attack/0001/y.jpg are both
subject 0001).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import UsageError
from ..stages.liveness import fuse

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
LIVE = "live"
BPCER_POINTS = (0.01, 0.05, 0.10)


@dataclass(frozen=True)
class PadSample:
    """One presentation: its image, the attack type (None: live) and its subject."""
    path: Path
    attack: str | None
    subject: str

    @property
    def live(self) -> bool:
        return self.attack is None


def _class_of(part: str) -> str | None:
    low = part.lower()
    if low == LIVE:
        return LIVE
    return part if "attack" in low else None


def walk(root: str | Path) -> list[PadSample]:
    """Every image under `live/` and `*attack*/` folders below root, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder; give a folder holding live/ and *attack*/ folders")
    samples = []
    # os.walk skips a folder that vanishes or cannot be read mid-walk (Path.rglob raises on it).
    found = (Path(d) / f for d, _, files in os.walk(root, followlinks=True) for f in files)
    for path in sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        parts = path.relative_to(root).parts
        k = next((i for i, part in enumerate(parts[:-1]) if _class_of(part)), None)
        if k is None:
            continue
        kind = _class_of(parts[k])
        inner = parts[k + 1:-1]
        subject = "/".join([*parts[:k], *(inner[:1] or [Path(parts[-1]).stem])])
        samples.append(PadSample(path, None if kind == LIVE else kind, subject))
    if not any(s.live for s in samples) or all(s.live for s in samples):
        found = sorted({s.attack or LIVE for s in samples})
        raise UsageError(f"{root} needs images under both a live/ folder and an *attack*/ folder "
                         f"(found: {', '.join(found) or 'no images in either'})")
    return samples


@dataclass
class PadScores:
    """Scores (P(live), higher = more live) of presentations, with their attack type and subject."""
    scores: np.ndarray
    attacks: list[str | None]
    subjects: list[str]
    weights: np.ndarray = field(init=False)

    def __post_init__(self):
        self.scores = np.asarray(self.scores, float)
        if not (len(self.scores) == len(self.attacks) == len(self.subjects)):
            raise UsageError("scores, attack types and subjects must have one entry per presentation")
        self.weights = np.zeros(len(self.scores))

    @property
    def live(self) -> np.ndarray:
        return np.array([a is None for a in self.attacks], bool)

    @property
    def attack_types(self) -> list[str]:
        return sorted({a for a in self.attacks if a is not None})

    def subset(self, keep: np.ndarray) -> "PadScores":
        idx = np.flatnonzero(keep)
        return PadScores(self.scores[idx], [self.attacks[i] for i in idx], [self.subjects[i] for i in idx])

    def of_subjects(self, subjects: Iterable[str]) -> "PadScores":
        wanted = set(subjects)
        return self.subset(np.array([s in wanted for s in self.subjects], bool))

    def group_weights(self, sel: np.ndarray) -> np.ndarray:
        """Per-presentation weights over `sel` that give every subject the same total (sum 1)."""
        w = np.zeros(len(self.scores))
        subs = [self.subjects[i] for i in np.flatnonzero(sel)]
        if not subs:
            return w
        names, counts = np.unique(subs, return_counts=True)
        per = dict(zip(names, 1.0 / (counts * len(names))))
        for i in np.flatnonzero(sel):
            w[i] = per[self.subjects[i]]
        return w


def _rate(errors: np.ndarray, w: np.ndarray, sel: np.ndarray) -> float | None:
    return float(np.sum(w[sel] * errors[sel])) if sel.any() else None


def rates(data: PadScores, threshold: float) -> dict:
    """APCER per attack type, APCER (worst type), BPCER, ACER at one threshold (live if score >=
    threshold), subject-averaged, with the frame-pooled figures and each subject's own."""
    live = data.live
    accepted = data.scores >= threshold
    bpcer = _rate(~accepted, data.group_weights(live), live)
    per_type, pooled_type = {}, {}
    for t in data.attack_types:
        sel = np.array([a == t for a in data.attacks], bool)
        per_type[t] = _rate(accepted, data.group_weights(sel), sel)
        pooled_type[t] = float(np.mean(accepted[sel]))
    apcer = max(per_type.values()) if per_type else None
    subjects = {}
    for s in sorted(set(data.subjects)):
        mine = np.array([x == s for x in data.subjects], bool)
        types = [mine & np.array([a == t for a in data.attacks], bool) for t in data.attack_types]
        worst = [float(np.mean(accepted[sel])) for sel in types if sel.any()]
        subjects[s] = {"n_live": int((mine & live).sum()), "n_attack": int((mine & ~live).sum()),
                       "bpcer": float(np.mean(~accepted[mine & live])) if (mine & live).any() else None,
                       "apcer": max(worst) if worst else None}      # the subject's worst attack type
    return {
        "threshold": float(threshold), "apcer": apcer, "bpcer": bpcer,
        "acer": None if apcer is None or bpcer is None else (apcer + bpcer) / 2,
        "apcer_per_type": per_type,
        "pooled": {"apcer_per_type": pooled_type, "apcer": max(pooled_type.values()) if pooled_type else None,
                   "bpcer": float(np.mean(~accepted[live])) if live.any() else None},
        "worst_subject": {"bpcer": max((v["bpcer"] for v in subjects.values() if v["bpcer"] is not None), default=None),
                          "apcer": max((v["apcer"] for v in subjects.values() if v["apcer"] is not None), default=None)},
        "per_subject": subjects,
        "n_live": int(live.sum()), "n_attack": int((~live).sum()),
        "n_subjects": len(subjects),
    }


def threshold_for_bpcer(data: PadScores, bpcer: float) -> float:
    """The highest threshold whose subject-averaged BPCER on `data` is at most `bpcer` (live
    presentations scoring exactly the threshold are accepted)."""
    live = data.live
    if not live.any():
        raise UsageError("no live presentations to set a BPCER threshold on")
    s, w = data.scores[live], data.group_weights(live)[live]
    order = np.argsort(s)
    s, cum = s[order], np.cumsum(w[order])
    # Rejected below threshold s[i]: the weight of scores strictly below it.
    below = np.r_[0.0, cum[:-1]]
    ok = np.flatnonzero(below <= bpcer + 1e-12)
    return float(s[ok[-1]])


def det(data: PadScores) -> dict[str, list[float]]:
    """DET points (subject-averaged APCER of the worst type, BPCER) at every distinct score."""
    thresholds = np.unique(data.scores)
    live = data.live
    wl = data.group_weights(live)
    types = [np.array([a == t for a in data.attacks], bool) for t in data.attack_types]
    wt = [data.group_weights(sel) for sel in types]
    apcer, bpcer = [], []
    for t in thresholds:
        acc = data.scores >= t
        bpcer.append(float(np.sum(wl[live] * ~acc[live])))
        apcer.append(max(float(np.sum(w[sel] * acc[sel])) for w, sel in zip(wt, types)))
    return {"threshold": thresholds.tolist(), "apcer": apcer, "bpcer": bpcer}


def apcer_at_bpcer(data: PadScores, points: Sequence[float] = BPCER_POINTS) -> dict[str, dict]:
    """APCER (worst type) at the threshold that gives each BPCER on this data (an oracle threshold:
    it shows the separation, not what a fixed threshold achieves)."""
    out = {}
    for b in points:
        t = threshold_for_bpcer(data, b)
        r = rates(data, t)
        out[f"{b:g}"] = {"threshold": t, "apcer": r["apcer"], "bpcer": r["bpcer"]}
    return out


def summary(data: PadScores, threshold: float) -> dict:
    """Every figure `faceprint evaluate pad` reports at a threshold."""
    out = rates(data, threshold)
    out["apcer_at_bpcer"] = apcer_at_bpcer(data)
    out["det"] = det(data)
    return out


def subject_split(subjects: Iterable[str], fit_share: float = 0.5, seed: int = 0) -> tuple[list[str], list[str]]:
    """Subjects to fit on and subjects to report on (seeded, disjoint, both non-empty)."""
    names = sorted(set(subjects))
    if len(names) < 2:
        raise UsageError("a subject split needs at least two subjects")
    rng = np.random.default_rng(seed)
    order = [names[i] for i in rng.permutation(len(names))]
    k = min(max(1, round(len(names) * fit_share)), len(names) - 1)
    return sorted(order[:k]), sorted(order[k:])


@dataclass
class ScoredSet:
    """Per-model scores of a dataset's presentations with a face, and those without one."""
    samples: list[PadSample]               # the scored presentations, in data's order
    data: PadScores
    per_model: np.ndarray                  # (presentations, models) P(live)
    model_names: list[str]
    no_face: list[PadSample]
    unreadable: list[tuple[PadSample, str]]


def score_samples(samples: Sequence[PadSample], detector, liveness, *, limits=None) -> ScoredSet:
    """Liveness scores of the most prominent face of each sample (the largest detection); images
    without a face or that cannot be read are listed apart, never scored."""
    from ..errors import ImageError
    from ..imageio import DEFAULT_LIMITS, load_image

    kept, rows, no_face, unreadable = [], [], [], []
    for s in samples:
        try:
            img = load_image(s.path, limits=limits or DEFAULT_LIMITS)
        except ImageError as exc:
            unreadable.append((s, str(exc)))
            continue
        faces = detector.detect([img])[0]
        if not faces:
            no_face.append(s)
            continue
        face = max(faces, key=lambda f: f.area * f.score)
        rows.append(liveness.scores(img, [face])[0])
        kept.append(s)
    per_model = np.array(rows, float).reshape(len(rows), len(liveness.parts))
    data = PadScores(fuse(per_model) if len(rows) else np.zeros(0),
                     [s.attack for s in kept], [s.subject for s in kept])
    return ScoredSet(kept, data, per_model, [p.name for p in liveness.parts], no_face, unreadable)
