"""Open-set 1:N with one photo per person, on LFW and CFP: FNIR at FPIR 0.001 and 0.01 with 1K and 10K
enrolled, and which decision score finds people best at the same measured FPIR.

    .venv/bin/python bench/onephoto.py                  # ~2 min warm (templates cached)

Per set S (LFW; CFP frontal): a seeded third of the people B of S (bench/sets.py) are strangers, all
their photos non-mated searches; of the others, those with 2+ photos are enrolled with their first
photo (at most 600, seeded), their other photos are mated searches. The gallery is filled to 1,000 or
10,000 subjects with distractors: single photos of people who are neither (LFW and CFP frontal
photos, each its own subject; people in both sets matched by name). FNIR: mated searches whose mate is not the top candidate or scores
below the threshold; the threshold is set on the non-mated searches at the target FPIR (FRVT), so
every decision score is compared at the same measured FPIR. Decision scores:
  raw      the top candidate's cosine (what ships);
  margin   top-1 minus top-2 cosine;
  raw+margin  2 x top-1 - top-2;
  tnorm    the top-1 cosine standardised by the probe's scores against a cohort (1,000 photos of
           people A in no gallery): (s - mean) / std;
  znorm    standardised by the candidate's own scores against the cohort (computed at enrolment);
  quality  the top-1 cosine plus a term in the probe's embedding norm, fitted on people A (below).
A method is worth shipping only where it lowers FNIR on both sets at both gallery sizes.
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
from faceprint.evaluate.cache import TemplateCache  # noqa: E402

FPIRS = (0.001, 0.01)
SIZES = (1_000, 10_000)
METHODS = ("raw", "margin", "raw+margin", "tnorm", "znorm", "quality")


def top2(probes: np.ndarray, gallery: np.ndarray, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(indices, scores) of each probe's two best gallery rows."""
    idx, sc = [], []
    for lo in range(0, len(probes), block):
        s = probes[lo:lo + block] @ gallery.T
        i = np.argpartition(-s, 1, axis=1)[:, :2]
        v = np.take_along_axis(s, i, 1)
        o = np.argsort(-v, 1)
        idx.append(np.take_along_axis(i, o, 1))
        sc.append(np.take_along_axis(v, o, 1))
    return np.vstack(idx), np.vstack(sc)


def decision_scores(method: str, s: np.ndarray, i: np.ndarray, probe_stats: np.ndarray, gal_stats: np.ndarray,
                    norm: np.ndarray, beta: float) -> np.ndarray:
    if method == "raw":
        return s[:, 0]
    if method == "margin":
        return s[:, 0] - s[:, 1]
    if method == "raw+margin":
        return 2 * s[:, 0] - s[:, 1]
    if method == "tnorm":
        return (s[:, 0] - probe_stats[:, 0]) / probe_stats[:, 1]
    if method == "znorm":
        return (s[:, 0] - gal_stats[i[:, 0], 0]) / gal_stats[i[:, 0], 1]
    return s[:, 0] + beta * norm


def fnir_at(scores_m: np.ndarray, hit: np.ndarray, scores_n: np.ndarray, fpir: float) -> dict:
    thr = sets.threshold_at_fmr(scores_n, fpir)
    return {"fnir": float(np.mean(~hit | (scores_m < thr))), "fpir": float(np.mean(scores_n >= thr)),
            "threshold": round(float(thr), 5)}


def stats(x: np.ndarray, cohort: np.ndarray) -> np.ndarray:
    c = x @ cohort.T
    return np.c_[c.mean(1), c.std(1) + 1e-6]


