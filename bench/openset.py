"""Open-set 1:N on LFW: strangers against the default decision, FPIR calibration check at 1K/10K/100K,
and single- vs multi-photo enrolment with three subject scores.

    .venv/bin/python bench/openset.py [--parts strangers,lfw,dup,fpir]   # also: --parts depth

strangers  2,000 people (seeded) enrolled with their first photo through a real Gallery (SQLite +
           FAISS Flat); 300 photos of 300 other people; `Gallery.identify` with its defaults (FPIR
           0.001) vs the 1:1 threshold (FMR 1e-3) that it used before. Strangers named, mated rank-1.
fpir       The FMR -> threshold table is fitted (bench/calibrate.py's method: at most 10 photos per
           person) on half of the LFW identities (A) only. Probes: up to 5 photos of each person of
           part of the other half (B); then the same with A and B swapped, pooled. Galleries of 1K, 3K
           and 10K photos: the rest of B's photos first, then A's (their comparisons with B's probes
           were never in the fit). Observed FPIR at the thresholds the A-only table gives for targets
           0.01 and 0.001, with a 95% Poisson interval. LFW holds 13,233 photos, so 100K would need
           90K templates of other faces; see the README for why that was not measured here.
depth      (only when asked: --parts depth, openset_depth.json) How deep below its data the table's
           GPD tail holds, as far as LFW can measure it: see tail_depth_check.
lfw        LFW open set: one photo of each person with 2+ photos enrolled (the first in file order;
           the first the enrolment gate accepts; the best quality, as `enroll --best 1`), their other
           photos are mated probes, the 4,069 one-photo people non-mated probes. FNIR at FPIR 0.01 (threshold set
           on the non-mated searches, FRVT) and at the calibrated FPIR 0.01 threshold (what identify
           uses). Multi-photo: people with 3+ photos enrolled with 1 vs 2 photos, probed with the rest,
           subject score = best template (max), mean of the best two (mean2), or the mean template
           (centroid).
dup        Near-duplicate enrolment: cosine of a photo with its re-encoded/resized/cropped copy vs
           different photos of one person.
Templates: SFace on YuNet faces, from the template cache; identities merged per
bench/lfw_label_noise.txt (a stranger must not be an enrolled person under another name).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from common import DATA, save  # noqa: E402

from faceprint import Engine, Gallery, Template, quality  # noqa: E402
from faceprint.embed import l2_normalise  # noqa: E402
from faceprint.evaluate import calibration, metrics  # noqa: E402
from faceprint.evaluate.cache import TemplateCache  # noqa: E402
from faceprint.evaluate.protocols import identity_folders  # noqa: E402
from faceprint.evaluate.runner import image_templates  # noqa: E402
from faceprint.scoring import fmr_for_fpir, threshold_for_fpir  # noqa: E402

LABEL_NOISE = Path(__file__).with_name("lfw_label_noise.txt")
LFW = DATA / "lfw" / "lfw-deepfunneled"


def lfw_templates(engine: Engine) -> tuple[list[Path], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(paths, templates, identities merged for label noise, quality scores, refused by the
    enrolment gate) of every LFW photo with a face."""
    people = identity_folders(LFW)
    paths = sorted(p for imgs in people.values() for p in imgs)
    ts = image_templates(engine, paths, cache=TemplateCache())
    ok = [p for p in paths if ts.vectors[p] is not None]
    ids = calibration.merge_identities(np.array([p.parent.name for p in ok]),
                                       calibration.read_same_person(LABEL_NOISE))
    scores = np.array([quality.score_of(ts.quality[p]) for p in ok])
    refused = np.array([quality.enrolment_refusal(q, ts.quality[p]) is not None for p, q in zip(ok, scores)])
    return ok, np.vstack([ts.vectors[p] for p in ok]), ids, scores, refused


def poisson_ci(k: int, n: int) -> list[float]:
    from scipy.stats import chi2
    lo = chi2.ppf(0.025, 2 * k) / 2 if k else 0.0
    hi = chi2.ppf(0.975, 2 * (k + 1)) / 2
    return [lo / n, hi / n]


