"""Cost per template of each embedder a gallery may choose (issue 20: is sface+dlib within 2x of SFace?).

    .venv/bin/python bench/model_cost.py [--photos 60] [--models sface,dlib,dlib:noflip,sface+dlib]

One thread (NIST's template-creation measure), each model's default flip (what `--embedder NAME`
enrols with) unless the name says ":flip" / ":noflip" (evaluate --models syntax). Per LFW photo (pairs.txt order) the face is detected once, then each model makes its
template from it in turn (interleaved, so machine load falls on every model alike): template ms =
Engine.templates_for (align, face stages, embedding), median over the photos, and its ratio to the
first model's; detect ms is the same for all and given once.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from common import save  # noqa: E402

from faceprint import Engine  # noqa: E402
from faceprint.evaluate.protocols import lfw_pairs  # noqa: E402
from faceprint.modelid import ModelRequest  # noqa: E402

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--models", default="sface,dlib,dlib:noflip,sface+dlib")
    ap.add_argument("--data", type=Path, default=LFW)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    names = args.models.split(",")
    requests = {m: ModelRequest.parse(m) for m in names}
    engines = {m: Engine(embedder=r.name, flip=r.flip, threads=1) for m, r in requests.items()}
    photos = list(dict.fromkeys(p.a for p in lfw_pairs(args.data)))[:args.photos]
    times: dict[str, list[float]] = {m: [] for m in names}
    detect_ms = []
    first = engines[names[0]]
    for i, p in enumerate(photos):
        img = first.load(p)
        t0 = time.perf_counter()
        faces = first.detector.detect([img])[0]
        detect_ms.append((time.perf_counter() - t0) * 1000)
        if not faces:
            continue
        face = max(faces, key=lambda f: f.score)
        for m, eng in engines.items():
            t0 = time.perf_counter()
            eng.templates_for(img, [face])
            if i:                                  # the first photo warms every model up
                times[m].append((time.perf_counter() - t0) * 1000)
    base = float(np.median(times[names[0]]))
    out = {"threads": 1, "photos": len(photos), "data": str(args.data), "detect_ms_median": float(np.median(detect_ms)),
           "models": {m: {"model_id": engines[m].model_id, "template_ms_median": float(np.median(t)),
                          "template_ms_p90": float(np.percentile(t, 90)), "faces": len(t),
                          f"ratio_to_{names[0]}": float(np.median(t)) / base} for m, t in times.items()}}
    for m, r in out["models"].items():
        print(f"{m:<12} {r['model_id']:<18} template {r['template_ms_median']:.1f} ms (p90 {r['template_ms_p90']:.1f}) "
              f"x{r[f'ratio_to_{names[0]}']:.2f}")
    print(f"detect (once per photo) {out['detect_ms_median']:.1f} ms")
    save("model_cost", out)


if __name__ == "__main__":
    main()
