"""Accuracy of int8 SFace files (scripts/quantize_int8.py) against the shipped fp32 graph (OpenVINO
bf16 where the CPU has it), through the whole pipeline with only the embedder's weights differing.

    .venv/bin/python bench/precision.py [--candidates A.onnx B.onnx ...] [--out precision_int8]

Each photo goes through the default Engine once (decode, detect, stages, fp32 embedding, unmasking
of masked faces); each int8 template is made from the very crop the fp32 one was (the Template's
face, steadied landmarks included) and mapped by the same unmasking map when the fp32 one was.
LFW view 2 (10 folds, accuracy with the threshold from the other folds), the same pairs with a
synthetic mask on the probe side, CFP-FF and CFP-FP (10 splits, same rule), each for all pairs and
for the pairs of people B only (bench/sets.py: the int8 calibration saw people A); FNMR at the
manifest's calibrated threshold (FMR 1e-3) on every protocol, and FMR / FNMR there over every
cross-identity pair of the LFW pair images: the figure open-set search (FPIR ~ N x FMR) rests on;
template agreement: cosine of the int8 template with the fp32 template of the same photo.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, save  # noqa: E402
from sets import cfp_photos, fit_side, lfw_photos  # noqa: E402

from faceprint import models  # noqa: E402
from faceprint.embed import l2_normalise  # noqa: E402
from faceprint.embed.onnx_generic import OnnxEmbedder  # noqa: E402
from faceprint.engine import Engine  # noqa: E402
from faceprint.errors import FaceprintError  # noqa: E402
from faceprint.evaluate.masks import mask_transform  # noqa: E402
from faceprint.evaluate.metrics import fnmr_at_fmr, kfold_accuracy, rates_at_threshold  # noqa: E402
from faceprint.evaluate.protocols import cfp_pairs, lfw_pairs  # noqa: E402
from faceprint.evaluate.runner import TemplateSet, template_pair_scores  # noqa: E402
from faceprint.progress import progress as progress_bar  # noqa: E402
from faceprint.runtime import prepare_onnx  # noqa: E402
from faceprint.scoring.masks import unmask  # noqa: E402
from faceprint.util import sha256  # noqa: E402

MASK_SEED = 0


@dataclass
class Crops:
    """The fp32 pipeline's outcome per photo: its template, and the crop it embedded (None: no face)."""
    fp32: TemplateSet = field(default_factory=lambda: TemplateSet({}, {}, []))
    crops: dict[Path, np.ndarray | None] = field(default_factory=dict)
    masked: dict[Path, float] = field(default_factory=dict)     # P(masked) of the unmasked ones


def pipeline_crops(engine: Engine, paths: list[Path], masked: bool = False) -> Crops:
    out = Crops()
    transform = mask_transform(MASK_SEED) if masked else None
    for path in progress_bar(paths, desc="templates", unit="img"):
        out.fp32.vectors[path], out.crops[path] = None, None
        try:
            img = engine.load(path)
            if transform is not None:
                img = transform(engine, img, path)
            t = engine.analyse(img, select="center").template
        except FaceprintError:
            continue
        out.crops[path] = engine.embedder.crops(img, [t.face])[0]
        out.fp32.vectors[path] = t.vector
        if t.unmasked:
            out.fp32.unmasked.add(path)
            out.masked[path] = t.masked
    return out


def embedded(c: Crops, embedder, model_id: str) -> TemplateSet:
    """The TemplateSet another embedder makes from the same crops (unmapped where the fp32 one was)."""
    ts = TemplateSet({p: None for p in c.crops}, {}, [])
    found = [p for p, crop in c.crops.items() if crop is not None]
    vectors = l2_normalise(embedder.embed_crops([c.crops[p] for p in found])) if found else []
    for p, v in zip(found, vectors):
        if p in c.fp32.unmasked:
            v = unmask(v, model_id, c.masked[p])
            ts.unmasked.add(p)
        ts.vectors[p] = v
    return ts


def verification(pairs, scores: np.ndarray, threshold: float) -> dict:
    mated, folds = np.array([p.mated for p in pairs]), np.array([p.fold for p in pairs])
    acc = kfold_accuracy(scores, mated, folds)
    return {"pairs": len(pairs), "accuracy_mean": round(acc["accuracy_mean"], 5),
            "accuracy_std": round(acc["accuracy_std"], 5),
            "fnmr_at_fmr_1e-3": round(fnmr_at_fmr(scores, mated, 1e-3)["fnmr"], 5),
            "fnmr_at_calibrated_threshold": round(rates_at_threshold(scores, mated, threshold)[1], 5)}


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


