"""Calibrate an embedder's FMR -> threshold table on LFW and CFP together and write it into the
model manifest.

    .venv/bin/python bench/calibrate.py --models sface --write        # ~2 min warm, ~30 min cold
    .venv/bin/python bench/calibrate.py --models sface,dlib --fit-on all

Non-mated scores (every cross-identity pair; bench/sets.py):
  LFW  every photo, at most 10 per person (--per-identity: George W. Bush's 530 would otherwise be
       in 12% of all pairs), label noise merged (bench/lfw_label_noise.txt);
  CFP  every photo, frontal and profile (500 people; the shipped threshold decides frontal-profile
       comparisons too).
The two sets get equal weight (evaluation.calibration.pool: the larger subsampled to the smaller's
count): LFW alone would set the table for its 5,749 mostly Western press faces. The table is fitted
on people A only (bench/sets.py's split, --fit-on A, the default) so that the observed FMR at its
thresholds can be reported on people B of each set, whom the fit never saw: LFW, CFP-FF (frontal x
frontal) and CFP-FP (frontal x profile). Above the 1e-4 tail level the pooled scores are fitted
with a generalized Pareto distribution (evaluate/calibration.py) that extends the table to FMR 1e-10
with a bootstrap 95% interval. The default 1:1 threshold is the one at FMR 1e-3; 1:N thresholds are
read from the same table at the per-comparison FMR that a target FPIR and gallery size imply.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import sets  # noqa: E402
from common import save  # noqa: E402

from faceprint import Engine, models  # noqa: E402
from faceprint.evaluate import calibration  # noqa: E402
from faceprint.evaluate.cache import TemplateCache  # noqa: E402

PROTOCOLS = ("LFW", "CFP-FF", "CFP-FP")
COMBINE = {"strictest": "each set's table fitted alone, the higher threshold of the two at each FMR",
           "pool": "the two sets' pairs pooled with equal weight"}


def photo_sets(model_id: str, cache: TemplateCache) -> dict[str, sets.PhotoSet]:
    name, _, variant = model_id.partition(":")
    engine = Engine(embedder=name, flip=variant == "flip", threshold=0.0)
    return {"LFW": sets.lfw_set(engine, cache), "CFP": sets.cfp_set(engine, cache)}


def held_out_check(photos: dict[str, sets.PhotoSet], table: dict, fit_on: str) -> dict:
    """Per protocol: the observed FMR at the table's 1e-3 and 1e-4 thresholds on the people the fit
    did not see (all people when it saw everyone), the set's own threshold at 1e-3, and the FNMR of
    the protocol's mated pairs at the table's 1e-3 threshold."""
    out = {}
    thr = {f: table["threshold"][table["fmr"].index(f)] for f in (1e-3, 1e-4)}
    for prot in PROTOCOLS:
        s = photos[prot.split("-")[0]]
        keep = ~s.fit if fit_on == "A" else None
        nm = sets.nonmated_of(s, prot, keep)
        scores, mated, _ = sets.pair_scores_of(s, sets.protocol_pairs(prot))
        out[prot] = {
            "people": "B (held out)" if fit_on == "A" else "all (fitted on)",
            "fmr_at_threshold_1e-3": calibration.observed_fmr(nm.scores, thr[1e-3]),
            "fmr_at_threshold_1e-4": calibration.observed_fmr(nm.scores, thr[1e-4]),
            "own_threshold_at_fmr_1e-3": sets.threshold_at_fmr(nm.scores, 1e-3),
            "fnmr_at_threshold_1e-3": float(np.mean(scores[mated] < thr[1e-3])),
        }
        out[prot]["fmr_ratio_to_target"] = out[prot]["fmr_at_threshold_1e-3"]["fmr"] / 1e-3
    return out


def calibrate_model(model_id: str, cache: TemplateCache, fit_on: str, per_identity: int,
                    combine: str) -> tuple[dict, dict]:
    t0 = time.perf_counter()
    photos = photo_sets(model_id, cache)
    t_templates = time.perf_counter() - t0
    lfw, cfp = photos["LFW"], photos["CFP"]
    photos.update({"CFP-FF": cfp, "CFP-FP": cfp})
    fit_l = lfw.fit if fit_on == "A" else np.ones(len(lfw.paths), bool)
    fit_c = cfp.fit if fit_on == "A" else np.ones(len(cfp.paths), bool)
    parts = [sets.nonmated_of(lfw, "LFW", fit_l, per_identity), sets.nonmated_of(cfp, "CFP", fit_c)]
    if combine == "pool":
        table = calibration.calibrate(calibration.pool(parts))
    else:
        table = calibration.strictest({"LFW": calibration.calibrate(parts[0]), "CFP": calibration.calibrate(parts[1])})
    people = {"LFW": len(set(lfw.identities[fit_l])), "CFP": len(set(cfp.identities[fit_c]))}
    summary = {
        "fit_on": fit_on, "combine": combine, "split": sets.SPLIT, "people_fitted": people,
        "nonmated_pairs_per_set": {"LFW": len(parts[0].scores), "CFP": len(parts[1].scores)},
        "threshold_at_fmr_1e-3": table["threshold"][table["fmr"].index(1e-3)],
        "held_out": held_out_check(photos, table, fit_on),
        "failures_to_detect": {k: len(photos[k].failed) for k in ("LFW", "CFP")},
        "seconds": {"templates": round(t_templates, 1), "fit": round(time.perf_counter() - t0 - t_templates, 1)},
        "table": table,
    }
    entry = {
        "value": summary["threshold_at_fmr_1e-3"], "fmr": 1e-3,
        "source": (f"LFW deep-funneled + CFP, YuNet faces, people {'A of ' + sets.SPLIT if fit_on == 'A' else 'all'}: "
                   f"every cross-identity pair ({people['LFW']:,} LFW people, at most {per_identity} photos each, "
                   f"label noise merged; {people['CFP']} CFP people, frontal and profile; {table['nonmated_pairs']:,} "
                   f"pairs), {COMBINE[combine]}; generalized Pareto tail below FMR 1e-04 (bench/calibrate.py)"),
        "fitted_on": {"sets": ["LFW", "CFP"], "people": people, "split": sets.SPLIT if fit_on == "A" else "all"},
        "held_out_fmr_at_1e-3": {k: round(v["fmr_at_threshold_1e-3"]["fmr"], 6) for k, v in summary["held_out"].items()},
        "table": table,
    }
    return summary, entry


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="sface", help="single models (sface, sface:flip, dlib, ...)")
    ap.add_argument("--fit-on", choices=["A", "all"], default="A",
                    help="people the table is fitted on: A (bench/sets.py, B held out for the check) or all")
    ap.add_argument("--per-identity", type=int, default=10, help="LFW photos per person at most")
    ap.add_argument("--combine", choices=list(COMBINE), default="strictest",
                    help="how the two sets make one table (default: the stricter threshold at each FMR)")
    ap.add_argument("--write", action="store_true", help="store the tables in models/manifest.json")
    ap.add_argument("--name", default="calibration", help="results file name (bench/results/NAME.json)")
    args = ap.parse_args()
    cache = TemplateCache()
    manifest_path = Path(models.__file__).with_name("manifest.json")
    report = {}
    for model_id in args.models.split(","):
        name, _, variant = model_id.partition(":")
        summary, entry = calibrate_model(model_id, cache, args.fit_on, args.per_identity, args.combine)
        report[model_id] = summary
        print(model_id, json.dumps({k: v for k, v in summary.items() if k != "table"}, indent=1))
        if args.write:
            # Re-read per model so that only this model's threshold block changes in the file.
            manifest = json.loads(manifest_path.read_text())
            manifest[name].setdefault("thresholds", {})[variant or "plain"] = entry
            manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
            print(f"wrote {model_id} into {manifest_path}")
    save(args.name, {"sets": ["LFW", "CFP"], "models": report})


if __name__ == "__main__":
    main()
