"""`faceprint keys create | list | revoke`: the API keys of a served gallery."""
from __future__ import annotations

from .common import add_command, print_json

_ACTIONS = (("create", "a new key, printed once"), ("list", "every key (never the key itself)"),
            ("revoke", "revoke KEY_ID at once, on every worker"))


def register(sub, parents) -> None:
    sp = add_command(sub, parents, "keys", "create | list | revoke API keys of a gallery", run)
    ksub = sp.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, help_ in _ACTIONS:
        kp = ksub.add_parser(action, help=help_, parents=parents)
        kp.add_argument("--gallery", required=True, help="SQLite file or postgresql:// URL")
        kp.add_argument("--encryption-key-file", default=None, help="the gallery's encryption key, if it has one")
        kp.add_argument("--json", action="store_true")
        kp.set_defaults(func=run, role=None, name="", key_id=None)
        if action == "create":
            kp.add_argument("--role", choices=["admin", "recognize"], required=True)
            kp.add_argument("--name", default="", help="a label for the key, e.g. 'front door'")
        elif action == "revoke":
            kp.add_argument("key_id", help="the key's id (from `faceprint keys list`)")


def run(args) -> int:
    from ..service import serve
    out = serve.keys(args.gallery, args.action, role=args.role, name=args.name, key_id=args.key_id,
                     key_file=args.encryption_key_file)
    if args.json:
        print_json(out)
    elif args.action == "create":
        print(f"{out['key']}\n(key id {out['id']}, role {out['role']}, gallery {out['gallery']}; "
              "shown once: store it now, only its hash is kept)")
    elif args.action == "list":
        for k in out:
            state = f"revoked {k['revoked']}" if k["revoked"] else "active"
            print(f"{k['id']}  {k['role']:<9} {k['name'] or '-':<20} created {k['created']}  {state}")
    else:
        print(f"revoked key {args.key_id}")
    return 0
