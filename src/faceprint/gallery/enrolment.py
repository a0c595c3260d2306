"""Which of the templates offered for one subject a gallery stores, and why it skips each other one."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import quality
from ..embed import l2_normalise
from ..errors import ModelMismatchError, NoFaceError, UsageError
from ..types import Template
from .base import Skip

# Cosine above which a new template is the same photo again (a re-save, resize or small crop), not a
# new view of the face: bench/openset.py, "near_duplicates" in bench/results/openset_strangers_lfw_dup_fpir.json.
NEAR_DUPLICATE = 0.95


def templates_of(name: str, images: Any, engine: Callable[[], Any]) -> list[Template]:
    """The Templates given for subject `name`, or made from photos by engine() (the most prominent
    face of each); all of one model."""
    if isinstance(images, (str, Path, bytes, Template, np.ndarray)):
        images = [images]
    if not images:
        raise UsageError(f"no photos given for {name!r}")
    templates = []
    for im in images:
        if isinstance(im, Template):
            templates.append(im)
            continue
        try:
            templates.append(engine().template(im))
        except NoFaceError as exc:
            raise NoFaceError(f"{exc}; {name!r} was not enrolled") from None
    models = {t.model for t in templates}
    if len(models) != 1:
        raise ModelMismatchError(f"templates of several models given: {sorted(models)}")
    return templates


def choose(name: str, templates: list[Template], *, sources: set[str], have: np.ndarray | None, force: bool,
           best: int | None) -> tuple[list[Template], list[Skip]]:
    """(templates to store, skipped ones with the reason) for subject `name`, which already holds
    photos with these SHA-256 `sources` and the template vectors `have` (None: a new subject)."""
    have = np.zeros((0, templates[0].dim), np.float32) if have is None else l2_normalise(have)
    sources = set(sources)
    keep, skipped = [], []
    order = sorted(range(len(templates)), key=lambda i: -templates[i].quality) if best else range(len(templates))
    for i in order:
        t = templates[i]
        label = t.source or f"input {i}"
        vec = l2_normalise(t.vector[None])[0]
        nearest = float((have @ vec).max()) if len(have) else -1.0
        if t.source is not None and t.source in sources:
            skipped.append(Skip(i, label, "this photo is already enrolled for this subject", "duplicate"))
        elif nearest > NEAR_DUPLICATE:
            skipped.append(Skip(i, label, f"nearly identical to a template {name!r} already has "
                                          f"(cosine {nearest:.3f} > {NEAR_DUPLICATE})", "near_duplicate"))
        elif not force and (refusal := quality.enrolment_refusal(t)):
            skipped.append(Skip(i, label, refusal[1], refusal[0]))
        elif best is not None and len(keep) >= best:
            skipped.append(Skip(i, label, f"only the {best} best-quality photo(s) are enrolled; this one's "
                                          f"quality is {t.quality:.2f}", "not_best"))
        else:
            keep.append(t)
            have = np.vstack([have, vec[None]])
            if t.source is not None:
                sources.add(t.source)
    return keep, sorted(skipped)
