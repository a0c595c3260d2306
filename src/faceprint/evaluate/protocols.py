"""Dataset protocols: which images are compared with which."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import FaceprintError


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path
    mated: bool
    fold: int


def lfw_image(root: Path, name: str, index: int) -> Path:
    return root / "lfw-deepfunneled" / name / f"{name}_{index:04d}.jpg"


def lfw_pairs(root: str | Path, folds: list[int] | None = None) -> list[Pair]:
    """The standard LFW view-2 protocol from pairs.txt: 10 folds of 300 mated + 300 non-mated pairs."""
    root = Path(root)
    path = root / "pairs.txt"
    if not path.is_file():
        raise FaceprintError(f"{path} not found; --data must be the LFW folder holding pairs.txt and "
                             "lfw-deepfunneled/")
    lines = path.read_text().split("\n")
    n_folds, n = (int(v) for v in lines[0].split())
    pairs: list[Pair] = []
    rows = [ln.split() for ln in lines[1:] if ln.strip()]
    for fold in range(n_folds):
        block = rows[fold * 2 * n:(fold + 1) * 2 * n]
        if folds is not None and fold not in folds:
            continue
        for r in block:
            if len(r) == 3:
                pairs.append(Pair(lfw_image(root, r[0], int(r[1])), lfw_image(root, r[0], int(r[2])), True, fold))
            else:
                pairs.append(Pair(lfw_image(root, r[0], int(r[1])), lfw_image(root, r[2], int(r[3])), False, fold))
    return pairs
