"""Runs the engine over a protocol's images and scores the result."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..engine import Engine, pick_face
from ..errors import FaceprintError
from ..match import similarity
from . import metrics
from .cache import TemplateCache
from .protocols import IdentificationSplit, lfw_pairs


def pipeline_key(engine: Engine, select: str) -> str:
    """Everything that changes a template: detector, embedder (+flip), weights versions, face choice."""
    parts = [engine.detector.name, engine.model_id, f"select={select}"]
    for component in (engine.detector, engine.embedder):
        spec = getattr(component, "spec", None)
        if spec is not None:
            parts.append(f"{spec.package}=={spec.package_version}:{spec.files['weights']['sha256'][:12]}")
    return "|".join(parts)


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def image_templates(engine: Engine, paths: list[Path], *, select: str = "center", progress: bool = True,
                    cache: TemplateCache | None = None) -> tuple[dict[Path, np.ndarray | None], list[float]]:
    """Template of the selected face of each image (None when no face is found or the file is bad)
    and the per-image template-creation times in ms (cached images keep their first timing)."""
    key = pipeline_key(engine, select)
    hashes = {p: _file_hash(p) for p in paths} if cache else {}
    cached = cache.get_many(list(set(hashes.values())), key) if cache else {}
    out: dict[Path, np.ndarray | None] = {}
    timings, fresh = [], []
    todo = [p for p in paths if hashes.get(p) not in cached]
    for p in paths:
        if p in hashes and hashes[p] in cached:
            out[p], ms = cached[hashes[p]]
            if ms is not None:
                timings.append(ms)
    for p in tqdm(todo, desc=f"templates ({engine.model_id})", unit="img", disable=not progress or not todo):
        t0 = time.perf_counter()
        vec, ms = None, None
        try:
            img = engine.load(p)
            faces = engine.detector.detect([img])[0]
            if faces:
                vec = engine.templates_for(img, [faces[pick_face(faces, img.shape, select)]])[0].vector
                ms = (time.perf_counter() - t0) * 1000
                timings.append(ms)
        except FaceprintError:
            pass
        out[p] = vec
        if cache:
            fresh.append((hashes[p], vec, ms))
    if cache and fresh:
        cache.put_many(fresh, key)
    return out, timings


def evaluate_lfw(engine: Engine, data: str | Path, *, folds: list[int] | None = None,
                 progress: bool = True, cache: TemplateCache | None = None) -> dict:
    pairs = lfw_pairs(data, folds)
    paths = sorted({p for pr in pairs for p in (pr.a, pr.b)})
    templates, timings = image_templates(engine, paths, progress=progress, cache=cache)
    scores = np.array([
        float(similarity(templates[pr.a], templates[pr.b])[0, 0])
        if templates[pr.a] is not None and templates[pr.b] is not None else -1.0
        for pr in pairs])
    mated = np.array([pr.mated for pr in pairs])
    fold_ids = np.array([pr.fold for pr in pairs])
    result = {
        "protocol": "LFW view 2 (pairs.txt), threshold chosen on the other folds",
        "data": str(data),
        "detector": engine.detector.name,
        "embedder": engine.embedder.name,
        "model_id": engine.model_id,
        "flip": engine.flip,
        "pairs": len(pairs),
        "images": len(paths),
        "failures_to_detect": sum(v is None for v in templates.values()),
        "ms_per_face": float(np.median(timings)) if timings else None,
    }
    if len(np.unique(fold_ids)) > 1:
        result.update(metrics.kfold_accuracy(scores, mated, fold_ids))
    at3 = metrics.fnmr_at_fmr(scores, mated, 1e-3)
    result.update({
        "tar_at_far_1e-3": at3["tar"],
        "threshold_at_far_1e-3": at3["threshold"],
        "eer": metrics.eer(scores, mated),
        "scores": scores.tolist(),
        "mated": mated.tolist(),
        "folds": fold_ids.tolist(),
    })
    return result


def evaluate_identification(engine: Engine, split: IdentificationSplit, gallery_path: str | Path, *,
                            index: str = "Flat", progress: bool = True, cache: TemplateCache | None = None,
                            fpirs: tuple[float, ...] = (0.003, 0.01, 0.1), max_rank: int = 20) -> dict:
    """Enrol split.gallery into a real Gallery, search every probe, score rank-k and FNIR@FPIR."""
    from ..gallery import Gallery

    paths = sorted({*split.gallery.values(), *(p for _, p in split.mated), *(p for _, p in split.nonmated)})
    templates, timings = image_templates(engine, paths, progress=progress, cache=cache)
    enrolled = [(n, templates[p]) for n, p in split.gallery.items() if templates[p] is not None]
    with Gallery.open(gallery_path, index=index, model=engine.model_id, dim=engine.embedder.dim) as g:
        g.add_templates([n for n, _ in enrolled], np.vstack([v for _, v in enrolled]), model=engine.model_id)
        t0 = time.perf_counter()
        searchable = [(n, templates[p]) for n, p in split.mated + split.nonmated]
        probe_vecs = np.vstack([v for _, v in searchable if v is not None])
        hits = iter(g.search_batch(probe_vecs, k=max_rank))
        search_ms = (time.perf_counter() - t0) * 1000 / max(len(probe_vecs), 1)
        results = [next(hits) if v is not None else [] for _, v in searchable]
    n_mated = len(split.mated)
    ranks, rank1_scores = [], []
    for (name, _), cands in zip(split.mated, results[:n_mated]):
        rank = next((m.rank for m in cands if m.subject.name == name), 0)
        ranks.append(rank)
        rank1_scores.append(cands[0].score if rank == 1 else -np.inf)
    non_top = [c[0].score if c else -np.inf for c in results[n_mated:]]
    curve = metrics.cmc(np.array(ranks), max_rank)
    out = {
        "gallery_subjects": len(split.gallery), "enrolled": len(enrolled),
        "mated_searches": n_mated, "nonmated_searches": len(split.nonmated),
        "failures_to_enrol": len(split.gallery) - len(enrolled),
        "probe_failures_to_detect": sum(templates[p] is None for _, p in split.mated + split.nonmated),
        "rank_1": curve[0], "rank_5": curve[4] if max_rank >= 5 else None, "cmc": curve,
        "search_ms_per_probe": round(search_ms, 3), "template_ms_median": float(np.median(timings)) if timings else None,
        "index": index, "model_id": engine.model_id, "detector": engine.detector.name,
    }
    if split.nonmated:
        out["fnir_at_fpir"] = {str(f): metrics.fnir_at_fpir(np.array(rank1_scores), np.array(non_top), f)
                               for f in fpirs}
    return out
