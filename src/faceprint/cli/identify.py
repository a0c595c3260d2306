"""`faceprint identify`: who is in this photo? Every face searched; exit 1 when nobody is recognised."""
from __future__ import annotations

from dataclasses import replace

from .common import (
    add_command,
    decision_opts,
    engine,
    fpir_from_opts,
    gallery_opts,
    gallery_rule,
    model_opts,
    open_gallery,
    positive_int,
    print_json,
)
from .liveness import liveness_opts


def register(sub, parents) -> None:
    sp = add_command(sub, parents, "identify",
                     "who is in this photo? (every face; exit 1 when nobody is recognised)", run)
    sp.add_argument("image")
    sp.add_argument("--k", type=positive_int, default=5, help="candidates listed per face (default 5)")
    decision_opts(sp)
    fpir_from_opts(sp)
    sp.add_argument("--liveness", action="store_true",
                    help="judge each face live or a presentation attack; an attack is never recognised")
    liveness_opts(sp)
    sp.add_argument("--json", action="store_true")
    gallery_opts(sp)
    model_opts(sp)


def run(args) -> int:
    eng = engine(args, gallery=True)
    if args.liveness or args.liveness_threshold is not None:
        eng.enable_liveness(args.liveness_threshold)
    analysis = eng.analyse(args.image, select=None, name=args.image)
    with open_gallery(args, eng, readonly=True) as g:
        chosen = gallery_rule(g, args)
        results = g.identify(analysis.templates, k=args.k, threshold=chosen.threshold if chosen else args.threshold,
                             fpir=None if chosen else args.fpir)
        size = g.stats()["subjects"]
    if chosen is not None:
        results = [replace(r, fpir=chosen.fpir) for r in results]
    live = analysis.liveness or [None] * len(results)
    # A presentation attack keeps its candidates (whose photo was shown) but is never a decision.
    results = [r if lv is None or lv.live else replace(r, decision=None) for r, lv in zip(results, live)]
    faces = [r.to_dict() | ({"liveness": lv.to_dict()} if lv is not None else {}) for r, lv in zip(results, live)]
    out = {"image": args.image, "faces": faces, "gallery_size": size,
           "threshold_from": chosen.as_dict() if chosen else {"source": "threshold" if args.threshold is not None
                                                          else "table"}}
    if args.json:
        print_json(out)
    else:
        if chosen is not None:
            print(f"open-set threshold {chosen.threshold:.4f} from the {chosen.source}: {chosen.reason} (table "
                  f"{_num(chosen.table_threshold)}, gallery's own tail {_num(chosen.gallery_threshold)}, "
                  f"{chosen.pairs:,} pairs)")
        for i, r in enumerate(results):
            x, y, w, h = r.face.box
            who = r.decision.subject.name if r.decision else "unknown (not enrolled)"
            if live[i] is not None and not live[i].live:
                who = "ATTACK (not a live person: refused)"
            rule = f"FPIR {r.fpir:g} over {r.gallery_size} subjects" if r.fpir is not None else "given threshold"
            print(f"face #{i} at x={x:.0f} y={y:.0f} w={w:.0f} h={h:.0f}{' (masked)' if r.masked else ''}: "
                  f"{who}  (threshold {r.threshold:.4f}, {rule})")
            for m in r.candidates:
                print(f"   {m.rank}. {m.subject.name:<30} {m.score:.4f}")
    return 0 if any(r.decision for r in results) else 1


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"
