"""Differentials reported, never inferred (FRVT Part 3 style): FNMR and FMR per group of a labelled
dataset at one threshold, impostor pairs within a group and across two groups counted apart. The
groups come from the user's CSV of `identity,group`; nobody is classified by faceprint."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import UsageError

UNLABELLED = "unlabelled"     # the group of every identity the CSV does not name


def read_groups(path: str | Path) -> dict[str, str]:
    """{identity: group} from a CSV of `identity,group` rows (a header row of those words is skipped)."""
    path = Path(path)
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--groups {path}: cannot read it ({exc}); expected a CSV of identity,group") from exc
    out: dict[str, str] = {}
    for line, row in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        if not any(cells) or (line == 1 and [c.lower() for c in cells] == ["identity", "group"]):
            continue
        if len(cells) != 2 or not all(cells):
            raise UsageError(f"--groups {path}, line {line}: expected 'identity,group', got {','.join(row)!r}")
        name, group = cells
        if out.get(name, group) != group:
            raise UsageError(f"--groups {path}, line {line}: {name!r} is in group {out[name]!r} already")
        out[name] = group
    if not out:
        raise UsageError(f"--groups {path}: no identity,group rows")
    return out


def group_of(identity: str, groups: dict[str, str]) -> str:
    """The CSV's group of a dataset identity (CFP's are "cfp/<folder>": the folder name matches too)."""
    return groups.get(identity) or groups.get(identity.removeprefix("cfp/")) or UNLABELLED


def _rate(hits: float, n: float) -> float | None:
    return float(hits / n) if n else None


def _count(vectors: np.ndarray, ids: np.ndarray, grp: np.ndarray, n_groups: int, threshold: float,
           block: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Over every pair of rows (upper triangle), in row blocks: per group, mated pairs and misses;
    per (group, group) cell (lower index first), non-mated pairs and false matches."""
    n = len(vectors)
    cols = np.arange(n)
    mated_n, mated_miss = np.zeros(n_groups, np.int64), np.zeros(n_groups, np.int64)
    non_n, non_hit = np.zeros(n_groups * n_groups, np.int64), np.zeros(n_groups * n_groups, np.int64)
    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        s = vectors[i0:i1] @ vectors.T
        upper = cols[None, :] > np.arange(i0, i1)[:, None]
        same = ids[i0:i1, None] == ids[None, :]
        ga, gb = np.broadcast_arrays(grp[i0:i1, None], grp[None, :])
        mated = upper & same
        mated_n += np.bincount(ga[mated], minlength=n_groups)
        mated_miss += np.bincount(ga[mated & (s < threshold)], minlength=n_groups)
        non = upper & ~same
        cell = np.minimum(ga, gb) * n_groups + np.maximum(ga, gb)
        non_n += np.bincount(cell[non], minlength=n_groups * n_groups)
        non_hit += np.bincount(cell[non & (s >= threshold)], minlength=n_groups * n_groups)
    return mated_n, mated_miss, non_n.reshape(n_groups, n_groups), non_hit.reshape(n_groups, n_groups)


def differentials(vectors: dict[Path, np.ndarray | None], identities: dict[str, list[Path]],
                  groups: dict[str, str], threshold: float, threshold_source: str) -> dict:
    """FNMR (every mated pair) and FMR (every non-mated pair) of the evaluated images per group at
    `threshold`; images without a template (failure to enrol) are counted per group and left out."""
    group_names = sorted({group_of(n, groups) for n in identities} | {UNLABELLED})
    code = {g: i for i, g in enumerate(group_names)}
    rows, ids, grp, fte = [], [], [], dict.fromkeys(group_names, 0)
    for k, (name, paths) in enumerate(sorted(identities.items())):
        g = group_of(name, groups)
        for p in paths:
            if vectors.get(p) is None:
                fte[g] += 1
                continue
            rows.append(vectors[p]), ids.append(k), grp.append(code[g])
    v = np.vstack(rows).astype(np.float32) if rows else np.zeros((0, 1), np.float32)
    mated_n, miss, non_n, hit = _count(v, np.array(ids), np.array(grp, np.int64), len(group_names), threshold)
    per_group = {}
    for g, i in code.items():
        names = [n for n in identities if group_of(n, groups) == g]
        per_group[g] = {
            "identities": len(names), "images": sum(len(identities[n]) for n in names), "failed_to_enrol": fte[g],
            "mated_pairs": int(mated_n[i]), "fnmr": _rate(miss[i], mated_n[i]),
            "nonmated_pairs_within": int(non_n[i, i]), "fmr_within": _rate(hit[i, i], non_n[i, i]),
        }
    per_group = {g: r for g, r in per_group.items() if r["identities"]}
    overall_fmr = _rate(hit.sum(), non_n.sum())
    for r in per_group.values():
        r["fmr_within_vs_overall"] = (r["fmr_within"] / overall_fmr
                                      if r["fmr_within"] is not None and overall_fmr else None)
    cross = [{"groups": [a, b], "nonmated_pairs": int(non_n[code[a], code[b]]),
              "fmr": _rate(hit[code[a], code[b]], non_n[code[a], code[b]])}
             for i, a in enumerate(per_group) for b in list(per_group)[i + 1:]]
    labelled = sum(group_of(n, groups) != UNLABELLED for n in identities)
    return {"threshold": float(threshold), "threshold_source": threshold_source,
            "csv_identities": len(groups), "csv_identities_in_dataset": labelled,
            "pairs": "every pair of the evaluated images that both have a template (not only the protocol's pairs)",
            "overall": {"mated_pairs": int(mated_n.sum()), "fnmr": _rate(miss.sum(), mated_n.sum()),
                        "nonmated_pairs": int(non_n.sum()), "fmr": overall_fmr},
            "groups": per_group, "cross_groups": cross}
