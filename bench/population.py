"""Calibration that follows the population (Gallery.population_calibration) on galleries made of
real people: is the FMR it observes among a gallery's own subjects the FMR of that population?

    .venv/bin/python bench/population.py          # ~1 min warm (templates cached)

Per set (LFW; CFP frontal photos), people B (bench/sets.py: never seen by the shipped calibration),
the gallery holds at most 3 photos per person. "all pairs" scores every non-mated pair of the
gallery; "gallery" is what `faceprint gallery stats --json` reports (a sample of at most
scoring.population.MAX_PAIRS pairs), with its wall time on a real SQLite gallery. "fpir_from_gallery":
the open-set threshold `identify --fpir-from gallery` would use at FPIR 0.001 (the gallery's own tail,
floored at the table's) and the FMR every pair of the gallery shows at it.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import sets  # noqa: E402
from common import save  # noqa: E402

from faceprint import Engine  # noqa: E402
from faceprint.evaluate import calibration  # noqa: E402
from faceprint.gallery import Gallery  # noqa: E402
from faceprint.gallery.population import open_set_threshold  # noqa: E402
from faceprint.scoring import population  # noqa: E402


def one_set(s: sets.PhotoSet, engine: Engine) -> dict:
    keep = calibration.cap_per_identity(s.identities, 3)
    keep = keep[~s.fit[keep]]
    if s.name == "CFP":
        keep = keep[s.views[keep] == "frontal"]
    vectors, names = s.vectors[keep], s.identities[keep]
    with tempfile.TemporaryDirectory() as tmp, Gallery.open(Path(tmp) / "g.db", create=True, model=engine.model_id) as g:
        g.add_templates(list(names), vectors, model=engine.model_id)
        t0 = time.perf_counter()
        sampled = g.population_calibration()
        seconds = time.perf_counter() - t0
        checks = {"one_to_one": population.one_to_one(engine.model_id),
                  "open_set": (sampled["open_set"]["threshold"], sampled["open_set"]["fmr_target"])}
        t0 = time.perf_counter()
        own = open_set_threshold(g, 0.001)
        own_seconds = time.perf_counter() - t0
    checks["fpir_from_gallery"] = (own.threshold, own.fmr)
    checks["gallery_tail_unfloored"] = (own.gallery_threshold, own.fmr)
    full = population.population_calibration(vectors, names, checks).as_dict()
    return {"subjects": int(len(np.unique(names))), "templates": int(len(names)), "all_pairs": full,
            "gallery": sampled, "gallery_seconds": round(seconds, 3),
            "fpir_from_gallery": own.as_dict(), "fpir_from_gallery_seconds": round(own_seconds, 3)}


def main() -> None:
    engine = Engine()
    out = {"model": engine.model_id, "people": "B (held out), at most 3 photos each; CFP frontal only",
           "duplicate_at": population.DUPLICATE_AT, "max_pairs": population.MAX_PAIRS}
    for s in (sets.lfw_set(engine), sets.cfp_set(engine)):
        out[s.name] = one_set(s, engine)
        r = out[s.name]
        print(s.name, r["subjects"], "subjects;", "all pairs", r["all_pairs"]["one_to_one"],
              "| gallery", r["gallery"]["one_to_one"], r["gallery"]["open_set"], f"{r['gallery_seconds']} s",
              "| --fpir-from gallery", r["fpir_from_gallery"], "all pairs at it", r["all_pairs"]["fpir_from_gallery"],
              r["all_pairs"]["gallery_tail_unfloored"])
    save("population", out)


if __name__ == "__main__":
    main()
