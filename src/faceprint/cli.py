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


def _experiment(args, dataset) -> int:
    from .evaluate import experiment, report
    from .evaluate.cache import TemplateCache
    models = [m.strip() for m in (args.models or args.embedder).split(",") if m.strip()]
    cache = None if args.no_cache else TemplateCache()
    rep, curves = experiment.run(dataset, models, mask=args.mask == "synthetic", cache=cache,
                                 progress=not args.quiet)
    if args.report:
        js, page = report.write(rep, curves, args.report)
        print(f"wrote {js} and {page}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rep, indent=2, default=float))
    for m, r in rep["models"].items():
        acc = f"{100 * r['accuracy_mean']:.2f}% ± {100 * r['accuracy_std']:.2f}" if "accuracy_mean" in r else "n/a"
        fn = r["fnmr_at_fmr"]
        line = (f"{m:<14} accuracy {acc}  TAR@FAR=1e-3 {100 * r['tar_at_far_1e-3']:.2f}%  EER {100 * r['eer']:.2f}%  "
                + "  ".join(f"FNMR@{k} {100 * v:.2f}%" for k, v in fn.items()))
        if "identification" in r:
            line += f"  rank-1 {100 * r['identification']['rank_1']:.2f}%"
        print(line)
        if "masked" in r:
            mr = r["masked"]
            print(f"{'':14} masked probes: TAR@FAR=1e-3 {100 * mr['tar_at_far_1e-3']:.2f}%  "
                  + "  ".join(f"FNMR@{k} {100 * v:.2f}%" for k, v in mr["fnmr_at_fmr"].items()))
    return 0


def cmd_evaluate_folders(args) -> int:
    from .evaluate.experiment import Dataset
    from .evaluate.protocols import folder_pairs, identity_folders
    identities = identity_folders(args.data)
    pairs, counts = folder_pairs(identities, max_nonmated=args.max_nonmated, seed=args.seed)
    ds = Dataset(name=Path(args.data).name, pairs=pairs, counts=counts, identities=identities,
                 protocol=("folder-per-identity: all mated pairs, non-mated pairs "
                           + ("sampled (seeded)" if counts["nonmated_sampled"] else "all")
                           + f"; {counts['folds']} seeded folds, threshold chosen on the other folds"))
    return _experiment(args, ds)


def cmd_evaluate_lfw(args) -> int:
    if args.report or args.models or args.mask:
        from .evaluate.experiment import Dataset
        from .evaluate.protocols import lfw_pairs
        pairs = lfw_pairs(args.data)
        images = sorted({x for pr in pairs for x in (pr.a, pr.b)})
        identities: dict = {}
        for p in images:
            identities.setdefault(p.parent.name, []).append(p)
        ds = Dataset(name="LFW (deep-funneled)", pairs=pairs, identities=identities,
                     counts={"pairs": len(pairs), "mated_pairs": sum(p.mated for p in pairs),
                             "nonmated_pairs": sum(not p.mated for p in pairs), "images": len(images), "folds": 10},
                     protocol="LFW view 2 (pairs.txt): 10 folds of 300 mated + 300 non-mated pairs, threshold chosen "
                              "on the other 9 folds; 1:N over the 7,701 pairs.txt images")
        return _experiment(args, ds)
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


def _gallery(args, engine=None):
    from .gallery import Gallery
    return Gallery.open(args.gallery, index=args.index, search_params=args.search_params, engine=engine,
                        milvus=args.milvus)


def cmd_enroll(args) -> int:
    from tqdm import tqdm
    eng = _engine(args)
    metadata = json.loads(args.metadata) if args.metadata else {}
    if args.consent:
        metadata["consent"] = args.consent
    with _gallery(args, eng) as g:
        if args.from_folders:
            root = Path(args.from_folders)
            people = sorted(p for p in root.iterdir() if p.is_dir())
            if not people:
                raise FaceprintError(f"{root} has no sub-folders; expected {root}/<name>/*.jpg")
            done, skipped = 0, []
            for person in tqdm(people, desc="enrolling", unit="subject"):
                photos = sorted(f for f in person.iterdir() if f.is_file() and not f.name.startswith("."))
                templates = []
                for photo in photos:
                    try:
                        templates.append(eng.template(photo))
                    except FaceprintError as exc:
                        skipped.append(f"{photo}: {exc}")
                if templates:
                    g.enroll(person.name, templates, metadata=metadata)
                    done += 1
            print(f"enrolled {done} subjects from {root}; {len(skipped)} photo(s) skipped")
            for line in skipped:
                print(f"  skipped {line}", file=sys.stderr)
        else:
            if not args.name or not args.images:
                raise FaceprintError("give a NAME and 1+ photos, or --from-folders DIR")
            sid = g.enroll(args.name, args.images, metadata=metadata)
            s = g.subject(args.name)
            print(f"enrolled {args.name!r} (subject {sid}, {s.templates} template(s))")
    return 0


def cmd_identify(args) -> int:
    eng = _engine(args)
    with _gallery(args, eng) as g:
        results = g.identify(args.image, k=args.k, threshold=args.threshold, fpir=args.fpir)
    if args.json:
        _print_json({"image": args.image, "faces": [r.to_dict() for r in results]})
        return 0
    if not results:
        print(f"{args.image}: no face found")
    for i, r in enumerate(results):
        x, y, w, h = r.face.box
        who = r.decision.subject.name if r.decision else "unknown (not enrolled)"
        print(f"face #{i} at x={x:.0f} y={y:.0f} w={w:.0f} h={h:.0f}: {who}  (threshold {r.threshold:.4f})")
        for m in r.candidates:
            print(f"   {m.rank}. {m.subject.name:<30} {m.score:.4f}")
    return 0


def cmd_gallery(args) -> int:
    if args.action in ("show", "delete") and not args.name:
        raise FaceprintError(f"gallery {args.action} needs a subject NAME")
    with _gallery(args) as g:
        if args.action == "list":
            subjects = g.subjects()
            if args.json:
                _print_json([{"name": s.name, "templates": s.templates, "created": s.created} for s in subjects])
            for s in subjects if not args.json else []:
                print(f"{s.name:<40} {s.templates:>3} template(s)  enrolled {s.created}")
        elif args.action == "show":
            s = g.subject(args.name)
            if s is None:
                raise FaceprintError(f"no subject named {args.name!r} in {args.gallery}")
            _print_json({"id": s.id, "name": s.name, "templates": s.templates, "metadata": s.metadata,
                         "created": s.created, "updated": s.updated})
        elif args.action == "delete":
            if not g.delete(args.name):
                raise FaceprintError(f"no subject named {args.name!r} in {args.gallery}")
            print(f"deleted {args.name!r} and all of its templates")
        elif args.action == "stats":
            _print_json(g.stats())
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


def cmd_serve(args) -> int:
    from .service import serve
    settings = serve.settings_from_args(args)
    serve.check(settings)
    serve.run(settings)
    return 0


def cmd_keys(args) -> int:
    from .service import serve
    out = serve.keys(args.gallery, args.action, role=args.role, name=args.name, key_id=args.key_id)
    if args.json or args.action == "create":
        _print_json(out) if args.json else print(
            f"{out['key']}\n(key id {out['id']}, role {out['role']}, gallery {out['gallery']}; "
            "shown once: store it now, only its hash is kept)")
    elif args.action == "list":
        for k in out:
            state = f"revoked {k['revoked']}" if k["revoked"] else "active"
            print(f"{k['id']}  {k['role']:<9} {k['name'] or '-':<20} created {k['created']}  {state}")
    else:
        print(f"revoked key {args.key_id}")
    return 0


def cmd_audit(args) -> int:
    from .service import serve
    rows = serve.audit_rows(args.gallery, since=args.since, subject=args.subject)
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        print(f"{r['ts']}  {r['action']:<15} {r['subject'] or '-':<25} key {r['key_id'] or '-':<12} "
              f"{r['client'] or '-':<15} {json.dumps(r['outcome'])}")
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

    def report_opts(sp):
        sp.add_argument("--models", help="comma-separated models; fuse with '+', e.g. sface,dlib,sface+dlib")
        sp.add_argument("--report", metavar="DIR", help="write DIR/report.json and DIR/report.html")
        sp.add_argument("--mask", choices=["synthetic"], help="also evaluate masked probes against a clean gallery")
        sp.add_argument("--no-cache", action="store_true", help="recompute templates (cache: ~/.cache/faceprint)")

    sp = sub.add_parser("evaluate", help="accuracy on a benchmark protocol")
    esub = sp.add_subparsers(dest="protocol", required=True)
    ep = esub.add_parser("lfw", help="LFW 10-fold verification (pairs.txt)")
    ep.add_argument("--data", default="../shared/data/lfw", help="folder with pairs.txt and lfw-deepfunneled/")
    ep.add_argument("--json", metavar="OUT", help="write the figures to this JSON file")
    ep.add_argument("--folds", help="comma-separated fold numbers 0-9 (default: all)")
    ep.add_argument("--quiet", action="store_true", help="no progress bar")
    model_opts(ep)
    report_opts(ep)
    ep.set_defaults(func=cmd_evaluate_lfw)

    ep = esub.add_parser("folders", help="a folder-per-identity dataset: DATA/<identity>/*.jpg")
    ep.add_argument("--data", required=True)
    ep.add_argument("--json", metavar="OUT", help="write report JSON here too")
    ep.add_argument("--max-nonmated", type=int, default=200_000, help="sample non-mated pairs above this count")
    ep.add_argument("--seed", type=int, default=0)
    ep.add_argument("--quiet", action="store_true")
    model_opts(ep)
    report_opts(ep)
    ep.set_defaults(func=cmd_evaluate_folders)

    def gallery_opts(sp):
        sp.add_argument("--gallery", required=True, help="SQLite file or postgresql:// URL")
        sp.add_argument("--index", default="Flat", help="FAISS factory string (default: Flat = exact)")
        sp.add_argument("--search-params", default=None, help='e.g. "efSearch=128" or "nprobe=32"')
        sp.add_argument("--milvus", default=None, help="use Milvus: a milvus-lite file or a cluster URI")

    sp = sub.add_parser("enroll", help="enrol a subject from photos, or a folder of people")
    sp.add_argument("name", nargs="?")
    sp.add_argument("images", nargs="*")
    sp.add_argument("--from-folders", metavar="DIR", help="enrol DIR/<name>/*.jpg, one subject per folder")
    sp.add_argument("--consent", help="consent record stored with the subject, e.g. 'signed 2026-11-02'")
    sp.add_argument("--metadata", help="JSON object stored with the subject")
    gallery_opts(sp)
    model_opts(sp)
    sp.set_defaults(func=cmd_enroll)

    sp = sub.add_parser("identify", help="who is in this photo? (every face)")
    sp.add_argument("image")
    sp.add_argument("--k", type=int, default=5)
    sp.add_argument("--threshold", type=float, default=None, help="raw score threshold for the decision")
    sp.add_argument("--fpir", type=float, default=None, help="target false-positive identification rate")
    sp.add_argument("--json", action="store_true")
    gallery_opts(sp)
    model_opts(sp)
    sp.set_defaults(func=cmd_identify)

    sp = sub.add_parser("gallery", help="list | show NAME | delete NAME | stats")
    sp.add_argument("action", choices=["list", "show", "delete", "stats"])
    sp.add_argument("name", nargs="?")
    sp.add_argument("--json", action="store_true")
    gallery_opts(sp)
    sp.set_defaults(func=cmd_gallery)

    sp = sub.add_parser("serve", help="run the REST API (native + CompreFace-compatible) and web page")
    sp.add_argument("--gallery", action="append", required=True, metavar="[NAME=]PATH",
                    help="SQLite file or postgresql:// URL; repeat as NAME=PATH to serve several galleries")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8000)
    sp.add_argument("--workers", type=int, default=1, help="worker processes (each loads the models once)")
    sp.add_argument("--index", default="Flat", help="FAISS factory string (default: Flat = exact)")
    sp.add_argument("--encryption-key-file", default=None,
                    help="key for templates encrypted at rest (or FACEPRINT_ENCRYPTION_KEY_FILE)")
    sp.add_argument("--max-upload-mb", type=float, default=10, help="largest request body in MiB (default 10)")
    sp.add_argument("--max-pending", type=int, default=64, help="queued requests per worker before 503")
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("keys", help="create | list | revoke API keys of a gallery")
    sp.add_argument("action", choices=["create", "list", "revoke"])
    sp.add_argument("key_id", nargs="?", help="the key id to revoke")
    sp.add_argument("--gallery", required=True, help="SQLite file or postgresql:// URL")
    sp.add_argument("--role", choices=["admin", "recognize"], default="recognize")
    sp.add_argument("--name", default="", help="a label for the key, e.g. 'front door'")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_keys)

    sp = sub.add_parser("audit", help="the gallery's audit log: enrolments, deletions, identifications...")
    sp.add_argument("--gallery", required=True, help="SQLite file or postgresql:// URL")
    sp.add_argument("--since", help="only rows at or after this date/time (UTC), e.g. 2026-11-01")
    sp.add_argument("--subject", help="only rows about this subject")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_audit)

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
