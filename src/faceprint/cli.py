"""The `faceprint` command line: a thin shell over the library API.

Exit codes: 0 success; 1 the answer is "no" (verify --exit-code: different people; identify: no face
enrolled); 2 bad input or usage, with one line on stderr naming the input and what to do. Never a
traceback unless --debug is given.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from pathlib import Path

from .errors import FaceprintError
from .runtime import RUNTIMES

log = logging.getLogger("faceprint")


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (what is wrong, and where help is)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- argument types: every value is checked at parse time -------------------------------------
def _number(text: str, cast, what: str):
    try:
        return cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def positive_int(text: str) -> int:
    v = _number(text, int, "a whole number")
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {v}")
    return v


def rate(text: str) -> float:
    """A rate strictly between 0 and 1 (FPIR, FMR)."""
    v = _number(text, float, "a number")
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), e.g. 0.001; not {text}")
    return v


def finite_float(text: str) -> float:
    v = _number(text, float, "a number")
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
    return v


def json_object(text: str) -> dict:
    try:
        v = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(v, dict):
        raise argparse.ArgumentTypeError('must be a JSON object, e.g. \'{"team": "ops"}\'')
    return v


def fold_list(text: str) -> list[int]:
    try:
        folds = [int(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated fold numbers 0-9, e.g. 0,1,2") from None
    if not folds or any(not 0 <= f <= 9 for f in folds):
        raise argparse.ArgumentTypeError(f"{text!r}: fold numbers run from 0 to 9")
    return folds


def existing_dir(text: str) -> Path:
    p = Path(text)
    if not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {'is a file, not' if p.exists() else 'there is no such'} folder")
    return p


# -- output ----------------------------------------------------------------------------------
def _clean(obj):
    """JSON has no NaN or infinity: they become null."""
    if hasattr(obj, "dtype") and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()         # numpy scalars
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _print_json(obj) -> None:
    print(json.dumps(_clean(obj), indent=2, ensure_ascii=False, default=float))


def _engine(args):
    from .engine import Engine
    return Engine(detector=args.detector, embedder=args.embedder, flip=args.flip,
                  threshold=getattr(args, "threshold", None), threads=args.threads, runtime=args.runtime)


def _skip(skipped: list[dict], item: str, exc: Exception) -> None:
    skipped.append({"input": item, "reason": str(exc)})


def _report_skipped(skipped: list[dict]) -> None:
    """Once a batch has done something: one warning per input it could not use, naming it
    unless the reason already does."""
    for s in skipped:
        log.warning("skipped %s", s["reason"] if s["input"] in s["reason"] else f"{s['input']}: {s['reason']}")


def _face_line(i: int, f: dict) -> str:
    x, y, w, h = f["box"]
    return f"  #{i}  box x={x:.0f} y={y:.0f} w={w:.0f} h={h:.0f}  score={f['score']:.3f}"


def cmd_detect(args) -> int:
    """Every face of every image; a bad file is reported and skipped, the batch goes on."""
    eng = _engine(args)
    results, skipped = [], []
    for path in args.images:
        try:
            faces = eng.detect(path)
        except FaceprintError as exc:
            _skip(skipped, path, exc)
            continue
        results.append({"image": path, "faces": [f.to_dict() for f in faces]})
    if args.json:
        _print_json({"images": results, "skipped": skipped} if len(args.images) > 1
                    else results[0] if results else {"image": args.images[0], "skipped": skipped})
    else:
        for r in results:
            print(f"{r['image']}: {len(r['faces'])} face(s)")
            for i, f in enumerate(r["faces"]):
                lm = " ".join(f"({px:.0f},{py:.0f})" for px, py in f["landmarks"])
                print(f"{_face_line(i, f)}  landmarks {lm}")
    if not results:
        raise FaceprintError(skipped[0]["reason"] if len(skipped) == 1 else
                             f"none of the {len(skipped)} images could be read; the first: {skipped[0]['reason']}")
    _report_skipped(skipped)
    return 0


def _probe(eng, path: str) -> tuple[object, list]:
    """Template of the most prominent face, plus every face seen (for the report)."""
    from .engine import pick_face
    from .errors import NoFaceError
    from .imageio import decode
    img, source = decode(path, limits=eng.limits)
    faces = eng.detector.detect([img])[0]
    if not faces:
        raise NoFaceError(f"no face found in {path}; use a photo where the face is visible, at least about 20 px wide")
    chosen = pick_face(faces, img.shape)
    if len(faces) > 1:
        log.warning("%s holds %d faces; using face #%d (the largest); crop the photo to choose another",
                    path, len(faces), chosen)
    return eng.templates_for(img, [faces[chosen]], source=source)[0], [f.to_dict() for f in faces], chosen


def cmd_verify(args) -> int:
    from .quality import is_masked
    eng = _engine(args)
    sides = {}
    for key, path in (("a", args.image_a), ("b", args.image_b)):
        tpl, faces, chosen = _probe(eng, path)
        sides[key] = {"image": path, "faces": faces, "used_face": chosen, "masked": is_masked(tpl.quality_detail),
                      "template": tpl}
    v = eng.verify(sides["a"]["template"], sides["b"]["template"])
    out = {**v.to_dict(), **{f"image_{k}": {x: y for x, y in s.items() if x != "template"} for k, s in sides.items()}}
    if args.json:
        _print_json(out)
    else:
        verdict = "SAME person" if v.same else "DIFFERENT people"
        print(f"{verdict}: score {v.score:.4f}, threshold {v.threshold:.4f} ({v.model})")
        for k, s in sides.items():
            print(f"{s['image']}: {len(s['faces'])} face(s), used #{s['used_face']}"
                  f"{' (masked: weaker match, same false-match rate)' if s['masked'] else ''}")
            for i, f in enumerate(s["faces"]):
                print(_face_line(i, f))
    return 0 if v.same or not args.exit_code else 1


def _experiment(args, dataset) -> int:
    from .evaluate import experiment, report
    from .evaluate.cache import TemplateCache
    # Without --models: the engine options' model, flip as given (--flip/--no-flip) or the manifest's.
    flip = {True: ":flip", False: ":noflip", None: ""}[args.flip]
    models = [m.strip() for m in (args.models or args.embedder + flip).split(",") if m.strip()]
    cache = None if args.no_cache else TemplateCache()
    rep, curves = experiment.run(dataset, models, mask=args.mask == "synthetic", cache=cache,
                                 progress=not getattr(args, "quiet", False))
    if args.report:
        js, page = report.write(rep, curves, args.report)
        print(f"wrote {js} and {page}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(report.to_json(rep))
    for m, r in rep["models"].items():
        acc = f"{100 * r['accuracy_mean']:.2f}% ± {100 * r['accuracy_std']:.2f}" if "accuracy_mean" in r else "n/a"
        fn = r["fnmr_at_fmr"]
        line = (f"{m:<14} accuracy {acc}  TAR@FAR=1e-3 {100 * r['tar_at_far_1e-3']:.2f}% "
                f"(threshold {r['threshold_at_far_1e-3']:.4f}, {r['threshold_source']})  EER {100 * r['eer']:.2f}%  "
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
    """One path for every LFW evaluation (evaluate/experiment.py): the figures, --report, --json."""
    from .evaluate.experiment import Dataset
    from .evaluate.protocols import lfw_pairs
    pairs = lfw_pairs(args.data, args.folds)
    images = sorted({x for pr in pairs for x in (pr.a, pr.b)})
    identities: dict = {}
    for p in images:
        identities.setdefault(p.parent.name, []).append(p)
    n_folds = len({p.fold for p in pairs})
    ds = Dataset(name="LFW (deep-funneled)", pairs=pairs, identities=identities,
                 counts={"pairs": len(pairs), "mated_pairs": sum(p.mated for p in pairs),
                         "nonmated_pairs": sum(not p.mated for p in pairs), "images": len(images), "folds": n_folds},
                 protocol=(f"LFW view 2 (pairs.txt): {n_folds} fold(s) of 300 mated + 300 non-mated pairs; accuracy "
                           "with the threshold chosen on the other folds, FNMR at the manifest's calibrated FMR "
                           f"thresholds; 1:N over the {len(images):,} images of these pairs"))
    return _experiment(args, ds)


def _gallery(args, engine=None, *, create: bool = False, readonly: bool = False):
    """Open --gallery; reading commands open it read-only (no writes, never blocked by a writer)."""
    from .gallery import Gallery
    from .gallery.crypto import load_key
    key = load_key(args.encryption_key_file) if args.encryption_key_file else None
    return _announce(Gallery.open(args.gallery, index=args.index, search_params=args.search_params, engine=engine,
                                  create=create, readonly=readonly, encryption_key=key), args.gallery)


def _announce(g, location: str):
    if g.created:
        log.warning("created a new gallery at %s", location)
    return g


def _enrol_folders(g, eng, root: Path, metadata: dict, skipped: list[dict], force: bool = False,
                   best: int | None = None) -> int:
    from .progress import progress
    people = sorted(p for p in root.iterdir() if p.is_dir())
    if not people:
        raise FaceprintError(f"{root} has no sub-folders; expected {root}/<name>/*.jpg")
    done = 0
    for person in progress(people, desc="enrolling", unit="subject"):
        photos = sorted(f for f in person.iterdir() if f.is_file() and not f.name.startswith("."))
        templates, used = [], []
        for photo in photos:
            try:
                templates.append(eng.template(photo))
                used.append(photo)
            except FaceprintError as exc:
                _skip(skipped, str(photo), exc)
        if templates:
            try:
                enr = g.enroll(person.name, templates, metadata=metadata, force=force, best=best)
            except FaceprintError as exc:
                _skip(skipped, str(person), exc)
                continue
            skipped += [{"input": str(used[s.index]), "reason": s.reason} for s in enr.skipped]
            done += 1
    return done


def cmd_enroll(args) -> int:
    from . import quality
    eng = _engine(args)
    metadata = dict(args.metadata or {})
    if args.consent:
        metadata["consent"] = args.consent
    if not args.from_folders and (not args.name or not args.images):
        raise FaceprintError("give a NAME and 1+ photos, or --from-folders DIR")
    skipped: list[dict] = []
    # Photos are read before the gallery is opened: a bad photo never creates or touches a gallery.
    templates = [eng.template(p) for p in args.images] if not args.from_folders else []
    refused = [r for t in templates if (r := quality.enrolment_refusal(t.quality, t.quality_detail))]
    if templates and len(refused) == len(templates) and not args.force:
        raise FaceprintError(f"not enrolled: {refused[0][1]}")
    with _gallery(args, eng, create=True) as g:
        if args.default_fpir is not None:
            g.set_default_fpir(args.default_fpir)
        if args.from_folders:
            done = _enrol_folders(g, eng, args.from_folders, metadata, skipped, force=args.force, best=args.best)
            out = {"gallery": args.gallery, "enrolled_subjects": done, "skipped": skipped}
            text = f"enrolled {done} subjects from {args.from_folders}; {len(skipped)} photo(s) skipped"
            if not done:
                raise FaceprintError(f"no subject could be enrolled from {args.from_folders}: "
                                     + (skipped[0]["reason"] if skipped else "no photos"))
        else:
            enr = g.enroll(args.name, templates, metadata=metadata, force=args.force, best=args.best)
            skipped += [{"input": str(args.images[s.index]), "reason": s.reason} for s in enr.skipped]
            out = {"gallery": args.gallery, "subject": enr.subject.name, "subject_id": enr.subject.id,
                   "added_templates": len(enr.added), "templates": enr.subject.templates, "skipped": skipped}
            text = (f"enrolled {enr.subject.name!r} (subject {enr.subject.id}, {len(enr.added)} template(s) added, "
                    f"{enr.subject.templates} in all)")
    _report_skipped(skipped)
    if args.json:
        _print_json(out)
    else:
        print(text)
    return 0


def cmd_identify(args) -> int:
    from .errors import NoFaceError
    from .imageio import decode
    eng = _engine(args)
    img, source = decode(args.image, limits=eng.limits)
    templates = eng.templates_for(img, eng.detector.detect([img])[0], source=source)
    if not templates:
        raise NoFaceError(f"no face found in {args.image}; use a photo where the face is visible, at least about 20 px wide")
    with _gallery(args, eng, readonly=True) as g:
        results = g.identify(templates, k=args.k, threshold=args.threshold, fpir=args.fpir)
        size = g.stats()["subjects"]
    out = {"image": args.image, "faces": [r.to_dict() for r in results], "gallery_size": size}
    if args.json:
        _print_json(out)
    else:
        for i, r in enumerate(results):
            x, y, w, h = r.face.box
            who = r.decision.subject.name if r.decision else "unknown (not enrolled)"
            rule = f"FPIR {r.fpir:g} over {r.gallery_size} subjects" if r.fpir is not None else "given threshold"
            print(f"face #{i} at x={x:.0f} y={y:.0f} w={w:.0f} h={h:.0f}{' (masked)' if r.masked else ''}: "
                  f"{who}  (threshold {r.threshold:.4f}, {rule})")
            for m in r.candidates:
                print(f"   {m.rank}. {m.subject.name:<30} {m.score:.4f}")
    return 0 if any(r.decision for r in results) else 1


def _rekey(args) -> int:
    """gallery rekey: re-encrypt every template (and the index file) under a new key, in one
    transaction; without --encryption-key-file it encrypts a gallery that was stored in clear."""
    from .gallery.crypto import load_key
    if not args.new_key_file:
        raise FaceprintError("gallery rekey needs --new-key-file KEY (32 raw bytes or 64 hex characters)")
    new = load_key(args.new_key_file)
    with _gallery(args) as g:
        g.rekey(new)
        n = g.stats()["templates"]
    print(f"{args.gallery}: {n} template(s) now encrypted under the key in {args.new_key_file}")
    return 0


def cmd_gallery(args) -> int:
    if args.action == "rekey":
        return _rekey(args)
    if args.action in ("show", "delete") and not args.name:
        raise FaceprintError(f"gallery {args.action} needs a subject NAME")
    with _gallery(args, readonly=args.action in ("list", "show", "stats")) as g:
        if args.action == "list":
            rows = [{"name": s.name, "templates": s.templates, "created": s.created} for s in g.subjects()]
            if args.json:
                _print_json(rows)
            for r in rows if not args.json else []:
                print(f"{r['name']:<40} {r['templates']:>3} template(s)  enrolled {r['created']}")
        elif args.action == "show":
            s = g.subject(args.name)
            if s is None:
                raise FaceprintError(f"no subject named {args.name!r} in {args.gallery}; `faceprint gallery list` shows who is enrolled")
            _print_json({"id": s.id, "name": s.name, "templates": s.templates, "metadata": s.metadata,
                         "created": s.created, "updated": s.updated})
        elif args.action == "delete":
            if not g.delete(args.name):
                raise FaceprintError(f"no subject named {args.name!r} in {args.gallery}; `faceprint gallery list` shows who is enrolled")
            if args.json:
                _print_json({"deleted": args.name})
            else:
                print(f"deleted {args.name!r} and all of its templates")
        elif args.action == "stats":
            _print_json(g.stats())
    return 0


def cmd_watch(args) -> int:
    import signal

    from .stream import make_sinks, watch
    eng = _engine(args)
    with _gallery(args, eng, readonly=True) as g:
        sinks = make_sinks(events=args.events, stdout=args.json, webhook=args.webhook, mqtt=args.mqtt)
        w = watch(args.source, gallery=g, engine=eng, fpir=args.fpir, threshold=args.threshold,
                  fps=args.fps or None, min_face=args.min_face, sinks=sinks, output=args.output,
                  save_unknown=args.save_unknown, progress=not args.json, threads=args.threads)
        # Ctrl-C ends the watch cleanly (open tracks still get their events); a second one aborts.
        prev = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, lambda *_: (w.stop(), signal.signal(signal.SIGINT, prev)))
        try:
            with w:
                for e in w:
                    if not args.json and e.event in ("recognized", "unknown", "source_lost", "source_back"):
                        who = e.subject or (e.reason if e.event == "source_lost" else "")
                        score = f"  score {e.score:.3f}" if e.score is not None else ""
                        track = f"  track {e.track}" if e.track is not None else ""
                        print(f"{e.time:9.2f}s  {e.event:<11} {who}{score}{track}", flush=True)
        finally:
            signal.signal(signal.SIGINT, prev)
        if not args.json and not getattr(args, "quiet", False):
            st = w.stats
            print(f"analysed {st['frames']} frames, {st['tracks']} tracks; dropped {st['dropped']} "
                  f"live frames; events {st['events']}", file=sys.stderr)
    return 0


def cmd_models(args) -> int:
    from . import models, runtime
    default = runtime.resolve(None)

    def runs_in(spec) -> str:
        if "parts" in spec.extra:
            return "+".join(runs_in(models.get(p)) for p in spec.extra["parts"])
        return "dlib" if "dlib" in spec.impl else default
    rows = []
    for spec in models.manifest().values():
        status = spec.status()
        ok = all(s["ok"] for s in status.values())
        rows.append({"name": spec.name, "task": spec.task, "license": spec.license,
                     "package": f"{spec.package}=={spec.package_version}", "ok": ok, "runtime": runs_in(spec),
                     "files": status, "thresholds": spec.thresholds})
    if args.json:
        _print_json(rows)
        return 0
    print(f"runtime: {default} (installed: "
          + ", ".join(f"{r} {runtime.version(r)}" for r in runtime.available()) + ")")
    for r in rows:
        state = "OK (sha256 verified)" if r["ok"] else "; ".join(
            s["problem"] for s in r["files"].values() if s["problem"])
        print(f"{r['name']:<11} {r['task']:<7} {r['runtime']:<14} {r['package']:<32} {r['license']:<14} {state}")
    return 0


def cmd_serve(args) -> int:
    from .service import serve
    settings = serve.settings_from_args(args)
    serve.check(settings)
    serve.run(settings)
    return 0


def cmd_keys(args) -> int:
    from .service import serve
    out = serve.keys(args.gallery, args.action, role=args.role, name=args.name, key_id=args.key_id,
                     key_file=args.encryption_key_file)
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
    rows = serve.audit_rows(args.gallery, since=args.since, subject=args.subject, key_file=args.encryption_key_file)
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        print(f"{r['ts']}  {r['action']:<15} {r['subject'] or '-':<25} key {r['key_id'] or '-':<12} "
              f"{r['client'] or '-':<15} {json.dumps(r['outcome'])}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    # Logging/debug flags are accepted before or after the subcommand.
    common = Parser(add_help=False)
    common.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=argparse.SUPPRESS,
                        help="log detail on stderr (default: warning)")
    common.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS,
                        help="errors only: no warnings, no progress bars")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")

    p = Parser(prog="faceprint", description="Offline face recognition.", parents=[common])
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    def command(name: str, help: str, func):
        sp = sub.add_parser(name, help=help, parents=[common])
        sp.set_defaults(func=func)
        return sp

    def model_opts(sp):
        sp.add_argument("--detector", default="yunet", help="detector model (default: yunet)")
        sp.add_argument("--embedder", default="sface",
                        help="embedder model name or path to an ArcFace-style .onnx (default: sface)")
        sp.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                        help="flip test-time augmentation (default: the model's, on for dlib, off for sface)")
        sp.add_argument("--threads", type=positive_int, default=None, help="inference threads (default: all cores)")
        sp.add_argument("--runtime", choices=RUNTIMES, default=None,
                        help="inference runtime (default: the fastest installed)")

    sp = command("detect", "find every face: box, 5 landmarks, score", cmd_detect)
    sp.add_argument("images", nargs="+")
    sp.add_argument("--json", action="store_true")
    model_opts(sp)

    sp = command("verify", "are two photos the same person?", cmd_verify)
    sp.add_argument("image_a")
    sp.add_argument("image_b")
    sp.add_argument("--threshold", type=finite_float, default=None, help="decision threshold (default: calibrated)")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--exit-code", action="store_true", help="exit 1 when the faces differ")
    model_opts(sp)

    def report_opts(sp):
        sp.add_argument("--models", help="comma-separated models; fuse with '+', e.g. sface,dlib,sface+dlib")
        sp.add_argument("--report", metavar="DIR", help="write DIR/report.json and DIR/report.html")
        sp.add_argument("--mask", choices=["synthetic"], help="also evaluate masked probes against a clean gallery")
        sp.add_argument("--no-cache", action="store_true", help="recompute templates (cache: ~/.cache/faceprint)")

    sp = command("evaluate", "accuracy on a benchmark protocol", None)
    esub = sp.add_subparsers(dest="protocol", required=True, metavar="PROTOCOL", parser_class=Parser)
    ep = esub.add_parser("lfw", help="LFW 10-fold verification (pairs.txt)", parents=[common])
    ep.add_argument("--data", type=existing_dir, default="../shared/data/lfw",
                    help="folder with pairs.txt and lfw-deepfunneled/")
    ep.add_argument("--json", metavar="OUT", help="write the figures to this JSON file")
    ep.add_argument("--folds", type=fold_list, help="comma-separated fold numbers 0-9 (default: all)")
    model_opts(ep)
    report_opts(ep)
    ep.set_defaults(func=cmd_evaluate_lfw)

    ep = esub.add_parser("folders", help="a folder-per-identity dataset: DATA/<identity>/*.jpg", parents=[common])
    ep.add_argument("--data", type=existing_dir, required=True)
    ep.add_argument("--json", metavar="OUT", help="write report JSON here too")
    ep.add_argument("--max-nonmated", type=positive_int, default=200_000,
                    help="sample non-mated pairs above this count")
    ep.add_argument("--seed", type=int, default=0)
    model_opts(ep)
    report_opts(ep)
    ep.set_defaults(func=cmd_evaluate_folders)

    def decision_opts(sp):
        rule = sp.add_mutually_exclusive_group()
        rule.add_argument("--fpir", type=rate, default=None,
                          help="target false-positive identification rate (default: the gallery's, 0.001)")
        rule.add_argument("--threshold", type=finite_float, default=None,
                          help="raw score threshold instead of an FPIR-based one")

    def gallery_opts(sp):
        sp.add_argument("--gallery", required=True, help="SQLite file or postgresql:// URL")
        sp.add_argument("--index", default="Flat",
                        help="FAISS factory string (default: Flat = exact; PQ64x4fs,RFlat for 1M+), "
                             "or milvus:FILE / milvus:http://host:19530")
        sp.add_argument("--search-params", default=None,
                        help='FAISS ParameterSpace settings, e.g. "efSearch=128", "nprobe=32", "k_factor_rf=32"')
        sp.add_argument("--encryption-key-file", default=os.environ.get("FACEPRINT_ENCRYPTION_KEY_FILE"),
                        help="key of an encrypted gallery (default: $FACEPRINT_ENCRYPTION_KEY_FILE)")

    sp = command("enroll", "enrol a subject from photos, or a folder of people (creates the gallery)", cmd_enroll)
    sp.add_argument("name", nargs="?")
    sp.add_argument("images", nargs="*")
    sp.add_argument("--from-folders", metavar="DIR", type=existing_dir,
                    help="enrol DIR/<name>/*.jpg, one subject per folder")
    sp.add_argument("--consent", help="consent record stored with the subject, e.g. 'signed 2026-11-02'")
    sp.add_argument("--metadata", type=json_object, help="JSON object stored with the subject")
    sp.add_argument("--force", action="store_true",
                    help="enrol photos below the quality floor or with a masked face too (they are skipped, with the "
                         "reason, without it)")
    sp.add_argument("--best", type=positive_int, default=None, metavar="N",
                    help="enrol only the N highest-quality photos given for each subject (one per person: the best "
                         "photo misses fewer mates than the first; README, LFW open set)")
    sp.add_argument("--default-fpir", type=rate, default=None, metavar="RATE",
                    help="store the gallery's default FPIR for identify (else 0.001)")
    sp.add_argument("--json", action="store_true")
    gallery_opts(sp)
    model_opts(sp)

    sp = command("identify", "who is in this photo? (every face; exit 1 when nobody is recognised)", cmd_identify)
    sp.add_argument("image")
    sp.add_argument("--k", type=positive_int, default=5, help="candidates listed per face (default 5)")
    decision_opts(sp)
    sp.add_argument("--json", action="store_true")
    gallery_opts(sp)
    model_opts(sp)

    sp = command("gallery", "list | show NAME | delete NAME | stats | rekey", cmd_gallery)
    sp.add_argument("action", choices=["list", "show", "delete", "stats", "rekey"])
    sp.add_argument("--new-key-file", help="rekey: the new key (32 raw bytes or 64 hex characters)")
    sp.add_argument("name", nargs="?")
    sp.add_argument("--json", action="store_true")
    gallery_opts(sp)

    sp = command("watch", "recognise people in a video file, webcam or stream: one event per person", cmd_watch)
    sp.add_argument("source", help="video file, webcam index (0), rtsp:// or http(s):// MJPEG/HLS URL")
    sp.add_argument("--events", metavar="FILE", help="append events as JSON lines to FILE")
    sp.add_argument("--json", action="store_true", help="print events as JSON lines on stdout")
    sp.add_argument("--webhook", metavar="URL", help="POST each event as JSON to URL (with retries)")
    sp.add_argument("--mqtt", metavar="URL", help="publish events to mqtt://[user:pass@]host[:port]/topic")
    sp.add_argument("--output", metavar="VIDEO", help="write the analysed frames with boxes and names (.mp4)")
    decision_opts(sp)
    sp.add_argument("--fps", type=finite_float, default=10.0, help="frames analysed per second of video (0: all)")
    sp.add_argument("--min-face", type=finite_float, default=40.0, help="narrowest face used for recognition (px)")
    sp.add_argument("--save-unknown", metavar="DIR", help="keep one best crop per unknown person (off by default)")
    gallery_opts(sp)
    model_opts(sp)

    sp = command("serve", "run the REST API (native + CompreFace-compatible) and web page", cmd_serve)
    sp.add_argument("--gallery", action="append", required=True, metavar="[NAME=]PATH",
                    help="SQLite file or postgresql:// URL; repeat as NAME=PATH to serve several galleries")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=positive_int, default=8000)
    sp.add_argument("--workers", type=positive_int, default=1, help="worker processes (each loads the models once)")
    sp.add_argument("--index", default="Flat", help="FAISS factory string (default: Flat = exact)")
    sp.add_argument("--encryption-key-file", default=None,
                    help="key for templates encrypted at rest (or FACEPRINT_ENCRYPTION_KEY_FILE)")
    sp.add_argument("--max-upload-mb", type=float, default=10, help="largest request body in MiB (default 10)")
    sp.add_argument("--max-pending", type=positive_int, default=64, help="queued requests per worker before 503")

    sp = command("keys", "create | list | revoke API keys of a gallery", cmd_keys)
    ksub = sp.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, help_ in (("create", "a new key, printed once"), ("list", "every key (never the key itself)"),
                          ("revoke", "revoke KEY_ID at once, on every worker")):
        kp = ksub.add_parser(action, help=help_, parents=[common])
        kp.add_argument("--gallery", required=True, help="SQLite file or postgresql:// URL")
        kp.add_argument("--encryption-key-file", default=None, help="the gallery's encryption key, if it has one")
        kp.add_argument("--json", action="store_true")
        kp.set_defaults(func=cmd_keys, role=None, name="", key_id=None)
        if action == "create":
            kp.add_argument("--role", choices=["admin", "recognize"], required=True)
            kp.add_argument("--name", default="", help="a label for the key, e.g. 'front door'")
        elif action == "revoke":
            kp.add_argument("key_id", help="the key's id (from `faceprint keys list`)")

    sp = command("audit", "the gallery's audit log: enrolments, deletions, identifications...", cmd_audit)
    sp.add_argument("--gallery", required=True, help="SQLite file or postgresql:// URL")
    sp.add_argument("--since", help="only rows at or after this date/time (UTC), e.g. 2026-11-01")
    sp.add_argument("--subject", help="only rows about this subject")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--encryption-key-file", default=None, help="the gallery's encryption key, if it has one")

    sp = command("models", "installed models, licences, checksum status", cmd_models)
    sp.add_argument("--json", action="store_true")
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("faceprint")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _setup_logging(args) -> None:
    level = "error" if getattr(args, "quiet", False) else getattr(args, "log_level", "warning")
    logging.basicConfig(level=level.upper(), format="faceprint: %(levelname)s: %(message)s", stream=sys.stderr,
                        force=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, and keep Python from complaining at exit.
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("faceprint: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:            # noqa: BLE001 -- the CLI's contract: one line, never a traceback
        if getattr(args, "debug", False):
            raise
        if isinstance(exc, FaceprintError):
            msg = str(exc)
        elif isinstance(exc, OSError):
            msg = f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}"
        else:
            msg = f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback, and report it)"
        print(f"faceprint: error: {' '.join(msg.split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