def protocol(s: sets.PhotoSet, pool: list[tuple[sets.PhotoSet, np.ndarray]], seed: int = 0) -> dict:
    """Mated subjects, mated and non-mated searches of set s; distractor rows from the pool."""
    rng = np.random.default_rng(seed)
    frontal = s.views != "profile"
    b = ~s.fit & frontal
    people = sorted(set(s.identities[b]))
    strangers = set(rng.permutation(people)[: len(people) // 3])
    multi = [p for p in people if p not in strangers and np.sum((s.identities == p) & b) >= 2]
    enrolled = set(rng.permutation(multi)[:600])
    rows_enrol, rows_probe = [], []
    for p in sorted(enrolled):
        r = np.flatnonzero((s.identities == p) & b)
        rows_enrol.append(r[0])
        rows_probe += list(r[1:])
    rows_non = np.flatnonzero(np.isin(s.identities, list(strangers)) & b)
    # 172 CFP people are in LFW too: distractors are kept apart from them by name.
    used = list(sets.canonical_names(list(enrolled | strangers)))
    distractors = np.vstack([ps.vectors[keep & ~np.isin(sets.canonical_names(ps.identities), used)]
                             for ps, keep in pool])
    return {"enrol": s.vectors[rows_enrol], "enrol_ids": s.identities[rows_enrol], "probe": s.vectors[rows_probe],
            "probe_ids": s.identities[rows_probe], "probe_norm": np.array([s.quality[k].get("embedding_norm", 0)
                                                                             for k in rows_probe]),
            "non": s.vectors[rows_non], "non_norm": np.array([s.quality[k].get("embedding_norm", 0) for k in rows_non]),
            "distractors": distractors[rng.permutation(len(distractors))]}


def run_set(p: dict, cohort: np.ndarray, beta: float) -> dict:
    out = {"enrolled_people": len(p["enrol"]), "mated_searches": len(p["probe"]), "nonmated_searches": len(p["non"])}
    for size in SIZES:
        n_d = size - len(p["enrol"])
        if n_d > len(p["distractors"]):
            out[str(size)] = {"skipped": f"only {len(p['distractors'])} distractors"}
            continue
        gallery = np.vstack([p["enrol"], p["distractors"][:n_d]])
        gal_stats = stats(gallery, cohort)
        im, sm = top2(p["probe"], gallery)
        inn, sn = top2(p["non"], gallery)
        hit = im[:, 0] < len(p["enrol"])
        hit &= p["enrol_ids"][np.minimum(im[:, 0], len(p["enrol"]) - 1)] == p["probe_ids"]
        ps_m, ps_n = stats(p["probe"], cohort), stats(p["non"], cohort)
        res = {"rank1": float(hit.mean())}
        for m in METHODS:
            dm = decision_scores(m, sm, im, ps_m, gal_stats, p["probe_norm"], beta)
            dn = decision_scores(m, sn, inn, ps_n, gal_stats, p["non_norm"], beta)
            res[m] = {f"{f:g}": fnir_at(dm, hit, dn, f) for f in FPIRS}
        out[str(size)] = res
    return out


def fit_beta(a_sets: list[sets.PhotoSet]) -> float:
    """The norm term of the 'quality' score, fitted on people A: the slope of the top non-mated
    cosine against the probe's embedding norm is removed (so strangers with weak photos and
    strong photos face the same threshold)."""
    xs, ys = [], []
    for s in a_sets:
        rows = np.flatnonzero(s.fit & (s.views != "profile"))[:4000]
        v, ids = s.vectors[rows], s.identities[rows]
        sc = v @ v.T
        sc[ids[:, None] == ids[None, :]] = -1
        ys.append(sc.max(1))
        xs.append(np.array([s.quality[k].get("embedding_norm", 0) for k in rows]))
    x, y = np.concatenate(xs), np.concatenate(ys)
    return float(-np.polyfit(x, y, 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="sface")
    args = ap.parse_args()
    engine = Engine(embedder=args.model, threshold=0.0)
    cache = TemplateCache()
    lfw, cfp = sets.lfw_set(engine, cache), sets.cfp_set(engine, cache)
    rng = np.random.default_rng(1)
    a_rows = np.flatnonzero(lfw.fit)
    cohort_rows = rng.choice(a_rows, 1000, replace=False)
    cohort = lfw.vectors[cohort_rows]
    not_cohort = np.ones(len(lfw.paths), bool)
    not_cohort[cohort_rows] = False
    pool = [(lfw, not_cohort), (cfp, cfp.views != "profile")]
    beta = fit_beta([lfw, cfp])
    out = {"model": engine.model_id, "split": sets.SPLIT, "quality_beta": beta,
           "cohort": "1,000 LFW photos of people A (seeded), in no gallery", "protocol": __doc__.strip().split("\n\n")[1]}
    for name, s in (("LFW", lfw), ("CFP", cfp)):
        out[name] = run_set(protocol(s, pool), cohort, beta)
        for size in SIZES:
            r = out[name][str(size)]
            if "raw" in r:
                print(name, size, "rank1", round(r["rank1"], 3), {m: [r[m][f"{f:g}"]["fnir"] for f in FPIRS] for m in METHODS})
    save("onephoto", out)


if __name__ == "__main__":
    main()
