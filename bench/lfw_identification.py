"""LFW 1:N identification through a real Gallery (SQLite + FAISS), closed and open set.

    .venv/bin/python bench/lfw_identification.py [--index Flat] [--embedder sface]

Closed set: gallery = first image of each of the 5,749 people (the 4,069 single-image people are
distractors); probes = every other image of the 1,680 people with 2+ images. Rank-1/rank-5/CMC.
Open set: 20% of the multi-image people (seeded) are withheld from the gallery and their probes are
non-mated searches; FNIR at FPIR = 0.003, 0.01, 0.1. Templates are cached (see evaluate/cache.py).
bench/openset.py has the protocol of issue 11 (one-photo people as strangers) and the FPIR checks.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from common import DATA, save  # noqa: E402

from faceprint import Engine  # noqa: E402
from faceprint.evaluate.cache import TemplateCache  # noqa: E402
from faceprint.evaluate.protocols import identification_split, identity_folders  # noqa: E402
from faceprint.evaluate.runner import image_templates, search_metrics  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="Flat")
    ap.add_argument("--embedder", default="sface")
    ap.add_argument("--withheld", type=float, default=0.2)
    args = ap.parse_args()
    engine = Engine(embedder=args.embedder)
    people = identity_folders(DATA / "lfw" / "lfw-deepfunneled")
    ts = image_templates(engine, sorted(p for imgs in people.values() for p in imgs), cache=TemplateCache())
    vec = ts.vectors
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, withheld in (("closed_set", 0.0), ("open_set", args.withheld)):
            split = identification_split(people, withheld=withheld, seed=0)
            gallery = {n: vec[p] for n, p in split.gallery.items() if vec[p] is not None}
            r = search_metrics(gallery, [(n, vec[p]) for n, p in split.mated], [(n, vec[p]) for n, p in split.nonmated],
                               Path(tmp) / f"{label}.db", model_id=engine.model_id, index=args.index)
            r.update({"gallery_subjects": len(split.gallery), "failures_to_enrol": len(split.gallery) - len(gallery),
                      "template_ms_median": float(np.median(ts.timings)) if ts.timings else None})
            out[label] = r
            print(label, {k: v for k, v in r.items() if k != "cmc"})
    save(f"lfw_identification_{args.embedder}_{args.index.replace(',', '_')}",
         {"protocol": __doc__.strip().split("\n\n")[1], "model_id": engine.model_id, **out})


if __name__ == "__main__":
    main()
