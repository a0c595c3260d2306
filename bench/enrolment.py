"""Enrolment refusal on ordinary photos: which photos the quality gate refuses, and how those photos
fail compared with the ones it accepts, on LFW and CFP.

    .venv/bin/python bench/enrolment.py [--fit]        # --fit: print the limits fitted on people A

Photos: every LFW photo and every CFP frontal photo (ordinary in-the-wild photos; the target is
<= 5% refused), CFP profile photos reported apart; the gate of the previous release (previous_gate)
recomputed on the same quality records beside the shipped one. Failure of a photo: its mated comparisons (with
the other photos of its person, at most 10 per person) that score below the shipped 1:1 threshold
(FMR 1e-3). Refused vs accepted: the FNMR of the mated comparisons of the refused and of the
accepted photos. Reported on people B (bench/sets.py) of each set; --fit derives each hard limit
of quality.enrolment_refusal from people A: the largest limit at which the photos beyond it fail
more often than not (those are unusable, not merely weak), and prints them.
Tiny faces: LFW and CFP hold none, so B's LFW mated pairs are re-run with the probe photo scaled
down to a given eye distance (the face found and embedded on the small photo).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import sets  # noqa: E402
from common import DATA, save  # noqa: E402

from faceprint import Engine, quality  # noqa: E402
from faceprint.evaluate.cache import TemplateCache  # noqa: E402
from faceprint.evaluate.protocols import lfw_pairs  # noqa: E402
from faceprint.evaluate.runner import image_templates  # noqa: E402

MEASURES = {  # name -> (value of a quality detail, lower is worse)
    "embedding_norm": lambda d: d.get("embedding_norm", np.nan),
    "frontal": lambda d: d.get("pose", np.nan),          # 1 - yaw/2: 0.5 = the nose over an eye
    "detector": lambda d: d.get("detector", np.nan),
    "eye_distance_px": lambda d: d.get("eye_distance_px", np.nan),
}


def photo_failures(s: sets.PhotoSet, threshold: float, cap: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per photo: (mated comparisons, of those below threshold, people index); at most `cap` photos
    per person take part (the first ones)."""
    n = len(s.paths)
    total, fails = np.zeros(n, int), np.zeros(n, int)
    by_person: dict[str, list[int]] = {}
    for i, name in enumerate(s.identities):
        if len(by_person.setdefault(name, [])) < cap:
            by_person[name].append(i)
    for rows in by_person.values():
        if len(rows) < 2:
            continue
        r = np.array(rows)
        sc = s.vectors[r] @ s.vectors[r].T
        low = (sc < threshold) & ~np.eye(len(r), dtype=bool)
        total[r] += len(r) - 1
        fails[r] += low.sum(1)
    return total, fails


def summary(refused: np.ndarray, total: np.ndarray, fails: np.ndarray, reasons: list) -> dict:
    ok = total > 0
    out = {"photos": int(len(refused)), "refused": int(refused.sum()), "refusal_rate": float(refused.mean()),
           "fnmr_refused": float(fails[refused & ok].sum() / max(total[refused & ok].sum(), 1)),
           "fnmr_accepted": float(fails[~refused & ok].sum() / max(total[~refused & ok].sum(), 1)),
           "mated_comparisons_refused": int(total[refused].sum())}
    codes = [r for r in reasons if r]
    out["reasons"] = {c: codes.count(c) for c in sorted(set(codes))}
    return out


def previous_gate(d: dict) -> tuple[str, str] | None:
    """The gate before this round, recomputed from a quality record: refused when masked or when the
    product of the factors, with the norm mapped over (9, 13) and size over 40 px, was under 0.25."""
    if d.get("masked", 0.0) >= 0.5:
        return "masked", ""
    f = dict(d)
    f["size"] = min(1.0, d.get("eye_distance_px", 40.0) / 40.0)
    if "embedding_norm" in d:
        f["norm"] = float(np.clip((d["embedding_norm"] - 9.0) / 4.0, 0.0, 1.0))
    return ("low_quality", "") if quality.score_of(f) < 0.25 else None


def gate(details: list[dict], rule) -> tuple[np.ndarray, list]:
    reasons = [rule(d) for d in details]
    return np.array([r is not None for r in reasons]), [r[0] if r else None for r in reasons]


