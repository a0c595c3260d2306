"""`faceprint gallery list | show NAME | delete NAME | stats | rekey`: look after a gallery."""
from __future__ import annotations

from ..errors import FaceprintError
from .common import add_command, gallery_opts, open_gallery, print_json


def register(sub, parents) -> None:
    sp = add_command(sub, parents, "gallery", "list | show NAME | delete NAME | stats | rekey", run)
    sp.add_argument("action", choices=["list", "show", "delete", "stats", "rekey"])
    sp.add_argument("--new-key-file", help="rekey: the new key (32 raw bytes or 64 hex characters)")
    sp.add_argument("name", nargs="?")
    sp.add_argument("--json", action="store_true")
    gallery_opts(sp)


def run(args) -> int:
    if args.action == "rekey":
        return _rekey(args)
    if args.action in ("show", "delete") and not args.name:
        raise FaceprintError(f"gallery {args.action} needs a subject NAME")
    with open_gallery(args, readonly=args.action in ("list", "show", "stats")) as g:
        if args.action == "list":
            rows = [{"name": s.name, "templates": s.templates, "created": s.created} for s in g.subjects()]
            if args.json:
                print_json(rows)
            for r in rows if not args.json else []:
                print(f"{r['name']:<40} {r['templates']:>3} template(s)  enrolled {r['created']}")
        elif args.action == "show":
            s = g.subject(args.name)
            if s is None:
                raise FaceprintError(_no_subject(args))
            print_json({"id": s.id, "name": s.name, "templates": s.templates, "metadata": s.metadata,
                        "created": s.created, "updated": s.updated})
        elif args.action == "delete":
            if not g.delete(args.name):
                raise FaceprintError(_no_subject(args))
            if args.json:
                print_json({"deleted": args.name})
            else:
                print(f"deleted {args.name!r} and all of its templates")
        elif args.action == "stats":
            print_json({**g.stats(), "calibration": g.population_calibration()})
    return 0


def _no_subject(args) -> str:
    return f"no subject named {args.name!r} in {args.gallery}; `faceprint gallery list` shows who is enrolled"


def _rekey(args) -> int:
    """Re-encrypt every template (and the index file) under a new key, in one transaction; without
    --encryption-key-file it encrypts a gallery that was stored in clear."""
    from ..gallery.crypto import load_key
    if not args.new_key_file:
        raise FaceprintError("gallery rekey needs --new-key-file KEY (32 raw bytes or 64 hex characters)")
    new = load_key(args.new_key_file)
    with open_gallery(args) as g:
        g.rekey(new)
        n = g.stats()["templates"]
    print(f"{args.gallery}: {n} template(s) now encrypted under the key in {args.new_key_file}")
    return 0
