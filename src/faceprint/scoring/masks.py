"""How a masked face is scored: a linear map moves its template towards the clean face's
(models/unmask_<model>.json, fitted by `bench/masks.py --write`), and `equalise` puts the mapped
template's scores against clean ones on the model's clean scale (the clean threshold of the same
FMR), so every threshold, FPIR-based or given, holds its FMR for masked probes too.
Figures: bench/results/masks.json."""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .. import models
from ..errors import ModelError
from ..modelid import ModelId
from .thresholds import threshold_for_fmr

# P(masked) from which a face's template is unmasked: mapping a clean face costs it recognition
# (the trade-off is measured by bench/masks.py).
UNMASK_AT = 0.7


@dataclass(frozen=True)
class UnmaskingMap:
    """A model's fitted map and the two threshold tables `equalise` reads (sorted by masked)."""
    matrix: np.ndarray
    masked: np.ndarray       # thresholds of mapped-vs-clean scores at the table's FMRs
    clean: np.ndarray        # the clean thresholds at the same FMRs
    version: str


@lru_cache(maxsize=8)
def _load(model: ModelId) -> UnmaskingMap | None:
    spec = models.resource_json(f"unmask_{str(model).replace(':', '_')}.json")
    if spec is None:
        return None
    weights = models.get(model.name).files.get("weights", {}).get("sha256")
    if spec.get("model") != str(model) or spec.get("weights_sha256") != weights:
        raise ModelError(f"unmask_{model}.json was fitted for other {str(model)!r} weights; refit it with "
                         "bench/masks.py --write")
    fmr, masked = np.asarray(spec["table"]["fmr"], float), np.asarray(spec["table"]["threshold"], float)
    clean = np.array([threshold_for_fmr(model, f) for f in fmr])
    order = np.argsort(masked)
    # The file's own version plus a checksum of its content: a refit changes it either way.
    crc = zlib.crc32(json.dumps(spec, sort_keys=True).encode())
    return UnmaskingMap(np.asarray(spec["matrix"], np.float32), masked[order], clean[order],
                        f"{spec.get('version', '1')}:{crc:08x}")


def unmasking(model: ModelId | str) -> UnmaskingMap | None:
    """The model's unmasking map, or None when it has none (only the template variant it was fitted
    on has one: "sface", not "sface:flip")."""
    return _load(ModelId.parse(model))


def clear_cache() -> None:
    """Forget loaded maps (bench/masks.py --write refits them)."""
    _load.cache_clear()


def unmasking_version(model: ModelId | str) -> str | None:
    """What changes masked templates of this model (for template caches); None without a map."""
    m = unmasking(model)
    return None if m is None else f"{m.version}@{UNMASK_AT}"


def unmask(vector: np.ndarray, model: ModelId | str, p_masked: float) -> np.ndarray | None:
    """A masked face's unit template mapped towards its clean face's; None when the model has no
    map or the face is not confidently masked (p_masked < UNMASK_AT)."""
    m = unmasking(model)
    if m is None or p_masked < UNMASK_AT:
        return None
    v = vector @ m.matrix
    return (v / (np.linalg.norm(v) or 1.0)).astype(np.float32)


def equalise(scores, model: ModelId | str) -> np.ndarray:
    """Scores of unmasked probes against clean templates on the model's clean scale: a score at the
    masked table's threshold for FMR f becomes the clean table's threshold for f (piecewise linear
    between rows, and from the table's ends to -1 and 1). Monotone, so rankings do not change."""
    s = np.asarray(scores, np.float64)
    m = unmasking(model)
    if m is None:
        return s
    return np.interp(s, np.r_[-1.0, m.masked, 1.0], np.r_[-1.0, m.clean, 1.0])


def equalise_where(scores: np.ndarray, unmasked: np.ndarray, model: ModelId | str) -> np.ndarray:
    """A copy of `scores` with those flagged in `unmasked` (a pair with an unmasked template on
    either side) equalised."""
    s = np.array(scores, np.float64)
    flags = np.asarray(unmasked, bool)
    if flags.any():
        s[flags] = equalise(s[flags], model)
    return s
