"""`faceprint liveness`: is each face a live person or a presentation attack (a print, a screen)?
Photos: every face judged on its own; video clips: one decision per face track over its frames.
Exit 0 when every face (track) is live, 1 when one is not, 2 on bad input."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import FaceprintError
from .common import EXIT_NO, EXIT_OK, add_command, engine, existing_dir, model_opts, print_json, report_skipped, skip

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


def probability(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"a liveness threshold lies between 0 and 1, not {text}")
    return v


def frame_rate(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < v <= 240.0:
        raise argparse.ArgumentTypeError(f"frames per second must be above 0 and at most 240, not {text}")
    return v


def liveness_opts(sp: argparse.ArgumentParser) -> None:
    """--liveness-threshold, shared by the commands that judge liveness."""
    sp.add_argument("--liveness-threshold", type=probability, default=None,
                    help="live if the score is at least this (default: the shipped one, fitted for BPCER 1%%)")


def register(sub, parents) -> None:
    sp = add_command(sub, parents, "liveness", "live person or presentation attack (print, screen), per face", run)
    sp.add_argument("inputs", nargs="+", metavar="PHOTO_OR_CLIP",
                    help=f"photos, or short video clips ({', '.join(sorted(VIDEO_SUFFIXES))}) judged per face track")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--fps", type=frame_rate, default=10.0, help="frames analysed per second of a clip (default 10)")
    liveness_opts(sp)
    model_opts(sp)


def _judge(eng, path: str, fps: float) -> dict:
    if Path(path).suffix.lower() in VIDEO_SUFFIXES:
        from ..stream.liveness import clip_liveness
        tracks = clip_liveness(path, detector=eng.detector, liveness=eng.enable_liveness(), fps=fps)
        return {"clip": path, "tracks": [t.to_dict() for t in tracks]}
    return {"image": path, "faces": [{"box": [round(float(v), 1) for v in r.face.box], "liveness": r.to_dict()}
                                     for r in eng.liveness(path, name=path)]}


def _verdicts(result: dict) -> list[bool | None]:
    if "tracks" in result:
        return [t["live"] for t in result["tracks"]]
    return [f["liveness"]["live"] for f in result["faces"]]


def _print(result: dict) -> None:
    if "tracks" in result:
        print(f"{result['clip']}: {len(result['tracks'])} face track(s)")
        for t in result["tracks"]:
            verdict = "undecided (too few frames)" if t["live"] is None else "LIVE" if t["live"] else "ATTACK"
            score = "" if t["score"] is None else f"  score={t['score']:.3f} (threshold {t['threshold']:.3f})"
            print(f"  track #{t['track']}  {t['frames']} frames  {verdict}{score}")
        return
    print(f"{result['image']}: {len(result['faces'])} face(s)")
    for i, f in enumerate(result["faces"]):
        x, y, w, h = f["box"]
        r = f["liveness"]
        why = f"  ({r['reason']})" if r["reason"] else ""
        verdict = "NOT JUDGED" if r["reason"] else "LIVE" if r["live"] else "ATTACK"
        print(f"  #{i}  box x={x:.0f} y={y:.0f} w={w:.0f} h={h:.0f}  {verdict}  "
              f"score={r['score']:.3f} (threshold {r['threshold']:.3f}){why}")


def run(args) -> int:
    eng = engine(args)
    eng.enable_liveness(threshold=args.liveness_threshold)
    results, skipped = [], []
    for path in args.inputs:
        try:
            results.append(_judge(eng, path, args.fps))
        except FaceprintError as exc:
            skip(skipped, path, exc)
    if args.json:
        print_json({"results": results, "skipped": skipped} if len(args.inputs) > 1
                   else results[0] if results else {"input": args.inputs[0], "skipped": skipped})
    else:
        for r in results:
            _print(r)
    if not results:
        raise FaceprintError(skipped[0]["reason"] if len(skipped) == 1 else
                             f"none of the {len(skipped)} inputs could be judged; the first: {skipped[0]['reason']}")
    report_skipped(skipped)
    if skipped:
        return 2
    # A clip's undecided tracks (a passer-by seen in one or two frames) decide nothing.
    verdicts = [v for r in results for v in _verdicts(r) if v is not None]
    return EXIT_OK if verdicts and all(verdicts) else EXIT_NO


# -- `faceprint evaluate pad` (registered by cli/evaluate.py) -----------------------------------
def register_pad(esub, parents) -> None:
    ep = esub.add_parser("pad", parents=parents,
                         help="presentation-attack detection: DATA/**/live/ and DATA/**/*attack*/ folders")
    ep.add_argument("--data", type=existing_dir, required=True,
                    help="folder with live/ and *attack*/ folders at any depth (subject: the folder inside them)")
    ep.add_argument("--json", metavar="OUT", help="write the figures to this JSON file")
    ep.add_argument("--report", metavar="DIR", help="write DIR/report.json and DIR/report.html (DET curve)")
    liveness_opts(ep)
    model_opts(ep)
    ep.set_defaults(func=run_pad)


def run_pad(args) -> int:
    import importlib.util

    from ..evaluate import pad, pad_report
    from ..evaluate.report import to_json
    from ..progress import progress
    if args.report and importlib.util.find_spec("matplotlib") is None:
        raise FaceprintError("the HTML report's DET plot needs matplotlib: pip install 'faceprint[eval]' "
                             "(or leave out --report; --json needs nothing)")
    samples = pad.walk(args.data)
    eng = engine(args)
    stage = eng.enable_liveness(threshold=args.liveness_threshold)
    shown = progress(samples, desc="liveness", unit="image", total=len(samples), enabled=not getattr(args, "quiet", False))
    scored = pad.score_samples(shown, eng.detector, stage, limits=eng.limits)
    if not scored.data.live.any() or scored.data.live.all():
        raise FaceprintError(f"{args.data}: faces were found in {len(scored.samples)} of {len(samples)} images, "
                             "not in both live and attack ones; nothing to measure")
    report = {"dataset": str(args.data), "model": stage.version, **pad.summary(scored.data, stage.threshold),
              "counts": {"images": len(samples), "scored": len(scored.samples), "no_face": len(scored.no_face),
                         "unreadable": len(scored.unreadable)},
              "target_bpcer_of_threshold": stage.target_bpcer}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(to_json(report))
    if args.report:
        js, page = pad_report.write(report, args.report)
        print(f"wrote {js} and {page}")
    _print_pad(report)
    return EXIT_OK


def _print_pad(r: dict) -> None:
    pct = lambda v: "n/a" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    print(f"{r['dataset']}: {r['n_live']} live, {r['n_attack']} attack presentations of {r['n_subjects']} subjects "
          f"({r['counts']['no_face']} without a face, {r['counts']['unreadable']} unreadable: not scored)")
    print(f"  threshold {r['threshold']:.4f}: APCER {pct(r['apcer'])} (worst type)  BPCER {pct(r['bpcer'])}  "
          f"ACER {pct(r['acer'])}  (per subject, then averaged)")
    for t, v in r["apcer_per_type"].items():
        print(f"  APCER {t}: {pct(v)}")
    for b, v in r["apcer_at_bpcer"].items():
        print(f"  APCER at BPCER {float(b):.0%}: {pct(v['apcer'])} (threshold {v['threshold']:.4f} set on this data)")
