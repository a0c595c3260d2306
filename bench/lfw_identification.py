"""LFW 1:N identification through a real Gallery (SQLite + FAISS).

    .venv/bin/python bench/lfw_identification.py [--index Flat] [--embedder sface]

Closed set: gallery = first image of each of the 5,749 people (the 4,069 single-image people are
distractors); probes = every other image of the 1,680 people with 2+ images. Rank-1/rank-5/CMC.
Open set: 20% of the multi-image people (seeded) are withheld from the gallery and their probes are
non-mated searches; FNIR at FPIR = 0.003, 0.01, 0.1. Templates are cached (see evaluate/cache.py).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from common import DATA, save  # noqa: E402

from faceprint import Engine  # noqa: E402
from faceprint.evaluate.cache import TemplateCache  # noqa: E402
from faceprint.evaluate.protocols import identification_split, identity_folders  # noqa: E402
from faceprint.evaluate.runner import evaluate_identification  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="Flat")
    ap.add_argument("--embedder", default="sface")
    ap.add_argument("--withheld", type=float, default=0.2)
    args = ap.parse_args()
    engine = Engine(embedder=args.embedder)
    people = identity_folders(DATA / "lfw" / "lfw-deepfunneled")
    cache = TemplateCache()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, withheld in (("closed_set", 0.0), ("open_set", args.withheld)):
            split = identification_split(people, withheld=withheld, seed=0)
            r = evaluate_identification(engine, split, Path(tmp) / f"{label}.db", index=args.index, cache=cache)
            out[label] = r
            print(label, {k: v for k, v in r.items() if k != "cmc"})
    save(f"lfw_identification_{args.embedder}_{args.index.replace(',', '_')}", {"protocol": __doc__.strip().split("\n\n")[1], **out})


if __name__ == "__main__":
    main()
