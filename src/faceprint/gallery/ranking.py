"""From template hits to ranked subjects, and from ranked subjects to open-set decisions."""
from __future__ import annotations

import numpy as np

from ..embed import l2_normalise
from ..scoring import equalise
from ..types import Identification, Match, Subject, Template


def centroids(vectors_by_subject: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Each subject's normalised mean template: a subject with several templates is scored by it
    (one comparison per subject, which the FPIR threshold assumes; README "LFW open set")."""
    return {sid: l2_normalise(v.mean(axis=0, keepdims=True))[0] for sid, v in vectors_by_subject.items()}


def rank(vecs: np.ndarray, unmasked: list[bool], scores: np.ndarray, ids: np.ndarray, *, k: int, model: str,
         owners: dict[int, tuple[int, str]], subjects: dict[int, Subject],
         means: dict[int, np.ndarray]) -> list[list[Match]]:
    """The k best subjects per probe from its template hits (ids, scores); `owners` maps template
    id -> (subject id, name). Unmasked probes' scores are equalised onto the clean scale."""
    out = []
    for vec, row_s, row_i, flag in zip(vecs, scores, ids, unmasked):
        best: dict[int, float] = {}
        for s, i in zip(row_s, row_i):
            if i < 0 or int(i) not in owners:
                continue
            sid = owners[int(i)][0]
            best[sid] = float(vec @ means[sid]) if sid in means else max(float(s), best.get(sid, -np.inf))
        if flag and best:
            best = dict(zip(best, (float(x) for x in equalise(list(best.values()), model))))
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:k]
        out.append([Match(subject=subjects[sid], score=s, rank=r + 1) for r, (sid, s) in enumerate(ranked)])
    return out


def decide(templates: list[Template], candidates: list[list[Match]], *, threshold: float, fpir: float | None,
           size: int) -> list[Identification]:
    """Each probe's open-set decision: its top candidate when it reaches the threshold, else none."""
    out = []
    for t, cands in zip(templates, candidates):
        decided = [Match(m.subject, m.score, m.rank, decision=(m.rank == 1 and m.score >= threshold)) for m in cands]
        top = decided[0] if decided and decided[0].decision else None
        out.append(Identification(face=t.face, candidates=decided, decision=top, threshold=float(threshold),
                                  fpir=fpir, gallery_size=size, masked=t.is_masked))
    return out
