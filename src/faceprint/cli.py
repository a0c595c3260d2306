"""The `faceprint` command line: a thin shell over the library API."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import FaceprintError


def _engine(args):
    from .engine import Engine
    return Engine(detector=args.detector, embedder=args.embedder, flip=args.flip,
                  threshold=getattr(args, "threshold", None), threads=args.threads)


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


def cmd_detect(args) -> int:
    eng = _engine(args)
    results = []
    for path in args.images:
        faces = eng.detect(path)
        results.append({"image": path, "faces": [f.to_dict() for f in faces]})
    if args.json:
        _print_json(results if len(results) > 1 else results[0])
        return 0
    for r in results:
        print(f"{r['image']}: {len(r['faces'])} face(s)")
        for i, f in enumerate(r["faces"]):
            x, y, w, h = f["box"]
            lm = " ".join(f"({px:.0f},{py:.0f})" for px, py in f["landmarks"])
            print(f"  #{i}  box x={x:.0f} y={y:.0f} w={w:.0f} h={h:.0f}  score={f['score']:.3f}  landmarks {lm}")
    return 0


def cmd_verify(args) -> int:
    eng = _engine(args)
    v = eng.verify(args.image_a, args.image_b)
    if args.json:
        _print_json({**v.to_dict(), "image_a": args.image_a, "image_b": args.image_b})
    else:
        verdict = "SAME person" if v.same else "DIFFERENT people"
        print(f"{verdict}: score {v.score:.4f}, threshold {v.threshold:.4f} ({v.model})")
    return 0 if v.same or not args.exit_code else 1


def cmd_evaluate_lfw(args) -> int:
    from .evaluate.runner import evaluate_lfw
    eng = _engine(args)
    folds = [int(f) for f in args.folds.split(",")] if args.folds else None
    r = evaluate_lfw(eng, args.data, folds=folds, progress=not args.quiet)
    summary = {k: v for k, v in r.items() if k not in ("scores", "mated", "folds")}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=2))
    if "accuracy_mean" in r:
        print(f"LFW {len(set(r['folds']))}-fold accuracy: {100 * r['accuracy_mean']:.2f}% "
              f"± {100 * r['accuracy_std']:.2f}")
    print(f"TAR@FAR=1e-3: {100 * r['tar_at_far_1e-3']:.2f}%  (threshold {r['threshold_at_far_1e-3']:.4f})")
    print(f"EER: {100 * r['eer']:.2f}%   failures to detect: {r['failures_to_detect']} of {r['images']} images")
    print(f"median ms per face: {r['ms_per_face']:.1f}   models: {r['detector']} + {r['model_id']}")
    return 0


def cmd_models(args) -> int:
    from . import models
    rows = []
    for spec in models.manifest().values():
        status = spec.status()
        ok = all(s["ok"] for s in status.values())
        rows.append({"name": spec.name, "task": spec.task, "license": spec.license,
                     "package": f"{spec.package}=={spec.package_version}", "ok": ok,
                     "files": status, "thresholds": spec.thresholds})
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        state = "OK (sha256 verified)" if r["ok"] else "; ".join(
            s["problem"] for s in r["files"].values() if s["problem"])
        print(f"{r['name']:<11} {r['task']:<7} {r['package']:<32} {r['license']:<14} {state}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faceprint", description="Offline face recognition.")
    sub = p.add_subparsers(dest="command", required=True)

    def model_opts(sp):
        sp.add_argument("--detector", default="yunet", help="detector model (default: yunet)")
        sp.add_argument("--embedder", default="sface",
                        help="embedder model name or path to an ArcFace-style .onnx (default: sface)")
        sp.add_argument("--flip", action="store_true", help="flip test-time augmentation")
        sp.add_argument("--threads", type=int, default=None, help="OpenCV threads (default: all cores)")

    sp = sub.add_parser("detect", help="find every face: box, 5 landmarks, score")
    sp.add_argument("images", nargs="+")
    sp.add_argument("--json", action="store_true")
    model_opts(sp)
    sp.set_defaults(func=cmd_detect)

    sp = sub.add_parser("verify", help="are two photos the same person?")
    sp.add_argument("image_a")
    sp.add_argument("image_b")
    sp.add_argument("--threshold", type=float, default=None, help="decision threshold (default: calibrated)")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--exit-code", action="store_true", help="exit 1 when the faces differ")
    model_opts(sp)
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser("evaluate", help="accuracy on a benchmark protocol")
    esub = sp.add_subparsers(dest="protocol", required=True)
    ep = esub.add_parser("lfw", help="LFW 10-fold verification (pairs.txt)")
    ep.add_argument("--data", default="../shared/data/lfw", help="folder with pairs.txt and lfw-deepfunneled/")
    ep.add_argument("--json", metavar="OUT", help="write the figures to this JSON file")
    ep.add_argument("--folds", help="comma-separated fold numbers 0-9 (default: all)")
    ep.add_argument("--quiet", action="store_true", help="no progress bar")
    model_opts(ep)
    ep.set_defaults(func=cmd_evaluate_lfw)

    sp = sub.add_parser("models", help="installed models, licences, checksum status")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_models)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FaceprintError as exc:
        print(f"faceprint: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("faceprint: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
