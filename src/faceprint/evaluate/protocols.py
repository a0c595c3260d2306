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


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"}


def identity_folders(root: str | Path) -> dict[str, list[Path]]:
    """A folder-per-identity dataset: root/<identity>/<image> -> {identity: sorted images}."""
    root = Path(root)
    if not root.is_dir():
        raise FaceprintError(f"{root} is not a folder; expected <root>/<identity>/<image files>")
    out = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        imgs = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if imgs:
            out[d.name] = imgs
    if not out:
        raise FaceprintError(f"{root} has no <identity>/ sub-folders with images")
    return out


@dataclass(frozen=True)
class IdentificationSplit:
    """1:N protocol: gallery (identity -> enrolment image), mated probes of enrolled identities,
    and non-mated probes of identities withheld from the gallery."""
    gallery: dict[str, Path]
    mated: list[tuple[str, Path]]
    nonmated: list[tuple[str, Path]]


def identification_split(identities: dict[str, list[Path]], *, withheld: float = 0.0,
                         seed: int = 0) -> IdentificationSplit:
    """First image of each identity enrolled (single-image identities enrol as distractors); the
    other images are probes. A seeded `withheld` fraction of the multi-image identities is kept out
    of the gallery, and their images become non-mated probes."""
    import random

    multi = sorted(n for n, imgs in identities.items() if len(imgs) > 1)
    rng = random.Random(seed)
    held = set(rng.sample(multi, int(round(withheld * len(multi))))) if withheld else set()
    gallery, mated, nonmated = {}, [], []
    for name, imgs in sorted(identities.items()):
        if name in held:
            nonmated += [(name, p) for p in imgs[1:]]
            continue
        gallery[name] = imgs[0]
        mated += [(name, p) for p in imgs[1:]]
    return IdentificationSplit(gallery, mated, nonmated)


def folder_pairs(identities: dict[str, list[Path]], *, max_nonmated: int = 200_000, seed: int = 0,
                 folds: int = 10) -> tuple[list[Pair], dict]:
    """All mated pairs of a folder-per-identity set, plus every non-mated pair or, past
    max_nonmated, a seeded uniform sample of them; pairs spread over `folds` seeded folds."""
    import itertools

    import numpy as np

    rng = np.random.default_rng(seed)
    mated = [(a, b) for imgs in identities.values() for a, b in itertools.combinations(imgs, 2)]
    flat = [(name, p) for name, imgs in identities.items() for p in imgs]
    n = len(flat)
    total_non = (n * (n - 1)) // 2 - len(mated)
    nonmated: set[tuple[int, int]] = set()
    if total_non <= max_nonmated:
        non = [(flat[i][1], flat[j][1]) for i, j in itertools.combinations(range(n), 2) if flat[i][0] != flat[j][0]]
    else:
        while len(nonmated) < max_nonmated:
            i, j = (int(v) for v in rng.integers(0, n, 2))
            if flat[i][0] != flat[j][0]:
                nonmated.add((min(i, j), max(i, j)))
        non = [(flat[i][1], flat[j][1]) for i, j in sorted(nonmated)]
    fold_of = rng.permutation(len(mated) + len(non)) % folds
    pairs = [Pair(a, b, True, int(fold_of[k])) for k, (a, b) in enumerate(mated)]
    pairs += [Pair(a, b, False, int(fold_of[len(mated) + k])) for k, (a, b) in enumerate(non)]
    counts = {"identities": len(identities), "images": n, "mated_pairs": len(mated),
              "nonmated_pairs": len(non), "nonmated_pairs_possible": total_non,
              "nonmated_sampled": total_non > max_nonmated, "seed": seed, "folds": folds}
    return pairs, counts


CFP_PROTOCOLS = ("FF", "FP")


def _cfp_list(root: Path, name: str) -> dict[int, Path]:
    path = root / "Protocol" / name
    if not path.is_file():
        raise FaceprintError(f"{path} not found; --data must be the CFP folder holding Protocol/ and Data/Images/")
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            number, rel = line.split(maxsplit=1)
            out[int(number)] = (root / "Protocol" / rel.strip()).resolve()
    return out


def cfp_pairs(root: str | Path, protocol: str = "FP", folds: list[int] | None = None) -> list[Pair]:
    """The standard CFP protocol (Sengupta et al., WACV 2016): 10 splits of 350 mated + 350
    non-mated pairs, frontal-frontal ("FF") or frontal-profile ("FP"; first image frontal)."""
    root, protocol = Path(root), protocol.upper()
    if protocol not in CFP_PROTOCOLS:
        raise FaceprintError(f"CFP protocol must be one of {CFP_PROTOCOLS}, not {protocol!r}")
    frontal = _cfp_list(root, "Pair_list_F.txt")
    second = frontal if protocol == "FF" else _cfp_list(root, "Pair_list_P.txt")
    pairs: list[Pair] = []
    for fold in range(10):
        if folds is not None and fold not in folds:
            continue
        for name, mated in (("same.txt", True), ("diff.txt", False)):
            path = root / "Protocol" / "Split" / protocol / f"{fold + 1:02d}" / name
            if not path.is_file():
                raise FaceprintError(f"{path} not found; the CFP folder is incomplete")
            for line in path.read_text().split():
                i, j = (int(v) for v in line.split(","))
                pairs.append(Pair(frontal[i], second[j], mated, fold))
    return pairs


def cfp_identities(root: str | Path, views: tuple[str, ...] = ("frontal", "profile")) -> dict[str, list[Path]]:
    """CFP as a folder-per-identity set: {"cfp/<id>": its images of the given views}. The prefix keeps
    CFP identities apart from LFW's when the two sets are pooled."""
    images = Path(root) / "Data" / "Images"
    if not images.is_dir():
        raise FaceprintError(f"{images} not found; --data must be the CFP folder holding Data/Images/")
    out = {}
    for d in sorted(p for p in images.iterdir() if p.is_dir()):
        imgs = sorted(p.resolve() for v in views for p in (d / v).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if imgs:
            out[f"cfp/{d.name}"] = imgs
    return out
