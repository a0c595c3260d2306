"""Datasets an evaluation runs over: the pairs to compare, the identities for 1:N, and a line saying
which protocol produced them. Built here so every consumer (CLI, benchmarks) states it the same way."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .protocols import Pair, cfp_pairs, folder_pairs, identity_folders, lfw_pairs


@dataclass
class Dataset:
    name: str
    protocol: str
    pairs: list[Pair]
    counts: dict
    identities: dict[str, list[Path]] = field(default_factory=dict)


def folder_dataset(root: str | Path, *, max_nonmated: int = 200_000, seed: int = 0) -> Dataset:
    """A folder-per-identity set (ROOT/<identity>/*.jpg): every mated pair, non-mated pairs sampled
    (seeded) above `max_nonmated`, in seeded folds."""
    identities = identity_folders(root)
    pairs, counts = folder_pairs(identities, max_nonmated=max_nonmated, seed=seed)
    return Dataset(name=Path(root).name, pairs=pairs, counts=counts, identities=identities,
                   protocol=("folder-per-identity: all mated pairs, non-mated pairs "
                             + ("sampled (seeded)" if counts["nonmated_sampled"] else "all")
                             + f"; {counts['folds']} seeded folds, threshold chosen on the other folds"))


def lfw_dataset(root: str | Path, folds: list[int] | None = None) -> Dataset:
    """LFW view 2 (pairs.txt, the given folds or all ten); 1:N over the images of those pairs."""
    pairs = lfw_pairs(root, folds)
    images = sorted({x for pr in pairs for x in (pr.a, pr.b)})
    identities: dict[str, list[Path]] = {}
    for p in images:
        identities.setdefault(p.parent.name, []).append(p)
    n_folds = len({p.fold for p in pairs})
    counts = {"pairs": len(pairs), "mated_pairs": sum(p.mated for p in pairs),
              "nonmated_pairs": sum(not p.mated for p in pairs), "images": len(images), "folds": n_folds}
    return Dataset(name="LFW (deep-funneled)", pairs=pairs, identities=identities, counts=counts,
                   protocol=(f"LFW view 2 (pairs.txt): {n_folds} fold(s) of 300 mated + 300 non-mated pairs; "
                             "accuracy with the threshold chosen on the other folds, FNMR at the manifest's "
                             f"calibrated FMR thresholds; 1:N over the {len(images):,} images of these pairs"))


def cfp_dataset(root: str | Path, protocol: str = "FP", folds: list[int] | None = None) -> Dataset:
    """CFP (Sengupta et al., WACV 2016), frontal-frontal ("FF") or frontal-profile ("FP"): the given
    splits of 350 mated + 350 non-mated pairs (all ten by default); 1:N over the images of those pairs."""
    pairs = cfp_pairs(root, protocol, folds)
    images = sorted({x for pr in pairs for x in (pr.a, pr.b)})
    identities: dict[str, list[Path]] = {}
    for p in images:
        identities.setdefault(f"cfp/{p.parent.parent.name}", []).append(p)
    n_folds = len({p.fold for p in pairs})
    counts = {"pairs": len(pairs), "mated_pairs": sum(p.mated for p in pairs),
              "nonmated_pairs": sum(not p.mated for p in pairs), "images": len(images), "folds": n_folds}
    return Dataset(name=f"CFP-{protocol.upper()}", pairs=pairs, identities=identities, counts=counts,
                   protocol=(f"CFP-{protocol.upper()} (Protocol/Split/{protocol.upper()}): {n_folds} split(s) of 350 mated + "
                             "350 non-mated pairs; accuracy with the threshold chosen on the other splits, FNMR at "
                             f"the manifest's calibrated FMR thresholds; 1:N over the {len(images):,} images of these pairs"))
