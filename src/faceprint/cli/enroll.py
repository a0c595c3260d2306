"""`faceprint enroll`: enrol a subject from photos, or a folder of people (creates the gallery)."""
from __future__ import annotations

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
    skip,
)


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
    sp.add_argument("--json", action="store_true")
    gallery_opts(sp)
    model_opts(sp)


def run(args) -> int:
    from .. import quality
    eng = engine(args)
    metadata = dict(args.metadata or {})
    if args.consent:
        metadata["consent"] = args.consent
    if not args.from_folders and (not args.name or not args.images):
        raise FaceprintError("give a NAME and 1+ photos, or --from-folders DIR")
    skipped: list[dict] = []
    # Photos are read before the gallery is opened: a bad photo never creates or touches a gallery.
    templates = [eng.template(p) for p in args.images] if not args.from_folders else []
    refused = [r for t in templates if (r := quality.enrolment_refusal(t))]
    if templates and len(refused) == len(templates) and not args.force:
        raise FaceprintError(f"not enrolled: {refused[0][1]}")
    with open_gallery(args, eng, create=True) as g:
        if args.default_fpir is not None:
            g.set_default_fpir(args.default_fpir)
        if args.from_folders:
            out, text = _from_folders(args, g, eng, metadata, skipped)
        else:
            out, text = _one_subject(args, g, templates, metadata, skipped)
    report_skipped(skipped)
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


def _from_folders(args, g, eng, metadata: dict, skipped: list[dict]) -> tuple[dict, str]:
    done = _enrol_folders(g, eng, args.from_folders, metadata, skipped, force=args.force, best=args.best)
    if not done:
        raise FaceprintError(f"no subject could be enrolled from {args.from_folders}: "
                             + (skipped[0]["reason"] if skipped else "no photos"))
    out = {"gallery": args.gallery, "enrolled_subjects": done, "skipped": skipped}
    return out, f"enrolled {done} subjects from {args.from_folders}; {len(skipped)} photo(s) skipped"


def _enrol_folders(g, eng, root: Path, metadata: dict, skipped: list[dict], force: bool = False,
                   best: int | None = None) -> int:
    """One subject per sub-folder; a photo or subject that fails is skipped with its reason."""
    from ..progress import progress
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
                skip(skipped, str(photo), exc)
        if templates:
            try:
                enr = g.enroll(person.name, templates, metadata=metadata, force=force, best=best)
            except FaceprintError as exc:
                skip(skipped, str(person), exc)
                continue
            skipped += [{"input": str(used[s.index]), "reason": s.reason} for s in enr.skipped]
            done += 1
    return done
