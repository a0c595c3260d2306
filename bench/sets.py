"""The evaluation sets the accuracy benchmarks share: LFW and CFP templates from the template cache,
their identities, and the people split that every fitted resource uses (fit on A, report on B).

Split: a person is in A or B by the CRC-32 of their name (LFW: the folder name after merging
bench/lfw_label_noise.txt; CFP: "cfp/<id>"), so the split is the same in every script and on every
machine, and no person's photos of one set are on both sides. 205 CFP people are in LFW too
(canonical_names); the split is per set, so one of them may be A in one set and B in the other:
fits measured within one set are unaffected, and 1:N galleries across sets match them by name.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from common import DATA

from faceprint.evaluate import calibration
from faceprint.evaluate.cache import TemplateCache
from faceprint.evaluate.protocols import cfp_identities, cfp_pairs, identity_folders, lfw_pairs
from faceprint.evaluate.runner import image_templates
from faceprint.scoring import threshold_at_fmr, threshold_for_fmr  # noqa: F401  (the scripts' one import)

LABEL_NOISE = Path(__file__).with_name("lfw_label_noise.txt")
SPLIT = "crc32(name) % 2: 0 = A (fit), 1 = B (held out)"


def fit_side(name: str) -> bool:
    """True for people in A, the half every resource is fitted on."""
    return zlib.crc32(name.encode()) % 2 == 0


@dataclass
class PhotoSet:
    """The photos of one set that have a face: their templates, identities and quality records."""
    name: str
    paths: list[Path]
    vectors: np.ndarray
    identities: np.ndarray
    quality: list[dict]
    views: np.ndarray                      # "frontal" / "profile" (CFP), "" (LFW)
    failed: list[Path] = field(default_factory=list)     # no face found
    total: int = 0

    @property
    def fit(self) -> np.ndarray:
        return np.array([fit_side(i) for i in self.identities])

    def index(self) -> dict[Path, int]:
        return {p: i for i, p in enumerate(self.paths)}

    def subset(self, keep: np.ndarray) -> "PhotoSet":
        keep = np.flatnonzero(keep) if keep.dtype == bool else keep
        return PhotoSet(self.name, [self.paths[i] for i in keep], self.vectors[keep], self.identities[keep],
                        [self.quality[i] for i in keep], self.views[keep], total=len(keep))


def lfw_photos() -> tuple[list[Path], list[str], list[str]]:
    """Every LFW photo (13,233): (paths, identities merged for LFW's label noise, views "")."""
    people = identity_folders(DATA / "lfw" / "lfw-deepfunneled")
    paths = sorted(p for imgs in people.values() for p in imgs)
    names = calibration.merge_identities(np.array([p.parent.name for p in paths]),
                                         calibration.read_same_person(LABEL_NOISE))
    return paths, [str(n) for n in names], [""] * len(paths)


def cfp_photos() -> tuple[list[Path], list[str], list[str]]:
    """Every CFP photo (500 people, 10 frontal + 4 profile each): (paths, identities, views)."""
    people = cfp_identities(DATA / "cfp")
    pairs = sorted((p, name) for name, imgs in people.items() for p in imgs)
    return [p for p, _ in pairs], [n for _, n in pairs], [p.parent.name for p, _ in pairs]


def canonical_names(identities) -> np.ndarray:
    """Identities as person names across sets: CFP's "cfp/<id>" becomes its LFW-style name
    (Data/list_name.txt, spaces as underscores; misspelt ones mapped by bench/cfp_lfw_same_person.txt):
    205 of CFP's 500 people are also in LFW."""
    names = [ln.strip().replace(" ", "_") for ln in (DATA / "cfp" / "Data" / "list_name.txt").read_text().splitlines()]
    alias = dict(calibration.read_same_person(Path(__file__).with_name("cfp_lfw_same_person.txt")))
    names = [alias.get(n, n) for n in names]
    return np.array([names[int(i[4:]) - 1] if str(i).startswith("cfp/") else i for i in identities])


def _photo_set(name: str, engine, photos, cache) -> PhotoSet:
    paths, names, views = photos
    ts = image_templates(engine, paths, cache=cache or TemplateCache())
    ok = [i for i, p in enumerate(paths) if ts.vectors[p] is not None]
    return PhotoSet(name, [paths[i] for i in ok], np.vstack([ts.vectors[paths[i]] for i in ok]).astype(np.float32),
                    np.array([names[i] for i in ok]), [ts.quality[paths[i]] for i in ok],
                    np.array([views[i] for i in ok]), [p for p in paths if ts.vectors[p] is None], len(paths))


def lfw_set(engine, cache: TemplateCache | None = None) -> PhotoSet:
    return _photo_set("LFW", engine, lfw_photos(), cache)


def cfp_set(engine, cache: TemplateCache | None = None) -> PhotoSet:
    return _photo_set("CFP", engine, cfp_photos(), cache)


def protocol_pairs(name: str) -> list:
    """pairs.txt (LFW) or the CFP FF / FP splits."""
    if name == "LFW":
        return lfw_pairs(DATA / "lfw")
    return cfp_pairs(DATA / "cfp", name.split("-")[1])


def nonmated_of(s: PhotoSet, protocol: str, keep: np.ndarray | None = None, cap: int = 10) -> calibration.NonMated:
    """Every cross-identity comparison a protocol's pairs stand for: LFW all photos (at most `cap` per
    person), CFP-FF frontal x frontal, CFP-FP frontal x profile, CFP every photo; only rows in
    `keep` (a boolean mask, e.g. the held-out people)."""
    keep = np.ones(len(s.paths), bool) if keep is None else keep
    if protocol == "CFP":
        return calibration.nonmated_scores(s.vectors[keep], s.identities[keep])
    if protocol == "LFW":
        rows = np.flatnonzero(keep)
        rows = rows[calibration.cap_per_identity(s.identities[rows], cap)]
        return calibration.nonmated_scores(s.vectors[rows], s.identities[rows])
    front = np.flatnonzero(keep & (s.views == "frontal"))
    if protocol == "CFP-FF":
        return calibration.nonmated_scores(s.vectors[front], s.identities[front])
    prof = np.flatnonzero(keep & (s.views == "profile"))
    return calibration.nonmated_scores(s.vectors[front], s.identities[front], gallery=s.vectors[prof],
                                       gallery_identities=s.identities[prof])


def pair_scores_of(s: PhotoSet, pairs: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores, mated, folds) of protocol pairs; a pair with a photo without a face scores -1."""
    idx = s.index()
    scores = np.array([float(s.vectors[idx[p.a]] @ s.vectors[idx[p.b]]) if p.a in idx and p.b in idx else -1.0
                       for p in pairs])
    return scores, np.array([p.mated for p in pairs]), np.array([p.fold for p in pairs])
