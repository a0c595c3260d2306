"""One evaluation over a dataset for several models (single, fused, masked): the figures behind
`faceprint evaluate ... --report`. Templates come from the on-disk cache when present."""
from __future__ import annotations

import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..engine import Engine
from ..modelid import ModelRequest
from . import fusion, metrics
from .cache import TemplateCache
from .datasets import Dataset
from .groups import differentials
from .masks import mask_transform
from .protocols import IdentificationSplit, identification_split
from .runner import TemplateSet, image_templates, search_metrics, template_pair_scores

MASK_SEED = 0


def one_core_ms(engine: Engine, paths: list[Path], cache: TemplateCache | None = None, n: int = 20) -> float:
    """Median template-creation time on one core (NIST's measure) over a sample of images; kept in
    the cache with the templates, so a warm re-run reports the figure measured the first time."""
    from ..errors import NoFaceError
    from .runner import pipeline_key
    key = pipeline_key(engine, "center") + f"|one-core|{n}"
    if cache is not None and (known := cache.get_timing(key)) is not None:
        return known
    cv2.setNumThreads(1)
    times = []
    try:
        for p in paths[:n]:
            img = engine.load(p)
            try:
                a = engine.analyse(img, select="center", name=str(p))
            except NoFaceError:
                continue
            times.append(a.detect_ms + a.template_ms)
    finally:
        cv2.setNumThreads(cv2.getNumberOfCPUs())
    ms = float(np.median(times)) if times else float("nan")
    if cache is not None:
        cache.put_timing(key, ms)
    return ms


def calibrated_thresholds(model_id: str | None) -> dict[float, float] | None:
    """The manifest's FMR -> threshold table for a model id, or None when it has none."""
    from ..errors import ModelError
    from ..scoring import threshold_for_fmr
    if model_id is None:
        return None
    try:
        return {f: threshold_for_fmr(model_id, f) for f in metrics.FMR_GRID}
    except ModelError:
        return None


def verification_metrics(scores: np.ndarray, mated: np.ndarray, folds: np.ndarray,
                         thresholds: dict[float, float] | None = None) -> dict:
    """1:1 figures. With `thresholds` (the manifest's calibrated table), FNMR at FMR f is read at the
    calibrated threshold for f, the same number `verify` uses, and the FMR this set actually shows
    at it is reported beside; without, thresholds come from this set's own non-mated scores (which
    resolve FMR down to 1 / their count only)."""
    out = {}
    if len(np.unique(folds)) > 1:
        out.update(metrics.kfold_accuracy(scores, mated, folds))
    groups = mated.astype(int)
    if thresholds:
        thr3 = thresholds[1e-3]
        fnmr_at = {f"{f:g}": metrics.rates_at_threshold(scores, mated, t)[1] for f, t in thresholds.items()}
        out["threshold_source"] = "model manifest (bench/calibrate.py)"
        out["fmr_observed_at_calibrated"] = {f"{f:g}": metrics.rates_at_threshold(scores, mated, t)[0]
                                             for f, t in thresholds.items()}

        def fnmr3(i):
            return metrics.rates_at_threshold(scores[i], mated[i], thr3)[1]
    else:
        thr3 = metrics.fnmr_at_fmr(scores, mated, 1e-3)["threshold"]
        fnmr_at = metrics.fnmr_at_fmrs(scores, mated)
        out["threshold_source"] = "this set's non-mated scores"

        def fnmr3(i):
            return metrics.fnmr_at_fmr(scores[i], mated[i], 1e-3)["fnmr"]
    fnmr = metrics.rates_at_threshold(scores, mated, thr3)[1]
    out.update({
        "tar_at_far_1e-3": 1.0 - fnmr, "threshold_at_far_1e-3": thr3,
        "eer": metrics.eer(scores, mated),
        "fnmr_at_fmr": fnmr_at,
        "mated_pairs": int(mated.sum()), "nonmated_pairs": int((~mated).sum()),
        "ci95": {
            "fnmr_at_fmr_1e-3": metrics.bootstrap_ci(fnmr3, len(scores), groups=groups, reps=200),
            "eer": metrics.bootstrap_ci(lambda i: metrics.eer(scores[i], mated[i]), len(scores), groups=groups, reps=100),
        },
    })
    if "fold_accuracies" in out:
        accs = np.array(out["fold_accuracies"])
        out["ci95"]["accuracy_mean"] = metrics.bootstrap_ci(lambda i: float(np.mean(accs[i])), len(accs))
    return out