# -- strangers -------------------------------------------------------------------------------
def strangers(paths, vecs, ids, model_id: str, n_gallery: int = 2000, n_strangers: int = 300) -> dict:
    rng = np.random.default_rng(0)
    people = np.unique(ids)
    chosen = set(rng.choice(people, n_gallery, replace=False))
    first: dict[str, int] = {}
    for i, name in enumerate(ids):
        first.setdefault(name, i)
    gal = [first[p] for p in sorted(chosen)]
    mated = [i for i, name in enumerate(ids) if name in chosen and i not in set(gal)]
    others = sorted(set(people) - chosen)
    strange = [first[p] for p in rng.choice(others, n_strangers, replace=False)]
    with tempfile.TemporaryDirectory() as tmp:
        with Gallery.open(Path(tmp) / "g.db", create=True, model=model_id, dim=vecs.shape[1]) as g:
            g.add_templates([str(ids[i]) for i in gal], vecs[gal], model=model_id)
            t0 = time.perf_counter()
            res_s = g.identify([Template(vecs[i], model_id) for i in strange], k=5)
            res_m = g.identify([Template(vecs[i], model_id) for i in mated], k=5)
            ms = (time.perf_counter() - t0) * 1000 / (len(strange) + len(mated))
    from faceprint.scoring import threshold_for_fmr
    old = threshold_for_fmr(model_id, 1e-3)
    top_s = np.array([r.candidates[0].score for r in res_s])
    rank1 = np.array([r.candidates[0].subject.name == ids[i] for r, i in zip(res_m, mated)])
    top_m = np.array([r.candidates[0].score for r in res_m])
    named_m = np.array([r.decision is not None and r.decision.subject.name == ids[i] for r, i in zip(res_m, mated)])
    return {
        "gallery_subjects": n_gallery, "strangers": n_strangers, "mated_probes": len(mated),
        "default": {"fpir": res_s[0].fpir, "gallery_size": res_s[0].gallery_size, "threshold": res_s[0].threshold,
                    "strangers_named": int(sum(r.decision is not None for r in res_s)),
                    "strangers_named_rate": float(np.mean([r.decision is not None for r in res_s])),
                    "mated_rank_1": float(rank1.mean()), "mated_named_correctly": float(named_m.mean())},
        "before_1to1_threshold": {"threshold": old, "strangers_named": int((top_s >= old).sum()),
                                  "strangers_named_rate": float(np.mean(top_s >= old)),
                                  "mated_rank_1": float(rank1.mean()),
                                  "mated_named_correctly": float(np.mean(rank1 & (top_m >= old)))},
        "identify_ms_per_probe": round(ms, 3),
    }


