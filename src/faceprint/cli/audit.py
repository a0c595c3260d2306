"""`faceprint audit`: the gallery's audit log (enrolments, deletions, identifications...)."""
from __future__ import annotations

import json

from .common import add_command, print_json


def register(sub, parents) -> None:
    sp = add_command(sub, parents, "audit", "the gallery's audit log: enrolments, deletions, identifications...",
                     run)
    sp.add_argument("--gallery", required=True, help="SQLite file or postgresql:// URL")
    sp.add_argument("--since", help="only rows at or after this date/time (UTC), e.g. 2026-11-01")
    sp.add_argument("--subject", help="only rows about this subject")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--encryption-key-file", default=None, help="the gallery's encryption key, if it has one")


def run(args) -> int:
    from ..service import serve
    rows = serve.audit_rows(args.gallery, since=args.since, subject=args.subject, key_file=args.encryption_key_file)
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        print(f"{r['ts']}  {r['action']:<15} {r['subject'] or '-':<25} key {r['key_id'] or '-':<12} "
              f"{r['client'] or '-':<15} {json.dumps(r['outcome'])}")
    return 0
