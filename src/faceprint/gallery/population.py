"""A gallery's own subjects as a calibration population (scoring.population): a uniform sample of
its templates, so that the pairs scored stay within a bound however large the gallery is."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .. import scoring
from ..errors import ModelError
from ..scoring import population
from .base import TemplateStore


def sample_templates(store: TemplateStore, m: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray, bool]:
    """Up to `m` templates (vectors, subject ids) drawn uniformly (seeded) from the store, read in
    batches; and whether they are a sample (False: every template)."""
    total = store.counts()["templates"]
    keep = min(1.0, m / total) if total else 1.0
    rng = np.random.default_rng(seed)
    ids, vecs = [], []
    for batch_ids, batch_vecs in store.iter_templates():
        pick = rng.random(len(batch_ids)) < keep if keep < 1.0 else slice(None)
        ids.append(np.asarray(batch_ids)[pick])
        vecs.append(np.asarray(batch_vecs)[pick])
    ids_all = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    if len(ids_all) > m:                       # the Bernoulli draw may overshoot a little
        sel = np.sort(rng.choice(len(ids_all), m, replace=False))
        ids_all, vecs = ids_all[sel], [np.vstack(vecs)[sel]]
    vectors = np.vstack(vecs) if len(ids_all) else np.zeros((0, 1), np.float32)
    owners = store.subject_of(ids_all.tolist())
    subjects = np.array([owners[int(i)][0] for i in ids_all], dtype=np.int64)
    return vectors, subjects, keep < 1.0


def calibration(store: TemplateStore, model: str | None, fpir: float, size: int, *,
                max_pairs: int = population.MAX_PAIRS) -> population.PopulationCalibration:
    """Observed FMR among the gallery's subjects at the model's 1:1 threshold and at the open-set
    threshold in force (`fpir` at `size` subjects); kept until the store's change log moves on, so
    that polling stats does not re-read the templates."""
    return _calibration(store, store.last_seq(), model, fpir, size, max_pairs)


@lru_cache(maxsize=8)
def _calibration(store: TemplateStore, seq: int, model: str | None, fpir: float, size: int,
                 max_pairs: int) -> population.PopulationCalibration:
    vectors, subjects, sampled = sample_templates(store, population.sample_size(max_pairs))
    open_set: tuple[float | None, float | None] = (None, None)
    if model and size:
        try:
            fmr = scoring.fmr_for_fpir(fpir, size)
            open_set = (scoring.threshold_for_fmr(model, fmr), fmr)
        except ModelError:
            pass                                # a model without a table: no open-set threshold
    return population.population_calibration(
        vectors, subjects, {"one_to_one": population.one_to_one(model), "open_set": open_set}, sampled=sampled)



def nonmated_scores(store: TemplateStore, *, max_pairs: int = population.MAX_PAIRS) -> np.ndarray:
    """The gallery's own non-mated scores (near-duplicate subjects left out; sampled past max_pairs)."""
    return _nonmated(store, store.last_seq(), max_pairs)


@lru_cache(maxsize=2)
def _nonmated(store: TemplateStore, seq: int, max_pairs: int) -> np.ndarray:
    vectors, subjects, _ = sample_templates(store, population.sample_size(max_pairs))
    return population.nonmated_among(vectors, subjects)[0] if len(subjects) else np.zeros(0, np.float32)


def open_set_threshold(gallery, fpir: float | None = None, *,
                       min_pairs: int = population.MIN_TAIL_PAIRS) -> population.OpenSetThreshold:
    """`--fpir-from gallery`: the open-set threshold at `fpir` (default: the gallery's) from its own
    subjects' non-mated tail, never below the model table's (scoring.population.open_set_threshold)."""
    fpir = gallery.default_fpir if fpir is None else scoring.check_fpir(fpir)
    return population.open_set_threshold(nonmated_scores(gallery.store), gallery.model, fpir, gallery.size,
                                         min_pairs=min_pairs)