def _quality_bins(scores, mated, pairs, quality_detail, threshold) -> dict:
    """FNMR of mated pairs at the 1:1 threshold, in quartiles of the weaker photo's quality score and
    of each of its measures (which one predicts errors best)."""
    from ..quality import score_of
    out = {}
    sel = np.flatnonzero(mated)

    def value(path, key):
        d = quality_detail.get(path) or {}
        if key == "quality":
            return score_of(d) if d else np.nan
        return d.get(key, np.nan)

    for key in ("quality", "embedding_norm", "detector", "eye_distance_px", "sharpness_raw", "pose"):
        vals = np.array([min(value(pairs[i].a, key), value(pairs[i].b, key)) for i in sel], float)
        ok = np.isfinite(vals)
        if ok.sum() < 40:
            continue
        edges = list(np.quantile(vals[ok], [0, 0.25, 0.5, 0.75]))
        edges.append(float(vals[ok].max()) + 1e-9)
        out[key] = metrics.fnmr_by_bins(scores[sel][ok], vals[ok], threshold, edges)
    return out


@dataclass
class _Singles:
    """Each single model the asked ones are made of: its engine, templates and pair scores (clean, and
    with masked probes when asked)."""
    engines: dict[str, Engine] = field(default_factory=dict)
    clean: dict[str, TemplateSet] = field(default_factory=dict)
    masked: dict[str, TemplateSet] = field(default_factory=dict)
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    mscores: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class _Setup:
    """What every model of one run is scored against."""
    pairs: list
    mated: np.ndarray
    folds: np.ndarray
    images: list[Path]
    quality: dict
    mask: bool
    cache: TemplateCache | None


def _score_singles(singles: list[str], pairs: list, images: list[Path], probes: list[Path], *, mask: bool,
                   cache: TemplateCache | None, progress: bool) -> _Singles:
    out = _Singles()
    for m in singles:
        req = ModelRequest.parse(m)
        eng = Engine(embedder=req.name, flip=req.flip, threshold=0.0)
        out.engines[m] = eng
        out.clean[m] = image_templates(eng, images, cache=cache, progress=progress)
        out.scores[m] = template_pair_scores(pairs, eng.model_id, out.clean[m])
        if mask:
            out.masked[m] = image_templates(eng, probes, cache=cache, progress=progress,
                                            transform=mask_transform(MASK_SEED),
                                            transform_key=f"mask=synthetic:{MASK_SEED}")
            out.mscores[m] = template_pair_scores(pairs, eng.model_id, out.clean[m], out.masked[m])
    return out


def _model_scores(m: str, parts: list[str], sg: _Singles, setup: _Setup):
    """(model id, part weights, scores, masked-probe scores or None, calibrated thresholds or None)."""
    if len(parts) == 1:
        model_id, weights = sg.engines[m].model_id, None
    else:
        model_id, weights = m, shipped_fusion_weights(m)
    if weights is None and len(parts) > 1:
        # A fusion that is not a shipped model: z-norm learned on the other folds.
        s = fusion.fuse_by_folds({p: sg.scores[p] for p in parts}, setup.folds)
        ms = fusion.fuse_by_folds({p: sg.mscores[p] for p in parts}, setup.folds) if setup.mask else None
        weights = fusion.weights_from_znorm(fusion.learn_znorm({p: sg.scores[p] for p in parts},
                                                               np.ones(len(setup.pairs), bool)))
        return model_id, weights, s, ms, None
    # A shipped model: its own scores (a fused model's inner product is the weighted score sum),
    # judged at the manifest's calibrated thresholds.
    weights = weights or {m: 1.0}
    s = sum(w * sg.scores[p] for p, w in weights.items())
    ms = sum(w * sg.mscores[p] for p, w in weights.items()) if setup.mask else None
    return model_id, weights, s, ms, calibrated_thresholds(model_id)


def _model_report(m: str, parts: list[str], weights: dict[str, float], thresholds, s, ms, sg: _Singles,
                  setup: _Setup, curves: dict) -> dict:
    """One asked model's 1:1 figures (clean and masked probes); its curves go into `curves`."""
    mated, images = setup.mated, setup.images
    r = verification_metrics(s, mated, setup.folds, thresholds)
    fte = len({i for p in parts for i, v in sg.clean[p].vectors.items() if v is None})
    r.update({
        "parts": parts, "model_ids": [sg.engines[p].model_id for p in parts],
        "detector": sg.engines[parts[0]].detector.name,
        "failures_to_detect": fte, "failure_to_enrol_rate": fte / max(len(images), 1),
        # Median ms as measured when the templates were made (None if a cache entry carries none).
        "ms_per_face": (float(sum(np.median(sg.clean[p].timings) for p in parts))
                        if all(sg.clean[p].timings for p in parts) else None),
        "template_ms_one_core": float(sum(one_core_ms(sg.engines[p], images, setup.cache) for p in parts)),
        "fnmr_by_quality": _quality_bins(s, mated, setup.pairs, setup.quality, r["threshold_at_far_1e-3"]),
    })
    if len(parts) > 1:
        r["fusion"] = {"method": ("the shipped fused model: manifest weights" if thresholds else
                                  "z-normalised score average; mean/std learned on the training folds"),
                       "weights": weights}
    _, fmr, fnmr = metrics.det_curve(s, mated)
    curves["det"][m] = (fmr, fnmr)
    curves["hist"][m] = (s[mated], s[~mated])
    if ms is not None:
        r["masked"] = verification_metrics(ms, mated, setup.folds, thresholds)
        r["masked"]["failures_to_detect"] = len({i for p in parts for i, v in sg.masked[p].vectors.items()
                                                 if v is None})
        clean_f, masked_f = r["fnmr_at_fmr"].get("0.001"), r["masked"]["fnmr_at_fmr"].get("0.001")
        r["masked"]["fnmr_ratio_masked_vs_clean_at_fmr_1e-3"] = (masked_f / clean_f) if clean_f else None
        curves["det_masked"][m] = metrics.det_curve(ms, mated)[1:]
    return r