def people_b(pairs: list, person: dict[Path, str]) -> list:
    return [p for p in pairs if not fit_side(person[p.a]) and not fit_side(person[p.b])]


def protocols() -> dict[str, list]:
    return {"lfw": lfw_pairs(DATA / "lfw")} | {f"cfp_{k.lower()}": cfp_pairs(DATA / "cfp", k) for k in ("FF", "FP")}


def images_of(pairs: list) -> list[Path]:
    return sorted({x for p in pairs for x in (p.a, p.b)})


def evaluate(engine: Engine, candidates: dict[str, OnnxEmbedder], threshold: float) -> dict:
    proto = protocols()
    clean = pipeline_crops(engine, images_of(proto["lfw"]) + images_of(proto["cfp_ff"] + proto["cfp_fp"]))
    masked = pipeline_crops(engine, sorted({p.b for p in proto["lfw"]}), masked=True)
    return score(engine, clean, masked, candidates, threshold)


def score(engine: Engine, clean: Crops, masked: Crops, candidates: dict[str, OnnxEmbedder], threshold: float) -> dict:
    """Every figure for the fp32 templates and each candidate's, from the pipeline's crops."""
    person = dict(zip(*lfw_photos()[:2])) | dict(zip(*cfp_photos()[:2]))
    proto = protocols()
    lfw_images = images_of(proto["lfw"])
    sets = {"fp32": (clean.fp32, masked.fp32)} | {
        name: (embedded(clean, emb, engine.model_id), embedded(masked, emb, engine.model_id))
        for name, emb in candidates.items()}
    out: dict = {}
    for name, (c, m) in sets.items():
        r = out[name] = {}
        for name_p, pairs in proto.items():
            for suffix, subset in (("", pairs), ("_people_b", people_b(pairs, person))):
                r[name_p + suffix] = verification(subset, template_pair_scores(subset, engine.model_id, c), threshold)
                if name_p == "lfw":
                    r["lfw_masked_probe" + suffix] = verification(
                        subset, template_pair_scores(subset, engine.model_id, c, m), threshold)
        r["lfw_all_pairs_at_calibrated_threshold"] = all_pairs(lfw_images, c.vectors, threshold)
        if name != "fp32":
            found = [p for p, v in clean.fp32.vectors.items() if v is not None]
            cos = np.array([float(clean.fp32.vectors[p] @ c.vectors[p]) for p in found])
            r["agreement_with_fp32"] = {"images": len(cos), "median": round(float(np.median(cos)), 5),
                                        "p1": round(float(np.percentile(cos, 1)), 5), "min": round(float(cos.min()), 5)}
    return out


def sface_like(path: Path, engine: Engine) -> OnnxEmbedder:
    """An SFace-preprocessed embedder on this ONNX file (an int8 candidate)."""
    return OnnxEmbedder(prepare_onnx(str(path), sha256(path)), mean=0.0, std=1.0, rgb=True, crop="arcface-112",
                        runtime=engine.runtime, threads=engine.threads, name=path.stem)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shipped = models.get("sface-int8", task="embed")
    ap.add_argument("--candidates", nargs="*", type=Path, default=[shipped.path()],
                    help="int8 ONNX files (default: the shipped sface-int8)")
    ap.add_argument("--out", default="precision_int8", help="results file name under bench/results/")
    args = ap.parse_args()
    engine = Engine(threshold=0.0)
    paths = args.candidates
    candidates = {p.stem: sface_like(p, engine) for p in paths}
    threshold = float(engine.embedder.spec.thresholds["plain"]["value"])
    results = evaluate(engine, candidates, threshold)
    for name, r in results.items():
        print(name, r, flush=True)
    save(args.out, {"doc": __doc__.strip().split("\n\n")[0],
                    "candidates": {p.stem: {"file": str(p), "sha256": sha256(p)} for p in paths},
                    "fp32_precision": "OpenVINO default on this CPU (bf16 where native), as the default engine runs",
                    "calibration": "scripts/quantize_int8.py: people A only (LFW + CFP frontal and profile, "
                                   "1 in 4 with a synthetic mask); people_b rows: pairs of held-out people",
                    "results": results})


if __name__ == "__main__":
    main()
