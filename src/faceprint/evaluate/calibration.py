"""FMR -> threshold calibration that holds in the far tail.

Non-mated scores come from every cross-identity pair of a labelled template set. Above a tail level
u (the score exceeded by a fraction `tail_rate` of them) the exceedances are fitted with a
generalized Pareto distribution (the peaks-over-threshold model of extreme-value theory), which
extrapolates the table below the lowest FMR the pair count can measure. Pairs the fit calls
impossible (expected count under the fitted tail < `outlier_expected`) are label noise, i.e. the
same person under two names or a mislabelled photo: they are dropped and the fit repeated until
none is left. The rows are listed in the result so a person can check them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..scoring import threshold_at_fmr
from ..scoring.tail import TailFit, fit_gpd, fit_top, top_sorted

# 1e-1 .. 1e-10 in steps of 1, 3 per decade (log-interpolated in between by scoring.threshold_for_fmr).
FMR_GRID = tuple(float(f"{m}e-{e}") for e in range(1, 11) for m in (3, 1) if not (m == 3 and e == 1))


@dataclass
class NonMated:
    """The non-mated scores of a template set, plus the top pairs (indices into the template list)."""
    scores: np.ndarray            # float32, every cross-identity pair
    top_pairs: np.ndarray         # (K, 2) template indices of the K highest, descending by score
    top_scores: np.ndarray


def nonmated_scores(vectors: np.ndarray, identities: np.ndarray, *, gallery: np.ndarray | None = None,
                    gallery_identities: np.ndarray | None = None, top: int = 200, block: int = 2048) -> NonMated:
    """Every cross-identity score among the rows of `vectors` (upper triangle), or, with `gallery`,
    between each row and each gallery row (probes of another kind, e.g. masked faces against clean
    templates; top_pairs then index (vectors, gallery)); in row blocks so that 13,000 templates
    (87 million pairs) fit in memory."""
    v = np.ascontiguousarray(vectors, np.float32)
    g = v if gallery is None else np.ascontiguousarray(gallery, np.float32)
    ids = np.asarray(identities)
    gids = ids if gallery is None else np.asarray(gallery_identities)
    _, codes = np.unique(np.r_[ids, gids], return_inverse=True)
    codes, gcodes = codes[:len(ids)], codes[len(ids):]
    chunks, best_s, best_p = [], [], []
    for lo in range(0, len(v), block):
        hi = min(lo + block, len(v))
        first = lo if gallery is None else 0         # the triangle starts at the block's own rows
        sims = v[lo:hi] @ g[first:].T
        if gallery is None:
            rows, cols = np.triu_indices(hi - lo, 1, m=len(g) - first)
        else:
            rows, cols = (a.ravel() for a in np.indices(sims.shape))
        keep = codes[lo + rows] != gcodes[first + cols]
        s = sims[rows[keep], cols[keep]]
        chunks.append(s)
        if len(s):
            k = min(top, len(s))
            sel = np.argpartition(s, len(s) - k)[len(s) - k:]
            best_s.append(s[sel])
            best_p.append(np.c_[lo + rows[keep][sel], first + cols[keep][sel]])
    scores = np.concatenate(chunks)
    bs, bp = np.concatenate(best_s), np.vstack(best_p)
    order = np.argsort(-bs)[:top]
    return NonMated(scores, bp[order], bs[order])


def fit_tail(nm: NonMated, *, tail_rate: float = 1e-4, outlier_expected: float = 1e-3,
             max_drop: int = 100) -> tuple[TailFit, np.ndarray]:
    """Fit the GPD tail, dropping top pairs the fit says should not exist (see module doc).
    Returns the fit and the exceedances it rests on."""
    head = top_sorted(nm.scores, max(int(tail_rate * len(nm.scores)), 50) + max_drop + 1)
    dropped = 0
    while True:
        n = len(nm.scores) - dropped
        k = max(int(tail_rate * n), 50)
        fit, excess = fit_top(head[dropped:dropped + k + 1], n=n, k=k, dropped=dropped)
        if dropped >= min(max_drop, len(nm.top_scores)) or n * float(fit.fmr(head[dropped])) >= outlier_expected:
            return fit, excess
        dropped += 1


def calibrate(nm: NonMated, *, tail_rate: float = 1e-4, bootstrap: int = 200, seed: int = 0) -> dict:
    """The FMR -> threshold table: measured where the tail level is not reached (FMR >= the tail
    rate), the GPD fit below; 95% bootstrap interval of the fitted thresholds (exceedances resampled)."""
    fit, excess = fit_tail(nm, tail_rate=tail_rate)
    k = fit.exceedances
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(bootstrap):
        s, sc = fit_gpd(rng.choice(excess, len(excess)))
        boot.append(TailFit(fit.u, fit.rate, s, sc, fit.n, k))
    table = {"fmr": [], "threshold": [], "ci95": [], "measured": [], "source": []}
    for f in FMR_GRID:
        # Measured only where at least 10 non-mated pairs reach it (fewer are too few to measure).
        kept = len(nm.scores) - len(fit.dropped)
        measured = (threshold_at_fmr(nm.scores, f, exclude_top=len(fit.dropped))
                    if np.floor(f * kept) >= 10 else None)
        if f >= fit.rate:
            thr, ci, src = measured, None, "measured"
        else:
            thr = fit.threshold(f)
            lo, hi = np.percentile([b.threshold(f) for b in boot], [2.5, 97.5])
            ci, src = [round(float(lo), 5), round(float(hi), 5)], "gpd"
        table["fmr"].append(f)
        table["threshold"].append(round(float(thr), 5))
        table["ci95"].append(ci)
        table["measured"].append(None if measured is None else round(measured, 5))
        table["source"].append(src)
    table.update({
        "nonmated_pairs": int(fit.n), "dropped_pairs": len(fit.dropped),
        "tail": {"model": "generalized Pareto over the top exceedances (peaks over threshold)",
                 "u": round(fit.u, 6), "rate": fit.rate, "exceedances": k,
                 "shape": round(fit.shape, 6), "scale": round(fit.scale, 6)},
    })
    return table


def merge_identities(identities: np.ndarray, same_person: list[tuple[str, str]]) -> np.ndarray:
    """Relabel so that each listed pair of names counts as one identity (label-noise cleaning)."""
    parent = {}

    def root(x):
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for a, b in same_person:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[rb] = ra
    return np.array([root(x) for x in identities])


def read_same_person(path) -> list[tuple[str, str]]:
    """Pairs of names from a text file, one "NameA NameB" per line; '#' starts a comment."""
    from pathlib import Path
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].split()
        if len(line) == 2:
            out.append((line[0], line[1]))
    return out


def cap_per_identity(identities: np.ndarray, cap: int) -> np.ndarray:
    """Row indices keeping at most `cap` photos per identity (the first ones), so that a few people
    with hundreds of photos do not make up most of the non-mated pairs."""
    seen: dict = {}
    keep = []
    for i, name in enumerate(identities):
        if seen.get(name, 0) < cap:
            seen[name] = seen.get(name, 0) + 1
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def pool(parts: list[NonMated], *, seed: int = 0) -> NonMated:
    """Non-mated scores of several sets given equal weight: each set's scores uniformly subsampled
    (seeded) to the smallest set's count, so that a large set does not decide the table alone; the
    top pairs become (part, index) rows of the parts' own top pairs, highest first."""
    rng = np.random.default_rng(seed)
    n = min(len(p.scores) for p in parts)
    scores = [p.scores if len(p.scores) == n else p.scores[np.sort(rng.choice(len(p.scores), n, replace=False))]
              for p in parts]
    top_s = np.concatenate([p.top_scores for p in parts])
    top_p = np.vstack([np.c_[np.full(len(p.top_scores), k), np.arange(len(p.top_scores))] for k, p in enumerate(parts)])
    order = np.argsort(-top_s)
    return NonMated(np.concatenate(scores), top_p[order], top_s[order])