def run(dataset: Dataset, models: list[str], *, mask: bool = False, cache: TemplateCache | None = None,
        progress: bool = True, identification: bool = True,
        groups: dict[str, str] | None = None) -> tuple[dict, dict]:
    """Returns (report, curves): the JSON-able figures per model and the raw curves for plotting.
    groups: {identity: group} (evaluate.groups.read_groups): FMR and FNMR per group are reported too."""
    pairs = dataset.pairs
    images = sorted({x for p in pairs for x in (p.a, p.b)})
    probes = sorted({p.b for p in pairs})
    singles = list(dict.fromkeys(part for m in models for part in ModelRequest.parse(m).parts))
    split: IdentificationSplit | None = None
    if (identification or groups) and dataset.identities:
        split = identification_split(dataset.identities, withheld=0.2, seed=0)
        images = sorted({*images, *(p for imgs in dataset.identities.values() for p in imgs)})
    sg = _score_singles(singles, pairs, images, probes, mask=mask, cache=cache, progress=progress)
    quality = next((sg.clean[m].quality for m in singles if any(sg.clean[m].quality.values())), {})
    setup = _Setup(pairs, np.array([p.mated for p in pairs]), np.array([p.fold for p in pairs]), images, quality,
                   mask, cache)
    report: dict = {"models": {}}
    curves: dict = {"det": {}, "hist": {}, "cmc": {}, "det_masked": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for m in models:
            parts = list(ModelRequest.parse(m).parts)
            model_id, weights, s, ms, thresholds = _model_scores(m, parts, sg, setup)
            r = _model_report(m, parts, weights, thresholds, s, ms, sg, setup, curves)
            if groups is not None:
                r["groups"] = differentials(_vectors(weights, sg.clean), dataset.identities, groups,
                                            r["threshold_at_far_1e-3"], r["threshold_source"])
            if split is not None and identification:
                r["identification"] = _identification(model_id, weights, split, sg.clean, Path(tmp) / f"{m}.db")
                curves["cmc"][m] = r["identification"]["cmc"]
            report["models"][m] = r
    report.update({
        "dataset": dataset.name, "protocol": dataset.protocol, "counts": dataset.counts,
        "mask": {"kind": "synthetic", "seed": MASK_SEED, "side": "probe (second image of each pair)"} if mask else None,
        "identification_protocol": ("first image per identity enrolled, other images mated probes; 20% of the "
                                    "multi-image identities withheld (seed 0) as non-mated probes") if split else None,
        "software": _versions(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    return report, curves


def shipped_fusion_weights(model: str) -> dict[str, float] | None:
    """Part weights of a fused model that the manifest ships (None if it is not shipped)."""
    from .. import models as registry
    if model not in registry.manifest():
        return None
    spec = registry.get(model)
    return dict(zip(spec.extra["parts"], spec.extra["weights"]))


def _vectors(weights: dict[str, float], clean: dict[str, TemplateSet]) -> dict:
    """Per image, the model's template: a single part's, or the fused parts' weighted concatenation
    (whose inner product is the fused score)."""
    if len(weights) == 1:
        return clean[next(iter(weights))].vectors
    return fusion.concat_templates({p: clean[p].vectors for p in weights}, weights)


def _identification(model_id: str, weights: dict[str, float], split, clean, db) -> dict:
    vecs = _vectors(weights, clean)
    gallery = {n: v for n, p in split.gallery.items() if (v := vecs.get(p)) is not None}
    return search_metrics(gallery, [(n, vecs.get(p)) for n, p in split.mated],
                          [(n, vecs.get(p)) for n, p in split.nonmated], db, model_id=model_id)


def _versions() -> dict:
    """Versions of what computed the figures. Optional packages are named only when installed, so a
    core-only install (no onnxruntime, no dlib) runs every evaluation to the end."""
    from importlib.metadata import PackageNotFoundError, version

    import faiss

    from .. import runtime
    from .._version import __version__
    out = {"faceprint": __version__, "python": platform.python_version(), "opencv": cv2.__version__,
           "faiss": faiss.__version__, "numpy": np.__version__}
    out.update({r: runtime.version(r) for r in runtime.available() if r != "opencv"})
    for dist in ("dlib-bin", "dlib"):
        try:
            out["dlib"] = version(dist)
            break
        except PackageNotFoundError:
            pass
    return out
