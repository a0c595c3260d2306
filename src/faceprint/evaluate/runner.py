"""Runs the engine over a protocol's images and scores the result."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..engine import Engine, pick_face
from ..errors import FaceprintError
from ..match import similarity
from . import metrics
from .protocols import lfw_pairs


def image_templates(engine: Engine, paths: list[Path], *, select: str = "center",
                    progress: bool = True) -> tuple[dict[Path, np.ndarray | None], list[float]]:
    """Template of the selected face of each image (None when no face is found) and ms per image."""
    out: dict[Path, np.ndarray | None] = {}
    timings = []
    for p in tqdm(paths, desc=f"templates ({engine.model_id})", unit="img", disable=not progress):
        t0 = time.perf_counter()
        try:
            img = engine.load(p)
        except FaceprintError:
            out[p] = None
            continue
        faces = engine.detector.detect([img])[0]
        if faces:
            out[p] = engine.templates_for(img, [faces[pick_face(faces, img.shape, select)]])[0].vector
            timings.append((time.perf_counter() - t0) * 1000)
        else:
            out[p] = None
    return out, timings


def evaluate_lfw(engine: Engine, data: str | Path, *, folds: list[int] | None = None,
                 progress: bool = True) -> dict:
    pairs = lfw_pairs(data, folds)
    paths = sorted({p for pr in pairs for p in (pr.a, pr.b)})
    templates, timings = image_templates(engine, paths, progress=progress)
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
