"""Accuracy of SFace's int8 file (scripts/quantize_int8.py) against the shipped fp32 graph (OpenVINO
bf16 where the CPU has it), through the whole pipeline with only the embedder's weights differing.

    .venv/bin/python bench/precision.py

Each photo goes through the default Engine once (decode, detect, stages, fp32 embedding, unmasking
of masked faces); the int8 template is made from the very crop the fp32 one was (the Template's
face, steadied landmarks included) and mapped by the same unmasking map when the fp32 one was.
LFW view 2 (10 folds, accuracy with the threshold from the other folds), the same pairs with a
synthetic mask on the probe side, CFP-FF and CFP-FP (10 splits, same rule); FMR and FNMR at the
manifest's calibrated threshold (FMR 1e-3) over every cross-identity pair of the LFW pair images:
the figure open-set search (FPIR ~ N x FMR) rests on; template agreement: cosine of the int8
template with the fp32 template of the same photo.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, save  # noqa: E402

from faceprint.embed import create_embedder, l2_normalise  # noqa: E402
from faceprint.engine import Engine  # noqa: E402
from faceprint.errors import FaceprintError  # noqa: E402
from faceprint.evaluate.masks import mask_transform  # noqa: E402
from faceprint.evaluate.metrics import fnmr_at_fmr, kfold_accuracy, rates_at_threshold  # noqa: E402
from faceprint.evaluate.protocols import cfp_pairs, lfw_pairs  # noqa: E402
from faceprint.evaluate.runner import TemplateSet, template_pair_scores  # noqa: E402
from faceprint.progress import progress as progress_bar  # noqa: E402
from faceprint.scoring.masks import unmask  # noqa: E402

MASK_SEED = 0


def both_templates(engine: Engine, int8, paths: list[Path], masked: bool = False) -> dict[str, TemplateSet]:
    """fp32 and int8 TemplateSets of these photos (masked: with the evaluation's synthetic mask)."""
    sets = {k: TemplateSet({}, {}, []) for k in ("fp32", "int8", "fp32_recomputed")}
    transform = mask_transform(MASK_SEED) if masked else None
    for path in progress_bar(paths, desc="templates", unit="img"):
        for s in sets.values():
            s.vectors[path] = None
        try:
            img = engine.load(path)
            if transform is not None:
                img = transform(engine, img, path)
            t = engine.analyse(img, select="center").template
        except FaceprintError:
            continue
        crops = engine.embedder.crops(img, [t.face])
        for name, embedder in (("int8", int8), ("fp32_recomputed", engine.embedder)):
            v = l2_normalise(embedder.embed_crops(crops))[0]
            if t.unmasked:
                v = unmask(v, engine.model_id, t.masked)
                sets[name].unmasked.add(path)
            sets[name].vectors[path] = v
        sets["fp32"].vectors[path] = t.vector
        if t.unmasked:
            sets["fp32"].unmasked.add(path)
    return sets


def verification(pairs, scores: np.ndarray) -> dict:
    mated, folds = np.array([p.mated for p in pairs]), np.array([p.fold for p in pairs])
    acc = kfold_accuracy(scores, mated, folds)
    return {"accuracy_mean": round(acc["accuracy_mean"], 5), "accuracy_std": round(acc["accuracy_std"], 5),
            "fnmr_at_fmr_1e-3": round(fnmr_at_fmr(scores, mated, 1e-3)["fnmr"], 5)}


def evaluate(engine: Engine, int8, threshold: float) -> dict:
    out: dict = {k: {} for k in ("fp32", "int8", "fp32_recomputed")}
    pairs = lfw_pairs(DATA / "lfw")
    images = sorted({x for p in pairs for x in (p.a, p.b)})
    clean = both_templates(engine, int8, images)
    masked = both_templates(engine, int8, sorted({p.b for p in pairs}), masked=True)
    for name in out:
        out[name]["lfw"] = verification(pairs, template_pair_scores(pairs, engine.model_id, clean[name]))
        out[name]["lfw_masked_probe"] = verification(
            pairs, template_pair_scores(pairs, engine.model_id, clean[name], masked[name]))
        out[name]["lfw_all_pairs_at_calibrated_threshold"] = all_pairs(images, clean[name].vectors, threshold)
    cfp = {protocol: cfp_pairs(DATA / "cfp", protocol) for protocol in ("FF", "FP")}
    tpl = both_templates(engine, int8, sorted({x for cp in cfp.values() for p in cp for x in (p.a, p.b)}))
    for protocol, cp in cfp.items():
        for name in out:
            out[name][f"cfp_{protocol.lower()}"] = verification(cp, template_pair_scores(cp, engine.model_id, tpl[name]))
    found = [p for p in images if clean["fp32"].vectors[p] is not None]
    for name in ("int8", "fp32_recomputed"):
        cos = np.array([float(clean["fp32"].vectors[p] @ clean[name].vectors[p]) for p in found])
        out[name]["agreement_with_fp32"] = {"images": len(cos), "median": round(float(np.median(cos)), 5),
                                            "p1": round(float(np.percentile(cos, 1)), 5),
                                            "min": round(float(cos.min()), 5)}
    return out


def all_pairs(images: list[Path], vectors: dict, threshold: float) -> dict:
    """FMR and FNMR at the threshold over every pair of these images (identity = folder name)."""
    kept = [p for p in images if vectors[p] is not None]
    vecs = np.vstack([vectors[p] for p in kept])
    ident = np.array([p.parent.name for p in kept])
    upper = np.triu(np.ones(len(kept), bool), 1)
    same = (ident[:, None] == ident[None, :])[upper]
    fmr, fnmr = rates_at_threshold((vecs @ vecs.T)[upper], same, threshold)
    return {"threshold": threshold, "fmr": round(fmr, 7), "fnmr": round(fnmr, 5),
            "nonmated_pairs": int((~same).sum()), "mated_pairs": int(same.sum())}


def main() -> None:
    engine = Engine(threshold=0.0)
    int8 = create_embedder("sface-int8", runtime=engine.runtime, threads=engine.threads)
    threshold = float(engine.embedder.spec.thresholds["plain"]["value"])
    results = evaluate(engine, int8, threshold)
    for name, r in results.items():
        print(name, r, flush=True)
    save("precision_int8", {"doc": __doc__.strip().split("\n\n")[0],
                            "int8_file": int8.spec.files["weights"],
                            "fp32_precision": "OpenVINO default on this CPU (bf16 where native), as the default engine runs",
                            "calibration": "scripts/quantize_int8.py: 300 LFW photos of people in no view-2 pair "
                                           "(1 in 4 SFace crops with a synthetic mask); no CFP photo",
                            "fp32_recomputed": "the fp32 embedder re-run on the same crops: checks the crop reconstruction",
                            "results": results})


if __name__ == "__main__":
    main()
