"""Calibrate each embedder's decision thresholds on LFW and write them into the model manifest.

    .venv/bin/python bench/calibrate.py --models sface,sface:flip,sface-int8,dlib [--write]

Non-mated scores: every cross-identity pair among the 7,701 images of pairs.txt (about 29.6 million
comparisons), which resolves FMRs down to 1e-7. The default threshold is the one at FMR = 1e-3.
Also prints the standard pairs.txt 10-fold figures for the same templates.
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
from faceprint.evaluate.cache import TemplateCache  # noqa: E402
from faceprint.evaluate.runner import evaluate_lfw, image_templates  # noqa: E402
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
        eng = Engine(embedder=name, flip=variant == "flip", threshold=0.0)
        templates = image_templates(eng, paths, cache=cache).vectors
        ok = np.array([templates[p] is not None for p in paths])
        table = nonmated_table(np.vstack([templates[p] for p in paths if templates[p] is not None]), identities[ok])
        at3 = table["threshold"][table["fmr"].index(1e-3)]
        lfw_result = evaluate_lfw(eng, lfw, cache=cache, progress=False)
        scores, mated = np.array(lfw_result["scores"]), np.array(lfw_result["mated"])
        summary = {
            "threshold_at_fmr_1e-3": at3,
            "pairs_txt_fmr_at_it": float(np.mean(scores[~mated] >= at3)),
            "pairs_txt_tar_at_it": float(np.mean(scores[mated] >= at3)),
            **{k: lfw_result[k] for k in ("accuracy_mean", "accuracy_std", "tar_at_far_1e-3", "eer",
                                          "failures_to_detect", "ms_per_face")},
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
