"""`faceprint verify`: are two photos the same person? Reports every face seen in each photo."""
from __future__ import annotations

from .common import add_command, engine, face_line, finite_float, log, model_opts, print_json
from .liveness import liveness_opts


def register(sub, parents) -> None:
    sp = add_command(sub, parents, "verify", "are two photos the same person?", run)
    sp.add_argument("image_a")
    sp.add_argument("image_b")
    sp.add_argument("--threshold", type=finite_float, default=None, help="decision threshold (default: calibrated)")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--exit-code", action="store_true", help="exit 1 when the faces differ")
    sp.add_argument("--liveness", action="store_true",
                    help="also judge each face live or a presentation attack; exit 1 when one is an attack")
    liveness_opts(sp)
    model_opts(sp)


def _probe(eng, path: str):
    """The analysis of the most prominent face (every face seen stays in it, for the report)."""
    a = eng.analyse(path, select="largest", name=path)
    if len(a.faces) > 1:
        log.warning("%s holds %d faces; using face #%d (the largest); crop the photo to choose another",
                    path, len(a.faces), a.chosen)
    return a


def run(args) -> int:
    eng = engine(args)
    if args.liveness or args.liveness_threshold is not None:
        eng.enable_liveness(args.liveness_threshold)
    sides = {}
    for key, path in (("a", args.image_a), ("b", args.image_b)):
        a = _probe(eng, path)
        sides[key] = {"image": path, "faces": [f.to_dict() for f in a.faces], "used_face": a.chosen,
                      "masked": a.template.is_masked, "template": a.template}
        if a.liveness is not None:
            sides[key]["liveness"] = a.liveness[0].to_dict()
    v = eng.verify(sides["a"]["template"], sides["b"]["template"])
    out = {**v.to_dict(), **{f"image_{k}": {x: y for x, y in s.items() if x != "template"} for k, s in sides.items()}}
    attacks = [s["image"] for s in sides.values() if "liveness" in s and not s["liveness"]["live"]]
    if eng.liveness_stage is not None:
        out["live"] = not attacks
    if args.json:
        print_json(out)
    else:
        verdict = "SAME person" if v.same else "DIFFERENT people"
        print(f"{verdict}: score {v.score:.4f}, threshold {v.threshold:.4f} ({v.model})")
        for image in attacks:
            print(f"ATTACK: the face in {image} is judged a presentation attack (not a live person)")
        for s in sides.values():
            print(f"{s['image']}: {len(s['faces'])} face(s), used #{s['used_face']}"
                  f"{' (masked: weaker match, same false-match rate)' if s['masked'] else ''}")
            for i, f in enumerate(s["faces"]):
                print(face_line(i, f))
    if attacks:
        return 1
    return 0 if v.same or not args.exit_code else 1