def observed_fmr(scores: np.ndarray, threshold: float) -> dict:
    """FMR at a threshold over non-mated scores, with a 95% Poisson interval on the count."""
    from scipy.stats import chi2
    k, n = int(np.sum(scores >= threshold)), len(scores)
    lo = chi2.ppf(0.025, 2 * k) / 2 if k else 0.0
    hi = chi2.ppf(0.975, 2 * (k + 1)) / 2
    return {"fmr": k / n if n else float("nan"), "ci95": [lo / n, hi / n], "false_matches": k, "pairs": n}


def strictest(tables: dict[str, dict]) -> dict:
    """One table from several sets' tables (calibrate's output): at each FMR the highest of their
    thresholds, so that the FMR holds on each set (the set with the heaviest non-mated tail decides,
    as FRVT Part 3 advises for populations whose FMR differs). `decided_by` names the set per row."""
    names = list(tables)
    first = tables[names[0]]
    out = {"fmr": list(first["fmr"]), "threshold": [], "ci95": [], "measured": [], "source": [], "decided_by": []}
    for i in range(len(first["fmr"])):
        name = max(names, key=lambda n: tables[n]["threshold"][i])
        for key in ("threshold", "ci95", "measured", "source"):
            out[key].append(tables[name][key][i])
        out["decided_by"].append(name)
    out["nonmated_pairs"] = int(sum(t["nonmated_pairs"] for t in tables.values()))
    out["dropped_pairs"] = int(sum(t["dropped_pairs"] for t in tables.values()))
    out["tail"] = {n: t["tail"] for n, t in tables.items()}
    return out
