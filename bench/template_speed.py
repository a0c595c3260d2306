"""Template-creation speed: faceprint (YuNet + SFace) vs the face_recognition library (HOG + dlib ResNet),
same images, same process, medians of per-image timings.

    .venv/bin/pip install --no-deps face-recognition==1.3.0     # the peer, once
    .venv/bin/python bench/template_speed.py [--lfw-images 300] [--reps 20]

Per image the most central face is embedded (as in the LFW protocol), so "per face" = per image.
Single thread: cv2.setNumThreads(1). All cores: OpenCV's default pool (dlib runs single-threaded either
way: its HOG detector and ResNet have no multi-thread path in the PyPI build).
"""
from __future__ import annotations

import argparse
import random
import sys

import cv2
import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "src"))
from common import DATA, median_ms, save, timed  # noqa: E402

from faceprint import Engine  # noqa: E402
from faceprint.engine import pick_face  # noqa: E402
from faceprint.evaluate.protocols import lfw_pairs  # noqa: E402


def faceprint_times(engine: Engine, images: list[np.ndarray]) -> dict:
    det, align, emb, total = [], [], [], []
    for img in images:
        faces, t_det = timed(engine.detector.detect_one, img)
        if not faces:
            continue
        face = faces[pick_face(faces, img.shape, "center")]
        crops, t_align = timed(engine.embedder.crops, img, [face])
        _, t_emb = timed(engine.embedder.embed_crops, crops)
        det.append(t_det), align.append(t_align), emb.append(t_emb), total.append(t_det + t_align + t_emb)
    return {"detect_ms": median_ms(det), "align_ms": median_ms(align), "embed_ms": median_ms(emb),
            "total_ms": median_ms(total), "faces": len(total)}


def face_recognition_times(images: list[np.ndarray]) -> dict:
    import face_recognition as fr

    det, emb, total = [], [], []
    for img in images:
        rgb = np.ascontiguousarray(img[:, :, ::-1])
        boxes, t_det = timed(fr.face_locations, rgb)
        if not boxes:
            continue
        h, w = rgb.shape[:2]
        centre = min(boxes, key=lambda b: ((b[1] + b[3]) / 2 - w / 2) ** 2 + ((b[0] + b[2]) / 2 - h / 2) ** 2)
        _, t_emb = timed(fr.face_encodings, rgb, [centre])
        det.append(t_det), emb.append(t_emb), total.append(t_det + t_emb)
    return {"detect_ms": median_ms(det), "embed_ms": median_ms(emb), "total_ms": median_ms(total),
            "faces": len(total)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw-images", type=int, default=300)
    ap.add_argument("--reps", type=int, default=20, help="repetitions of the 1280x720 photo")
    args = ap.parse_args()

    rng = random.Random(0)
    paths = sorted({p for pr in lfw_pairs(DATA / "lfw") for p in (pr.a, pr.b)})
    engine = Engine()
    lfw = [engine.load(p) for p in rng.sample(paths, args.lfw_images)]
    hd = [engine.load(DATA / "small/face_recognition_examples/examples/obama-720p.jpg")] * args.reps
    sets = {"lfw_250x250": lfw, "photo_1280x720": hd}

    results: dict = {"faceprint": {}, "face_recognition": {}}
    for label, threads in (("single_thread", 1), ("all_cores", cv2.getNumberOfCPUs())):
        cv2.setNumThreads(threads)
        for name, imgs in sets.items():
            faceprint_times(engine, imgs[:5])                    # warm-up
            results["faceprint"].setdefault(label, {})[name] = faceprint_times(engine, imgs)
            print(f"faceprint       {label:13s} {name:15s} {results['faceprint'][label][name]}")
    for name, imgs in sets.items():
        face_recognition_times(imgs[:3])
        results["face_recognition"][name] = face_recognition_times(imgs)
        print(f"face_recognition single-thread {name:15s} {results['face_recognition'][name]}")

    speedup = {f"{label}_{name}": round(results["face_recognition"][name]["total_ms"]
                                         / results["faceprint"][label][name]["total_ms"], 2)
               for label in ("single_thread", "all_cores") for name in sets}
    print("speed-up (face_recognition ms / faceprint ms per face):", speedup)
    save("template_speed", {
        "models": {"faceprint": f"{engine.detector.name} + {engine.model_id}",
                   "face_recognition": "1.3.0: HOG detector (upsample 1) + dlib ResNet, 5-point 'small' model"},
        "lfw_images": args.lfw_images, "photo_reps": args.reps,
        "results": results, "speedup": speedup,
    })


if __name__ == "__main__":
    main()
