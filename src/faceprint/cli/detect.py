"""`faceprint detect`: every face of every image; a bad file is reported and skipped, the batch goes on."""
from __future__ import annotations

from ..errors import FaceprintError
from .common import add_command, engine, face_line, model_opts, print_json, report_skipped, skip


def register(sub, parents) -> None:
    sp = add_command(sub, parents, "detect", "find every face: box, 5 landmarks, score", run)
    sp.add_argument("images", nargs="+")
    sp.add_argument("--json", action="store_true")
    model_opts(sp)


def run(args) -> int:
    eng = engine(args)
    results, skipped = [], []
    for path in args.images:
        try:
            faces = eng.detect(path)
        except FaceprintError as exc:
            skip(skipped, path, exc)
            continue
        results.append({"image": path, "faces": [f.to_dict() for f in faces]})
    if args.json:
        print_json({"images": results, "skipped": skipped} if len(args.images) > 1
                   else results[0] if results else {"image": args.images[0], "skipped": skipped})
    else:
        for r in results:
            print(f"{r['image']}: {len(r['faces'])} face(s)")
            for i, f in enumerate(r["faces"]):
                lm = " ".join(f"({px:.0f},{py:.0f})" for px, py in f["landmarks"])
                print(f"{face_line(i, f)}  landmarks {lm}")
    if not results:
        raise FaceprintError(skipped[0]["reason"] if len(skipped) == 1 else
                             f"none of the {len(skipped)} images could be read; the first: {skipped[0]['reason']}")
    report_skipped(skipped)
    return 0
