"""One-thread template time per photo (decode / detect / template split) for faceprint's precisions,
against the face_recognition library in the same run, and bulk enrolment throughput.

    .venv/bin/pip install --no-deps face-recognition==1.3.0     # the peer, for this bench only
    .venv/bin/python bench/speed.py [--isa avx2] [--lfw-images 200] [--reps 20] [--bulk 500]
    .venv/bin/pip uninstall -y face-recognition     # pip check: it names dlib, which dlib-bin provides

--isa avx2 re-runs the bench with oneDNN, OpenVINO and FAISS capped to AVX2 (bench/common.py
emulate_isa): the kernels an AVX2-only CPU runs, on this CPU's cores, caches and clock (results in
speed_avx2_emulated.json). OpenCV's wheel dispatches up to AVX2 anyway; dlib (face_recognition) is
built for AVX, so neither changes.

Every contender works on the same encoded photos, timings interleaved photo by photo, so a busy
shared machine slows them alike and the ratios stay meaningful; medians. faceprint: Engine.analyse
on the photo's bytes (decode incl. SHA-256, detect incl. resizing, template = align + embed +
quality). face_recognition: load_image_file, HOG detector (upsample 1), dlib ResNet encodings of the
largest face (5-point "small" landmarks); single-threaded whatever the setting. Per photo the
largest face is used (one face per photo in both sets), so "per face" = per photo. Bulk:
Engine.templates_batch over LFW files with 2 threads, photos per second.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, emulate_isa, median_ms, save  # noqa: E402

ISA = emulate_isa()        # before OpenVINO and FAISS load

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402

from faceprint import Engine, runtime  # noqa: E402
from faceprint.evaluate.protocols import lfw_pairs  # noqa: E402

PHOTO_720P = DATA / "small/face_recognition_examples/examples/obama-720p.jpg"
# name -> Engine keyword arguments (one thread each); the first is the same-run baseline.
CONFIGS = {"fp32": {"precision": "fp32"}, "int8": {"precision": "int8"}}


def faceprint_once(engine: Engine, photo: bytes) -> dict[str, float]:
    t0 = time.perf_counter()
    a = engine.analyse(photo)
    total = (time.perf_counter() - t0) * 1000
    return {"decode": a.decode_ms, "detect": a.detect_ms, "template": a.template_ms, "photo": total}


def face_recognition_once(path: Path) -> dict[str, float] | None:
    import face_recognition as fr

    t0 = time.perf_counter()
    rgb = fr.load_image_file(str(path))
    t1 = time.perf_counter()
    boxes = fr.face_locations(rgb)
    t2 = time.perf_counter()
    if not boxes:            # HOG misses a few LFW faces: those photos count for faceprint only
        return None
    largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
    fr.face_encodings(rgb, [largest])
    t3 = time.perf_counter()
    return {"decode": (t1 - t0) * 1000, "detect": (t2 - t1) * 1000, "template": (t3 - t2) * 1000,
            "photo": (t3 - t0) * 1000}


def summarise(samples: list[dict[str, float]]) -> dict[str, float]:
    return {f"{k}_ms": median_ms([s[k] for s in samples]) for k in samples[0]} | {"photos": len(samples)}


def interleaved(engines: dict[str, Engine], paths: list[Path], peer: bool) -> dict:
    """Every contender on each photo in turn (warm-up first: the first calls compile and allocate)."""
    photos = [p.read_bytes() for p in paths]
    for eng in engines.values():
        for photo in photos[:3]:
            faceprint_once(eng, photo)
    samples: dict[str, list] = {n: [] for n in engines}
    peer_samples = []
    for path, photo in zip(paths, photos):
        for name, eng in engines.items():
            samples[name].append(faceprint_once(eng, photo))
        if peer and (r := face_recognition_once(path)) is not None:
            peer_samples.append(r)
    out = {name: summarise(s) for name, s in samples.items()}
    if peer_samples:
        out["face_recognition"] = summarise(peer_samples)
    return out


def solo(engine: Engine, paths: list[Path]) -> float:
    """One engine alone, photo after photo, as a gate or kiosk runs it: median ms per photo."""
    photos = [p.read_bytes() for p in paths]
    for photo in photos[:3]:
        engine.analyse(photo)
    return median_ms([faceprint_once(engine, photo)["photo"] for photo in photos])


def bulk(paths: list[Path]) -> dict:
    """Engine.templates_batch with 2 threads, per configuration, interleaved, best of two."""
    cv2.setNumThreads(2)
    out: dict = {}
    for name in [*CONFIGS, *CONFIGS]:
        engine = Engine(threads=2, **CONFIGS[name])
        engine.templates_batch(paths[:32], select="largest")      # warm-up
        t0 = time.perf_counter()
        made = engine.templates_batch(paths, select="largest")
        seconds = time.perf_counter() - t0
        if name in out and out[name]["seconds"] <= seconds:
            continue
        out[name] = {"photos": len(paths), "templates": sum(len(t) for t in made), "seconds": round(seconds, 2),
                     "photos_per_second": round(len(paths) / seconds, 1), "threads": 2}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--isa", default="native", help="native, or avx2 (emulated: see the module docstring)")
    ap.add_argument("--lfw-images", type=int, default=200)
    ap.add_argument("--reps", type=int, default=20, help="timings of the 720p photo")
    ap.add_argument("--bulk", type=int, default=500, help="LFW photos enrolled in the bulk run (0: skip)")
    ap.add_argument("--no-peer", action="store_true", help="skip face_recognition")
    args = ap.parse_args()
    peer = not args.no_peer
    if peer:
        import face_recognition  # noqa: F401  (fail early, with the install hint above)

    load_start = [round(x, 2) for x in os.getloadavg()]
    rng = random.Random(0)
    paths = sorted({p for pr in lfw_pairs(DATA / "lfw") for p in (pr.a, pr.b)})
    sets = {"lfw_250x250": rng.sample(paths, args.lfw_images), "photo_1280x720": [PHOTO_720P] * args.reps}
    cv2.setNumThreads(1)
    engines = {name: Engine(threads=1, **kw) for name, kw in CONFIGS.items()}

    results = {name: interleaved(engines, imgs, peer) for name, imgs in sets.items()}
    for name, r in results.items():
        for who, figures in r.items():
            print(f"{name:15s} {who:17s} {figures}", flush=True)
    speedup = {}
    if peer:
        speedup = {f"{cfg}_{name}": round(r["face_recognition"]["photo_ms"] / r[cfg]["photo_ms"], 1)
                   for name, r in results.items() if "face_recognition" in r for cfg in CONFIGS}
        print("speed-up (face_recognition ms / faceprint ms per photo, decode included):", speedup)
    alone = {f"{cfg}_{name}": solo(engines[cfg], imgs) for name, imgs in sets.items() for cfg in CONFIGS}
    print("solo ms per photo:", alone)
    rates = bulk(rng.sample(paths, args.bulk)) if args.bulk else {}
    print("bulk enrolment:", rates)

    save("speed" + (f"_{ISA}_emulated" if ISA else ""), {
        "isa": ISA or "native", "load_average_start": load_start, "default_precision": Engine().precision,
        "configs": {name: {"engine": kw, "detector": engines[name].detector.name, "embedder": engines[name].embedder.name,
                           "runtime": engines[name].runtime} for name, kw in CONFIGS.items()},
        "peer": "face_recognition 1.3.0: HOG detector (upsample 1) + dlib ResNet, 5-point 'small' model",
        "runtimes": {rt: runtime.version(rt) for rt in runtime.available()},
        "lfw_images": args.lfw_images, "photo_reps": args.reps,
        "targets": {"photo_ms_lfw_1thread": {"avx2": 12, "avx512": 7},
                    "speedup_vs_face_recognition": {"avx2": 10, "avx512": 15}, "bulk_photos_per_second_2cores": 250},
        "results": results, "speedup": speedup, "solo_photo_ms": alone, "bulk": rates,
    })


if __name__ == "__main__":
    main()