def fit_limits(s_list: list[sets.PhotoSet], threshold: float) -> dict:
    """On people A: for each measure the largest limit whose photos below it fail > 50% of their
    mated comparisons."""
    vals, tot, fl = {m: [] for m in MEASURES}, [], []
    for s in s_list:
        keep = s.fit
        t, f = photo_failures(s, threshold)
        tot.append(t[keep])
        fl.append(f[keep])
        for m, fn in MEASURES.items():
            vals[m].append(np.array([fn(s.quality[i]) for i in np.flatnonzero(keep)], float))
    tot, fl = np.concatenate(tot), np.concatenate(fl)
    out = {}
    for m in MEASURES:
        v = np.concatenate(vals[m])
        order = np.argsort(v)
        ct, cf = np.cumsum(tot[order]), np.cumsum(fl[order])
        rate = cf / np.maximum(ct, 1)
        ok = np.flatnonzero((rate > 0.5) & (ct >= 20))
        k = int(ok.max()) if len(ok) else -1
        out[m] = {"limit": float(v[order][k + 1]) if k >= 0 else None, "photos_below": k + 1,
                  "fnmr_below": float(rate[k]) if k >= 0 else None,
                  "quantiles": {q: round(float(np.nanquantile(v, q)), 3) for q in (0.01, 0.05, 0.5)}}
    return out


def tiny_faces(engine: Engine, threshold: float, eyes=(6, 8, 10, 12, 16, 24)) -> dict:
    """LFW mated pairs of people B, the second photo scaled so its eyes are `eyes` px apart."""
    pairs = [p for p in lfw_pairs(DATA / "lfw") if p.mated and not sets.fit_side(p.a.parent.name)][:300]
    clean = image_templates(engine, sorted({p.a for p in pairs} | {p.b for p in pairs}), cache=TemplateCache())
    out = {}
    for e in eyes:
        def shrink(eng, img, path, e=e):
            faces = eng.detector.detect([img])[0]
            d = quality.eye_distance(faces[0]) if faces else 44.0
            f = min(1.0, e / max(d, 1.0))
            return cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        small = image_templates(engine, sorted({p.b for p in pairs}), cache=TemplateCache(), transform=shrink,
                                transform_key=f"shrink-eyes={e}")
        ok = [p for p in pairs if clean.vectors[p.a] is not None]
        found = [p for p in ok if small.vectors[p.b] is not None]
        sc = np.array([float(clean.vectors[p.a] @ small.vectors[p.b]) for p in found])
        details = [small.quality[p.b] for p in found]
        refused, _ = gate(details, lambda d: quality.enrolment_refusal(quality.score_of(d), d))
        out[str(e)] = {"pairs": len(ok), "no_face": len(ok) - len(found),
                       "fnmr_of_found": float(np.mean(sc < threshold)) if len(sc) else None,
                       "refused_of_found": float(refused.mean()) if len(sc) else None,
                       "measured_eye_distance_median": float(np.median([d["eye_distance_px"] for d in details]))
                       if details else None}
        print("tiny", e, out[str(e)])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fit", action="store_true", help="derive the refusal limits on people A and print them")
    ap.add_argument("--no-tiny", action="store_true", help="skip the scaled-down photos")
    args = ap.parse_args()
    engine = Engine()
    thr = sets.threshold_for_fmr(engine.model_id, 1e-3)
    lfw, cfp = sets.lfw_set(engine), sets.cfp_set(engine)
    out: dict = {"threshold": thr, "people": "B (held out)", "split": sets.SPLIT}
    if args.fit:
        out["fitted_limits_on_A"] = fit_limits([lfw, cfp.subset(cfp.views == "frontal")], thr)
        print(out["fitted_limits_on_A"])
    rule = lambda d: quality.enrolment_refusal(quality.score_of(d), d)  # noqa: E731
    for name, s in (("LFW", lfw), ("CFP-frontal", cfp.subset(cfp.views == "frontal")),
                    ("CFP-profile", cfp.subset(cfp.views == "profile"))):
        total, fails = photo_failures(s, thr)
        b = ~s.fit
        refused, reasons = gate(s.quality, rule)
        out[name] = summary(refused[b], total[b], fails[b], [r for r, k in zip(reasons, b) if k])
        refused, reasons = gate(s.quality, previous_gate)
        out[name]["previous_gate"] = summary(refused[b], total[b], fails[b], [r for r, k in zip(reasons, b) if k])
        print(name, out[name])
    out["no_face_found"] = {"LFW": len(lfw.failed), "CFP-frontal": sum(p.parent.name == "frontal" for p in cfp.failed),
                            "CFP-profile": sum(p.parent.name == "profile" for p in cfp.failed)}
    for key, get in (("LFW+CFP-frontal_refusal_rate", lambda r: r), ("previous_gate_LFW+CFP-frontal_refusal_rate",
                                                                      lambda r: r["previous_gate"])):
        out[key] = ((get(out["LFW"])["refused"] + get(out["CFP-frontal"])["refused"])
                    / (get(out["LFW"])["photos"] + get(out["CFP-frontal"])["photos"]))
    if not args.no_tiny:
        out["tiny_faces_lfw_B"] = tiny_faces(engine, thr)
    save("enrolment", out)


if __name__ == "__main__":
    main()
