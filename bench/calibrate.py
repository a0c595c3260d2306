"""Calibrate each embedder's decision thresholds on LFW and write them into the model manifest.

    .venv/bin/python bench/calibrate.py --models sface,sface:flip,sface-int8,dlib [--write]

Non-mated scores: every cross-identity pair among the 7,701 images of pairs.txt (about 29.6 million
comparisons), which resolves FMRs down to 1e-7. The default threshold is the one at FMR = 1e-3.
Also prints the standard pairs.txt 10-fold figures for the same templates. A fused model
("sface+dlib") gets its manifest entry here too: parts, z-norm weights, thresholds.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from common import DATA, save  # noqa: E402

from faceprint import Engine, models  # noqa: E402
from faceprint.evaluate import fusion  # noqa: E402
from faceprint.evaluate.cache import TemplateCache  # noqa: E402
from faceprint.evaluate import metrics  # noqa: E402
from faceprint.evaluate.runner import image_templates, pair_scores  # noqa: E402
from faceprint.evaluate.protocols import lfw_pairs  # noqa: E402

FMRS = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 3e-7, 1e-7]


def nonmated_table(vectors: np.ndarray, identities: np.ndarray) -> dict:
    sims = vectors @ vectors.T
    iu = np.triu_indices(len(vectors), 1)
    scores = sims[iu]
    non = scores[identities[iu[0]] != identities[iu[1]]]
    n = len(non)
    table = {"fmr": [], "threshold": [], "nonmated_pairs": int(n)}
    top = np.sort(np.partition(non, n - int(FMRS[0] * n) - 1)[n - int(FMRS[0] * n) - 1:])[::-1]
    for f in FMRS:
        allowed = int(np.floor(f * n))
        if allowed < 1:
            break
        table["fmr"].append(f)
        table["threshold"].append(round(float(np.nextafter(top[allowed], np.inf)), 5))
    return table


def fused_templates(name: str, paths: list[Path], lfw: Path, cache: TemplateCache):
    """Part templates (each with its default flip), z-norm weights from all pairs.txt scores, and the
    fused templates concat(sqrt(w_i) * t_i) whose inner product is the fused score."""
    parts = name.split("+")
    pairs = lfw_pairs(lfw)
    per_part, scores = {}, {}
    for part in parts:
        per_part[part] = image_templates(Engine(embedder=part, threshold=0.0), paths, cache=cache).vectors
        scores[part] = np.array([float(per_part[part][p.a] @ per_part[part][p.b]) for p in pairs])
    weights = fusion.weights_from_znorm(fusion.learn_znorm(scores, np.ones(len(pairs), bool)))
    fused = {p: (None if any(per_part[m][p] is None for m in parts)
                 else np.concatenate([np.sqrt(weights[m]) * per_part[m][p] for m in parts])) for p in paths}
    return fused, [weights[m] for m in parts]


def fused_entry(name: str, weights: list[float]) -> dict:
    parts = name.split("+")
    specs = [models.get(p) for p in parts]
    return {
        "task": "embed", "impl": "faceprint.embed.fused:Fused",
        "description": f"score-level fusion of {' and '.join(parts)} (z-normalised score average)",
        "license": "; ".join(f"{s.name}: {s.license}" for s in specs),
        "source": "faceprint fusion of the part models", "package": "+".join(s.package for s in specs),
        "package_version": "+".join(s.package_version for s in specs),
        "install": " && ".join(dict.fromkeys(s.install for s in specs)),
        "files": {}, "parts": parts, "weights": [round(w, 6) for w in weights],
        "weights_source": "1/sigma of each part's scores over all 6,000 LFW pairs.txt pairs (z-norm fusion)",
        "dim": sum(s.dim for s in specs), "default_flip": False, "thresholds": {},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="sface")
    ap.add_argument("--write", action="store_true", help="store the thresholds in models/manifest.json")
    args = ap.parse_args()
    lfw = DATA / "lfw"
    paths = sorted({p for pr in lfw_pairs(lfw) for p in (pr.a, pr.b)})
    identities = np.array([p.parent.name for p in paths])
    cache = TemplateCache()
    manifest_path = Path(models.__file__).with_name("manifest.json")
    manifest = json.loads(manifest_path.read_text())
    report = {}
    for model_id in args.models.split(","):
        name, _, variant = model_id.partition(":")
        if "+" in name:
            templates, weights = fused_templates(name, paths, lfw, cache)
            manifest[name] = fused_entry(name, weights)
        else:
            templates = image_templates(Engine(embedder=name, flip=variant == "flip", threshold=0.0), paths,
                                        cache=cache).vectors
        ok = np.array([templates[p] is not None for p in paths])
        table = nonmated_table(np.vstack([templates[p] for p in paths if templates[p] is not None]), identities[ok])
        at3 = table["threshold"][table["fmr"].index(1e-3)]
        pairs = lfw_pairs(lfw)
        scores = pair_scores(pairs, templates)
        mated = np.array([p.mated for p in pairs])
        summary = {
            "threshold_at_fmr_1e-3": at3,
            "pairs_txt_fmr_at_it": float(np.mean(scores[~mated] >= at3)),
            "pairs_txt_tar_at_it": float(np.mean(scores[mated] >= at3)),
            **metrics.kfold_accuracy(scores, mated, np.array([p.fold for p in pairs])),
            "tar_at_far_1e-3": metrics.fnmr_at_fmr(scores, mated, 1e-3)["tar"],
            "eer": metrics.eer(scores, mated),
            "failures_to_detect": int((~ok).sum()),
            "table": table,
        }
        report[model_id] = summary
        print(model_id, json.dumps({k: v for k, v in summary.items() if k != "table"}))
        manifest[name].setdefault("thresholds", {})[variant or "plain"] = {
            "value": at3, "fmr": 1e-3,
            "source": (f"LFW deep-funneled, YuNet fp32 faces: FMR 1e-3 over all {table['nonmated_pairs']:,} "
                       "cross-identity pairs of the 7,701 pairs.txt images (bench/calibrate.py)"),
            "table": table,
        }
    if args.write:
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        print(f"wrote {manifest_path}")
    save("calibration", {"models": report})


if __name__ == "__main__":
    main()
