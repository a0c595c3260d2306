"""1:1 accuracy on LFW and CFP side by side (the README's accuracy table).

    .venv/bin/python bench/accuracy.py [--model sface]        # ~2 min warm (templates cached)

Per protocol (LFW pairs.txt; CFP-FF and CFP-FP, the standard 10 splits of 350 + 350 pairs):
  accuracy   10-fold, the threshold chosen on the other folds (the papers' figure);
  TAR        at FMR 1e-3 and 1e-4, the thresholds read off the set's own non-mated scores (every
             cross-identity comparison the protocol stands for: LFW every photo, at most 10 per
             person; CFP-FF frontal x frontal; CFP-FP frontal x profile), the mated pairs the
             protocol's;
  shipped    FNMR of the protocol's mated pairs at the model's shipped thresholds (manifest, FMR 1e-3
             and 1e-4) and the FMR observed at them over the same non-mated comparisons, on every
             person and on people B only (bench/sets.py: the calibration never saw them).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import sets  # noqa: E402
from common import save  # noqa: E402

from faceprint import Engine  # noqa: E402
from faceprint.evaluate import calibration, metrics  # noqa: E402
from faceprint.evaluate.cache import TemplateCache  # noqa: E402

PROTOCOLS = ("LFW", "CFP-FF", "CFP-FP")


def protocol_figures(s: sets.PhotoSet, protocol: str, model_id: str) -> dict:
    scores, mated, folds = sets.pair_scores_of(s, sets.protocol_pairs(protocol))
    nm_all = sets.nonmated_of(s, protocol)
    nm_b = sets.nonmated_of(s, protocol, ~s.fit)
    out = {**{k: v for k, v in metrics.kfold_accuracy(scores, mated, folds).items() if k != "fold_thresholds"},
           "eer": metrics.eer(scores, mated), "mated_pairs": int(mated.sum()),
           "nonmated_comparisons": len(nm_all.scores), "tar_at_fmr": {}, "shipped": {}}
    for fmr in (1e-3, 1e-4):
        own = sets.threshold_at_fmr(nm_all.scores, fmr)
        out["tar_at_fmr"][f"{fmr:g}"] = {"threshold": round(own, 5), "tar": float(np.mean(scores[mated] >= own))}
        thr = sets.threshold_for_fmr(model_id, fmr)
        out["shipped"][f"{fmr:g}"] = {
            "threshold": round(thr, 5), "fnmr": float(np.mean(scores[mated] < thr)),
            "fmr_observed_all_people": calibration.observed_fmr(nm_all.scores, thr),
            "fmr_observed_people_B": calibration.observed_fmr(nm_b.scores, thr),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="sface")
    ap.add_argument("--name", default="accuracy", help="results file name (bench/results/NAME.json)")
    args = ap.parse_args()
    name, _, variant = args.model.partition(":")
    engine = Engine(embedder=name, flip=variant == "flip", threshold=0.0)
    cache = TemplateCache()
    photos = {"LFW": sets.lfw_set(engine, cache)}
    photos["CFP-FF"] = photos["CFP-FP"] = sets.cfp_set(engine, cache)
    out = {"model": engine.model_id, "split": sets.SPLIT,
           "no_face_found": {"LFW": len(photos["LFW"].failed), "CFP": len(photos["CFP-FF"].failed)},
           "protocol": __doc__.strip().split("\n\n")[1]}
    for prot in PROTOCOLS:
        out[prot] = protocol_figures(photos[prot], prot, engine.model_id)
        r = out[prot]
        print(f"{prot:7} acc {100 * r['accuracy_mean']:.2f}%  TAR@1e-3 {100 * r['tar_at_fmr']['0.001']['tar']:.2f}%  "
              f"TAR@1e-4 {100 * r['tar_at_fmr']['0.0001']['tar']:.2f}%  shipped thr {r['shipped']['0.001']['threshold']}: "
              f"FNMR {100 * r['shipped']['0.001']['fnmr']:.2f}%  FMR all {r['shipped']['0.001']['fmr_observed_all_people']['fmr']:.2e}"
              f"  FMR B {r['shipped']['0.001']['fmr_observed_people_B']['fmr']:.2e}")
    save(args.name, out)


if __name__ == "__main__":
    main()
