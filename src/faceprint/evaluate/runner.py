"""Runs the engine over a protocol's images and scores the result."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..engine import Engine
from ..errors import FaceprintError
from ..progress import progress as progress_bar
from ..scoring import equalise_where
from ..util import sha256
from . import metrics
from .cache import TemplateCache


def pipeline_key(engine: Engine, select: str, transform_key: str = "") -> str:
    """Everything that changes a template or its quality record: the versions of what ran
    (Engine.versions: detector, embedder, face stages), the face choice and any image transform
    (e.g. a synthetic mask)."""
    return "|".join([engine.versions(), f"select={select}", *([transform_key] if transform_key else [])])


@dataclass
class TemplateSet:
    """Per image: the selected face's template (None = failure to enrol), its quality detail, and the
    template-creation times in ms (as measured when first computed; cached images keep theirs);
    `unmasked`: the images whose template was unmasked (Template.unmasked: scores equalised)."""
    vectors: dict[Path, np.ndarray | None]
    quality: dict[Path, dict]
    timings: list[float]
    computed: int = 0          # how many were not in the cache
    unmasked: set[Path] = field(default_factory=set)


Transform = Callable[[Engine, np.ndarray, Path], np.ndarray]


def image_templates(engine: Engine, paths: list[Path], *, select: str = "center", progress: bool = True,
                    cache: TemplateCache | None = None, transform: Transform | None = None,
                    transform_key: str = "") -> TemplateSet:
    """Template of the selected face of each image (after an optional image transform)."""
    key = pipeline_key(engine, select, transform_key)
    hashes = {p: sha256(p) for p in paths} if cache else {}
    cached = cache.get_many(list(set(hashes.values())), key) if cache else {}
    out = TemplateSet({}, {}, [])
    fresh = []
    todo = [p for p in paths if hashes.get(p) not in cached]
    out.computed = len(todo)
    for p in paths:
        if p in hashes and hashes[p] in cached:
            out.vectors[p], ms, record = cached[hashes[p]]
            out.quality[p] = record.get("detail", {})
            if record.get("unmasked"):
                out.unmasked.add(p)
            if ms is not None:
                out.timings.append(ms)
    for p in progress_bar(todo, desc=f"templates ({engine.model_id}{' ' + transform_key if transform_key else ''})",
                          unit="img", enabled=progress and bool(todo)):
        vec, ms, q, unmasked = None, None, {}, False
        try:
            img = engine.load(p)
            if transform is not None:
                img = transform(engine, img, p)
            a = engine.analyse(img, select=select, name=str(p))
            ms = a.detect_ms + a.template_ms
            t = a.template
            vec, q, unmasked = t.vector, {k: float(v) for k, v in t.quality_detail.items()}, t.unmasked
            out.timings.append(ms)
        except FaceprintError:        # no face (or an unreadable photo): a failure to enrol
            pass
        out.vectors[p], out.quality[p] = vec, q
        if unmasked:
            out.unmasked.add(p)
        if cache:
            fresh.append((hashes[p], vec, ms, {"detail": q, "unmasked": unmasked}))
    if cache and fresh:
        cache.put_many(fresh, key)
    return out


def pair_scores(pairs: list, a: dict[Path, np.ndarray | None], b: dict[Path, np.ndarray | None] | None = None) -> np.ndarray:
    """Cosine score of each pair, gallery side from `a`, probe side from `b` (default `a`); a pair
    with a failure to enrol on either side scores -1 (a certain non-match)."""
    b = a if b is None else b
    return np.array([float(a[p.a] @ b[p.b]) if a.get(p.a) is not None and b.get(p.b) is not None else -1.0
                     for p in pairs])


def template_pair_scores(pairs: list, model_id: str, a: TemplateSet, b: TemplateSet | None = None) -> np.ndarray:
    """pair_scores of two template sets, a pair with an unmasked template on either side
    equalised as scoring.compare does."""
    b = a if b is None else b
    unmasked = np.array([p.a in a.unmasked or p.b in b.unmasked for p in pairs], bool)
    return equalise_where(pair_scores(pairs, a.vectors, b.vectors), unmasked, model_id)


def search_metrics(gallery: dict[str, np.ndarray], mated: list[tuple[str, np.ndarray | None]],
                   nonmated: list[tuple[str, np.ndarray | None]], gallery_path: str | Path, *, model_id: str,
                   index: str = "Flat", fpirs: tuple[float, ...] = (0.003, 0.01, 0.1), max_rank: int = 20) -> dict:
    """Enrol `gallery` templates into a real Gallery, search every probe (None = failure to detect,
    a miss), and score CMC and FNIR at FPIR."""
    from ..gallery import Gallery

    dim = len(next(iter(gallery.values())))
    with Gallery.open(gallery_path, index=index, model=model_id, dim=dim, create=True) as g:
        g.add_templates(list(gallery), np.vstack(list(gallery.values())), model=model_id)
        probes = mated + nonmated
        vecs = [v for _, v in probes if v is not None]
        t0 = time.perf_counter()
        hits = iter(g.search_batch(np.vstack(vecs), k=max_rank)) if vecs else iter(())
        search_ms = (time.perf_counter() - t0) * 1000 / max(len(vecs), 1)
        results = [next(hits) if v is not None else [] for _, v in probes]
    ranks, rank1_scores = [], []
    for (name, _), cands in zip(mated, results[:len(mated)]):
        rank = next((m.rank for m in cands if m.subject.name == name), 0)
        ranks.append(rank)
        rank1_scores.append(cands[0].score if rank == 1 else -np.inf)
    non_top = np.array([c[0].score if c else -np.inf for c in results[len(mated):]])
    curve = metrics.cmc(np.array(ranks), max_rank)
    out = {
        "enrolled": len(gallery), "mated_searches": len(mated), "nonmated_searches": len(nonmated),
        "rank_1": curve[0], "rank_5": curve[4] if max_rank >= 5 else None, "cmc": curve,
        "search_ms_per_probe": round(search_ms, 3), "index": index,
    }
    if nonmated:
        out["fnir_at_fpir"] = {f"{f:g}": metrics.fnir_at_fpir(np.array(rank1_scores), non_top, f) for f in fpirs}
        ranks_arr, r1, n_m = np.array(ranks), np.array(rank1_scores), len(mated)
        both = np.r_[r1, non_top]
        groups = np.r_[np.zeros(n_m), np.ones(len(non_top))]
        out["ci95"] = {"rank_1": metrics.bootstrap_ci(lambda i: np.mean(ranks_arr[i] == 1), n_m),
                       "fnir_at_fpir_0.01": metrics.bootstrap_ci(
                           lambda i: metrics.fnir_at_fpir(both[i][groups[i] == 0], both[i][groups[i] == 1], 0.01)["fnir"],
                           len(both), groups=groups, reps=200)}
    return out
