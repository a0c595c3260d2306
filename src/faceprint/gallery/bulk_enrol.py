"""Gallery's bulk write: many subjects' templates, each chosen by enroll()'s rules, in one transaction;
and the read a resumed bulk job starts from (the SHA-256 of every enrolled photo).
Both are Gallery methods (gallery.py binds them), so `gallery` is the Gallery they are called on."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import ModelMismatchError, UsageError
from ..types import Template
from . import enrolment
from .base import Skip


@dataclass(frozen=True)
class SubjectPhotos:
    """One subject's templates offered to enroll_many. best: how many more of them may be kept,
    highest quality first (None: every one the rules accept; 0: none, each is skipped as not_best)."""
    name: str
    templates: list[Template]
    best: int | None = None


@dataclass(frozen=True)
class SubjectOutcome:
    """What enroll_many did for one subject: the template ids added (none: the subject was not
    created, or gained nothing) and the templates skipped (Skip.index: position in its templates)."""
    name: str
    added: list[int] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


def enroll_many(gallery: Any, subjects: Sequence[SubjectPhotos], *, metadata: dict[str, Any] | None = None,
                force: bool = False) -> list[SubjectOutcome]:
    """Enrol several subjects in one transaction, each by Gallery.enroll's rules (duplicate and
    near-duplicate photos, the quality floor and masks unless force, best). A new subject whose
    photos are all skipped is not created; nothing raises for it, its skips say why."""
    gallery._check_writable()
    store = gallery.store
    if len({s.name for s in subjects}) != len(subjects):
        raise UsageError("enroll_many takes each subject once; merge its templates into one SubjectPhotos")
    outcomes, owners, kept = [], [], []
    for s in subjects:
        name = gallery._name(s.name)
        if not s.templates:
            outcomes.append(SubjectOutcome(name))
            continue
        if s.best is not None and (not isinstance(s.best, int) or s.best < 0):
            raise UsageError(f"best must be a whole number of photos, at least 0, not {s.best!r}")
        found = store.subject(name)
        keep, skipped = enrolment.choose(
            name, s.templates, sources=store.sources_of(name) if found else set(), force=force, best=s.best,
            have=store.vectors_of_subjects([found.id]).get(found.id) if found else None)
        outcomes.append(SubjectOutcome(name, skipped=skipped))
        owners += [(name, metadata)] * len(keep)
        kept += keep
    if not kept:
        return outcomes
    if len({t.model for t in kept}) != 1:
        raise ModelMismatchError(f"templates of several models given: {sorted({t.model for t in kept})}")
    vectors = np.vstack([t.vector for t in kept])
    gallery._claim_model(kept[0].model, vectors.shape[1])
    gallery._check_capacity(len(vectors))
    added = store.enroll_many(owners, vectors, [t.quality for t in kept], [t.source for t in kept])
    gallery.sync()
    return [SubjectOutcome(o.name, added.get(o.name, (0, []))[1], o.skipped) for o in outcomes]


def enrolled_sources(gallery: Any) -> dict[str, set[str]]:
    """{subject name: SHA-256s of the photos enrolled for it}, for every subject."""
    return gallery.store.enrolled_sources()
