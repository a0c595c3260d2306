"""`faceprint enroll`: enrol a subject from photos, or a folder of people (creates the gallery)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import FaceprintError
from .common import (
    add_command,
    engine,
    existing_dir,
    gallery_opts,
    json_object,
    model_opts,
    open_gallery,
    positive_int,
    print_json,
    rate,
    report_skipped,
)

log = logging.getLogger("faceprint")
SKIPS_SHOWN = 20        # warnings for skipped photos; --report has every one


def register(sub, parents) -> None:
    sp = add_command(sub, parents, "enroll",
                     "enrol a subject from photos, or a folder of people (creates the gallery)", run)
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
    sp.add_argument("--cluster", metavar="ADDRESS",
                    help="with --from-folders: make templates on a Ray cluster (what ray.init(address=...) takes: "
                         "HOST:6379, ray://HOST:10001, auto), or 'local' for a private Ray here; needs "
                         "pip install 'faceprint[cluster]' (default: in this process)")
    sp.add_argument("--workers", type=positive_int, default=None, metavar="N",
                    help="with --cluster: template-making actors (default: one per cluster CPU / --threads); "
                         "--threads is then each actor's CPUs and inference threads (default 1)")
    sp.add_argument("--commit-every", type=positive_int, default=512, metavar="N",
                    help="with --from-folders: photos per gallery transaction, whole subjects (default 512)")
    sp.add_argument("--batch-size", type=positive_int, default=64, metavar="N",
                    help="with --from-folders: photos per template-maker call (default 64)")
    sp.add_argument("--report", metavar="FILE.json",
                    help="with --from-folders: write what became of every photo, per subject, to this JSON file")
    sp.add_argument("--json", action="store_true")
    gallery_opts(sp)
    model_opts(sp)


def run(args) -> int:
    from .. import quality
    eng = engine(args, gallery=True)
    metadata = dict(args.metadata or {})
    if args.consent:
        metadata["consent"] = args.consent
    if not args.from_folders and (not args.name or not args.images):
        raise FaceprintError("give a NAME and 1+ photos, or --from-folders DIR")
    if not args.from_folders and (args.cluster or args.workers or args.report):
        raise FaceprintError("--cluster, --workers and --report go with --from-folders DIR")
    if args.workers and not args.cluster:
        raise FaceprintError("--workers goes with --cluster (without it, --threads sets this process's threads)")
    skipped: list[dict] = []
    # Photos are read before the gallery is opened: a bad photo never creates or touches a gallery.
    templates = [eng.template(p) for p in args.images] if not args.from_folders else []
    refused = [r for t in templates if (r := quality.enrolment_refusal(t))]
    if templates and len(refused) == len(templates) and not args.force:
        raise FaceprintError(f"not enrolled: {refused[0][1]}")
    runner = _runner(args, eng) if args.from_folders else None
    with open_gallery(args, eng, create=True) as g:
        if args.default_fpir is not None:
            g.set_default_fpir(args.default_fpir)
        if runner is not None:
            out, text = _from_folders(args, g, runner, metadata, skipped)
        else:
            out, text = _one_subject(args, g, templates, metadata, skipped)
    report_skipped(skipped[:SKIPS_SHOWN])
    if len(skipped) > SKIPS_SHOWN:
        log.warning("... and %d more skipped photo(s)%s", len(skipped) - SKIPS_SHOWN,
                    f": every one is in {args.report}" if args.report else "; --report FILE.json lists them all")
    if args.json:
        print_json(out)
    else:
        print(text)
    return 0


def _one_subject(args, g, templates, metadata: dict, skipped: list[dict]) -> tuple[dict, str]:
    enr = g.enroll(args.name, templates, metadata=metadata, force=args.force, best=args.best)
    skipped += [{"input": str(args.images[s.index]), "reason": s.reason} for s in enr.skipped]
    out = {"gallery": args.gallery, "subject": enr.subject.name, "subject_id": enr.subject.id,
           "added_templates": len(enr.added), "templates": enr.subject.templates, "skipped": skipped}
    text = (f"enrolled {enr.subject.name!r} (subject {enr.subject.id}, {len(enr.added)} template(s) added, "
            f"{enr.subject.templates} in all)")
    return out, text


def _runner(args, eng):
    """Who makes the templates of a bulk job: this process, or Ray actors (checked to be reachable
    before any gallery is opened)."""
    from ..bulk import EngineSpec, LocalRunner
    spec = EngineSpec.of(eng)      # the model options as resolved for this gallery, for every worker
    if not args.cluster:
        return LocalRunner(spec, eng)
    from ..bulk.ray_runner import RayRunner
    return RayRunner(spec, args.cluster, workers=args.workers, cpus=args.threads or 1)


def _from_folders(args, g, runner, metadata: dict, skipped: list[dict]) -> tuple[dict, str]:
    """The bulk job (faceprint.bulk): templates made here or on a Ray cluster, written in
    transactions of whole subjects; a run again after a kill enrols only what is missing."""
    from ..bulk import JobOptions, run_job
    options = JobOptions(force=args.force, best=args.best, metadata=metadata, commit_every=args.commit_every,
                         batch_size=args.batch_size)
    report = run_job(g, args.from_folders, runner, options, show_progress=not args.json)
    if args.report:
        Path(args.report).write_text(json.dumps({"gallery": args.gallery, **report.as_dict()}, indent=2,
                                                ensure_ascii=False))
    skipped += [{"input": p.path, "reason": p.reason} for s in report.subjects.values() for p in s.skipped]
    if not report.enrolled_subjects:
        raise FaceprintError(f"no subject could be enrolled from {args.from_folders}: "
                             + (skipped[0]["reason"] if skipped else "no photos"))
    return {"gallery": args.gallery, **report.as_dict(subjects=False), "skipped": skipped}, report.summary()
