"""Score fusion: z-normalise each model's scores with statistics learned on training data, then
average. Equivalent to a weighted sum with weights 1/sigma_i (see embed/fused.py), which is how a
learned fusion ships as a single model."""
from __future__ import annotations

import numpy as np


def learn_znorm(scores: dict[str, np.ndarray], train: np.ndarray) -> dict[str, tuple[float, float]]:
    return {m: (float(np.mean(s[train])), float(np.std(s[train]) or 1.0)) for m, s in scores.items()}


def apply_znorm(scores: dict[str, np.ndarray], stats: dict[str, tuple[float, float]], sel=slice(None)) -> np.ndarray:
    return np.mean([(scores[m][sel] - mu) / sd for m, (mu, sd) in stats.items()], axis=0)


def weights_from_znorm(stats: dict[str, tuple[float, float]]) -> dict[str, float]:
    inv = {m: 1.0 / sd for m, (_, sd) in stats.items()}
    total = sum(inv.values())
    return {m: v / total for m, v in inv.items()}


def fuse_by_folds(scores: dict[str, np.ndarray], folds: np.ndarray) -> np.ndarray:
    """Fused scores where each fold's are normalised with statistics from the other folds only."""
    out = np.empty(len(folds))
    for f in np.unique(folds):
        test = folds == f
        out[test] = apply_znorm(scores, learn_znorm(scores, ~test), test)
    return out


def concat_templates(per_part: dict[str, dict], weights: dict[str, float]) -> dict:
    """Fused templates concat(sqrt(w_i) * t_i), whose inner product is the weighted score sum (see
    embed/fused.py), per key of the part template dicts; None where any part has no template."""
    parts = list(per_part)
    keys = per_part[parts[0]]
    return {k: (None if any(per_part[m].get(k) is None for m in parts)
                else np.concatenate([np.sqrt(weights[m]) * per_part[m][k] for m in parts]).astype(np.float32))
            for k in keys}