# -- FPIR at gallery size ----------------------------------------------------------------------
def identity_halves(ids: np.ndarray) -> tuple[np.ndarray, list[set]]:
    """The identities in a seeded random order, and that order's two halves."""
    people = np.unique(ids)
    np.random.default_rng(0).shuffle(people)
    return people, [set(people[: len(people) // 2]), set(people[len(people) // 2:])]


def tail_depth_check(vecs, ids, share: float = 0.01, fit_cap: int = 10, below: tuple[int, ...] = (2, 3, 4)) -> dict:
    """How many decades below its tail level the GPD extrapolation holds, where that can be
    measured. The table is fitted on `share` of one half's cross-identity pairs, with the tail level
    moved up by as much (FMR 1e-2 instead of 1e-4: as many exceedances as the full fit has); the
    thresholds it gives `below` decades under that level are checked against all the other half's
    pairs. Two ways to take the share: a random 1% of the pairs of all the half's people (the depth
    of the extrapolation alone), or all pairs of 10% of its people (depth plus the person-to-person
    variation a small fit also has). The shipped table reads 100K subjects at FPIR 0.01 / 0.001
    (FMR 1e-7 / 1e-8) 3 / 4 decades under its level."""
    people, halves = identity_halves(ids)
    capped = calibration.cap_per_identity(ids, fit_cap)
    tail_rate = 1e-4 / share
    rng = np.random.default_rng(0)
    out: dict = {"share_of_pairs": share, "tail_rate": tail_rate}
    for sample in ("pairs", "identities"):
        hits: dict[int, int] = dict.fromkeys(below, 0)
        pairs, directions = 0, []
        for fit, other in (halves, halves[::-1]):
            if sample == "identities":
                few = set([p for p in people if p in fit][: int(len(fit) * share ** 0.5)])
                rows = capped[[ids[i] in few for i in capped]]
                nm = calibration.nonmated_scores(vecs[rows], ids[rows])
            else:
                rows = capped[[ids[i] in fit for i in capped]]
                scores = calibration.nonmated_scores(vecs[rows], ids[rows]).scores
                scores = scores[rng.random(len(scores)) < share]
                top = np.sort(scores)[::-1][:200]
                nm = calibration.NonMated(scores, np.zeros((len(top), 2), int), top)
            table = calibration.calibrate(nm, tail_rate=tail_rate, bootstrap=20)
            rows_test = capped[[ids[i] in other for i in capped]]
            test = calibration.nonmated_scores(vecs[rows_test], ids[rows_test]).scores
            fmrs, thrs = np.log10(table["fmr"]), np.asarray(table["threshold"])
            row = {"fit_pairs": table["nonmated_pairs"], "tail_exceedances": table["tail"]["exceedances"],
                   "test_pairs": int(len(test)), "thresholds": {}}
            for d in below:
                f = tail_rate * 10.0 ** -d
                t = float(np.interp(np.log10(f), fmrs[::-1], thrs[::-1]))
                k = int((test >= t).sum())
                hits[d] += k
                row["thresholds"][str(d)] = {"fmr": f, "threshold": round(t, 5), "false_matches": k,
                                             "ratio_to_target": k / len(test) / f}
            pairs += len(test)
            directions.append(row)
        out[sample] = {"directions": directions, "decades_below_tail_level": {
            str(d): {"target_fmr": tail_rate * 10.0 ** -d, "false_matches": hits[d], "pairs": pairs,
                     "observed_fmr": hits[d] / pairs, "ci95": poisson_ci(hits[d], pairs),
                     "ratio_to_target": hits[d] / pairs / (tail_rate * 10.0 ** -d)} for d in below}}
        print("tail depth,", sample, {d: [round(r["thresholds"][str(d)]["ratio_to_target"], 2) for r in directions]
                                      for d in below})
    return out


def fpir_check(vecs, ids, sizes=(1_000, 3_000, 10_000), targets=(0.01, 0.001), per_identity: int = 5,
               fit_cap: int | None = 10) -> dict:
    """Both ways round: fit on one half's identities only; probes: up to `per_identity` photos of
    each of some other-half identities (else George W. Bush's 530 photos, against his brother in
    the gallery, would be a sixth of all strangers); galleries: the other-half's remaining photos
    first, then the fit half's photos (their comparisons with the probes were never in the fit)."""
    people, halves = identity_halves(ids)
    out = {"probes_per_identity": per_identity, "directions": [], "sizes": {}}
    tops: dict[int, list[np.ndarray]] = {n: [] for n in sizes}
    thresholds: dict[int, dict[float, list[float]]] = {n: {f: [] for f in targets} for n in sizes}
    for fit, other in (halves, halves[::-1]):
        in_fit = np.array([i in fit for i in ids])
        t0 = time.perf_counter()
        fit_rows = calibration.cap_per_identity(ids, fit_cap) if fit_cap else np.arange(len(ids))
        fit_rows = fit_rows[in_fit[fit_rows]]
        table = calibration.calibrate(calibration.nonmated_scores(vecs[fit_rows], ids[fit_rows]), bootstrap=20)
        fmrs, thrs = np.log10(table["fmr"]), np.asarray(table["threshold"])
        other_people = [p for p in people if p in other]
        need = max(sizes) - int(in_fit.sum())
        gal_people, count = set(), 0
        for p in other_people:
            if count >= need:
                break
            gal_people.add(p)
            count += int((ids == p).sum())
        seen: dict[str, int] = {}
        probes = []
        for i, name in enumerate(ids):
            if name in other and name not in gal_people and seen.get(name, 0) < per_identity:
                seen[name] = seen.get(name, 0) + 1
                probes.append(i)
        order = np.r_[np.flatnonzero([i in gal_people for i in ids]), np.flatnonzero(in_fit)]
        q = vecs[probes]
        out["directions"].append({"fit_identities": len(fit), "fit_photos": int(in_fit.sum()),
                                  "fit_seconds": round(time.perf_counter() - t0, 1), "probes": len(probes),
                                  "probe_identities": len(seen), "gallery_photos_available": int(len(order))})
        for n in sizes:
            tops[n].append((q @ vecs[order[:n]].T).max(axis=1))
            for f in targets:
                thresholds[n][f].append(float(np.interp(np.log10(fmr_for_fpir(f, n)), fmrs[::-1], thrs[::-1])))
    for n in sizes:
        row = {}
        for f in targets:
            k = int(sum((top >= t).sum() for top, t in zip(tops[n], thresholds[n][f])))
            m = int(sum(len(top) for top in tops[n]))
            row[f"{f:g}"] = {"per_comparison_fmr": fmr_for_fpir(f, n),
                             "thresholds": [round(t, 5) for t in thresholds[n][f]], "false_positives": k,
                             "searches": m, "expected": f * m, "observed_fpir": k / m, "ci95": poisson_ci(k, m),
                             "ratio_to_target": (k / m) / f}
        out["sizes"][str(n)] = row
        print(n, {f: (row[f]["false_positives"], round(row[f]["ratio_to_target"], 2)) for f in row})
    return out


# -- LFW open set, single vs multi-photo enrolment ---------------------------------------------
def subject_scores(q: np.ndarray, gal: np.ndarray, owner: np.ndarray, n_subjects: int, method: str) -> np.ndarray:
    """(probes, subjects) scores, each subject from all its templates."""
    if method == "centroid":
        cents = np.zeros((n_subjects, gal.shape[1]), np.float32)
        np.add.at(cents, owner, gal)
        return q @ l2_normalise(cents).T
    s = q @ gal.T
    out = np.full((len(q), n_subjects), -np.inf, np.float32)
    if method == "max":
        np.maximum.at(out.T, owner, s.T)
        return out
    # mean of the best two: templates sorted per subject, best two averaged (one template: itself).
    best = np.full((len(q), n_subjects), -np.inf, np.float32)
    second = np.full((len(q), n_subjects), -np.inf, np.float32)
    for j, o in enumerate(owner):
        col = s[:, j]
        new_best = np.maximum(best[:, o], col)
        second[:, o] = np.maximum(second[:, o], np.minimum(best[:, o], col))
        best[:, o] = new_best
    return np.where(np.isfinite(second), (best + second) / 2, best)


def open_set(q_m, true_m, q_n, gal, owner, n_subjects, method, model_id) -> dict:
    sm, sn = subject_scores(q_m, gal, owner, n_subjects, method), subject_scores(q_n, gal, owner, n_subjects, method)
    rank1 = sm.argmax(axis=1) == true_m
    r1s = np.where(rank1, sm.max(axis=1), -np.inf)
    non_top = sn.max(axis=1)
    frvt = metrics.fnir_at_fpir(r1s, non_top, 0.01)
    t = threshold_for_fpir(model_id, 0.01, n_subjects)
    return {"rank_1": float(rank1.mean()), "fnir_at_fpir_0.01": frvt["fnir"], "threshold_frvt": frvt["threshold"],
            "calibrated_threshold_fpir_0.01": t, "fnir_at_calibrated": float(np.mean(r1s < t)),
            "fpir_at_calibrated": float(np.mean(non_top >= t)),
            "fnir_at_calibrated_fpir_0.001": float(np.mean(r1s < threshold_for_fpir(model_id, 0.001, n_subjects))),
            "fpir_at_calibrated_fpir_0.001": float(np.mean(non_top >= threshold_for_fpir(model_id, 0.001, n_subjects)))}


def lfw_open_set(vecs, ids, model_id, scores, refused) -> dict:
    by_person: dict[str, list[int]] = {}
    for i, name in enumerate(ids):
        by_person.setdefault(name, []).append(i)
    singles = [v[0] for v in by_person.values() if len(v) == 1]
    multi = sorted(p for p, v in by_person.items() if len(v) > 1)
    out = {"non_mated_probes": len(singles)}
    # One photo enrolled per person with 2+ photos: the first (file order), the first the enrolment
    # gate accepts (what `faceprint enroll` does with the photos in that order), or the best quality
    # (`enroll --best 1`); all the person's other photos are mated probes.
    rules = {"one_photo": lambda v: v[0],
             "one_photo_first_accepted": lambda v: next((i for i in v if not refused[i]), v[0]),
             "one_photo_best_quality": lambda v: max(v, key=lambda i: scores[i])}
    for rule, pick in rules.items():
        gal = np.array([pick(by_person[p]) for p in multi])
        probes = [(k, i) for k, p in enumerate(multi) for i in by_person[p] if i != gal[k]]
        true = np.array([k for k, _ in probes])
        qm = vecs[[i for _, i in probes]]
        out[rule] = {"subjects": len(multi), "mated_probes": len(probes),
                     "enrolled_photos_below_gate": int(refused[gal].sum()),
                     **open_set(qm, true, vecs[singles], vecs[gal], np.arange(len(multi)), len(multi), "max", model_id)}
    # People with 3+ photos: 1 vs 2 enrolled, same probes (photos 3..), same non-mated probes.
    three = [p for p in multi if len(by_person[p]) >= 3]
    probes3 = [(k, i) for k, p in enumerate(three) for i in by_person[p][2:]]
    true3 = np.array([k for k, _ in probes3])
    q3 = vecs[[i for _, i in probes3]]
    one = np.array([by_person[p][0] for p in three])
    two = np.array([i for p in three for i in by_person[p][:2]])
    owner2 = np.repeat(np.arange(len(three)), 2)
    out["three_plus"] = {"subjects": len(three), "mated_probes": len(probes3),
                         "one_photo": open_set(q3, true3, vecs[singles], vecs[one], np.arange(len(three)),
                                               len(three), "max", model_id)}
    for method in ("max", "mean2", "centroid"):
        out["three_plus"][f"two_photos_{method}"] = open_set(q3, true3, vecs[singles], vecs[two], owner2,
                                                             len(three), method, model_id)
    return out


# -- near-duplicate enrolment threshold ----------------------------------------------------------
def near_duplicates(engine: Engine, vecs, ids, n_photos: int = 60) -> dict:
    """Cosine of a photo's template with that of a re-encoded/resized/cropped copy, against the
    cosines of different photos of one person (LFW mated pairs, up to 30 photos per person)."""
    people = sorted(p for p in LFW.iterdir() if p.is_dir())[::40][:n_photos]
    copies: dict[str, list[float]] = {"jpeg_q85": [], "jpeg_q60": [], "resize_0.8": [], "crop_8px": []}
    for person in people:
        img = cv2.imread(str(sorted(person.iterdir())[0]))
        t = engine.template(img).vector
        variants = {"jpeg_q85": cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1], 1),
                    "jpeg_q60": cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 60])[1], 1),
                    "resize_0.8": cv2.resize(img, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA),
                    "crop_8px": img[10:240, 8:245]}
        for k, v in variants.items():
            copies[k].append(float(t @ engine.template(v).vector))
    by: dict[str, list[int]] = {}
    for i, name in enumerate(ids):
        by.setdefault(name, []).append(i)
    mated = np.concatenate([(vecs[v[:30]] @ vecs[v[:30]].T)[np.triu_indices(len(v[:30]), 1)] for v in by.values()])
    out = {"copies": {k: {"median": float(np.median(v)), "p5": float(np.percentile(v, 5)),
                          "caught_at_0.95": float(np.mean(np.array(v) > 0.95)),
                          "caught_at_0.98": float(np.mean(np.array(v) > 0.98))} for k, v in copies.items()},
           "mated_pairs": int(len(mated)),
           "mated_above": {str(c): float(np.mean(mated > c)) for c in (0.9, 0.95, 0.98)}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="strangers,lfw,dup,fpir")
    ap.add_argument("--embedder", default="sface")
    args = ap.parse_args()
    engine = Engine(embedder=args.embedder)
    paths, vecs, ids, scores, refused = lfw_templates(engine)
    model_id = engine.model_id
    out = {"model": model_id, "photos": len(paths), "identities": len(np.unique(ids))}
    parts = args.parts.split(",")
    if "strangers" in parts:
        out["strangers"] = strangers(paths, vecs, ids, model_id)
        print("strangers", out["strangers"])
    if "lfw" in parts:
        out["lfw_open_set"] = lfw_open_set(vecs, ids, model_id, scores, refused)
        print("lfw", out["lfw_open_set"])
    if "dup" in parts:
        out["near_duplicates"] = near_duplicates(engine, vecs, ids)
        print("near duplicates", out["near_duplicates"])
    if "fpir" in parts:
        out["fpir_calibration_check"] = fpir_check(vecs, ids)
    if "depth" in parts:
        out["tail_depth_check"] = tail_depth_check(vecs, ids)
    save("openset_" + "_".join(parts), {"protocol": __doc__.strip().split("\n\n")[1], **out})


if __name__ == "__main__":
    main()
