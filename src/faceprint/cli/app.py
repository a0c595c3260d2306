"""The `faceprint` parser, assembled from one module per command, and `main`."""
from __future__ import annotations

import argparse

from .._version import __version__
from . import (
    audit,
    calibrate,
    detect,
    enroll,
    evaluate,
    gallery,
    identify,
    keys,
    liveness,
    models,
    serve,
    verify,
    watch,
)
from .common import Parser, run_command, setup_logging

# In the order `faceprint --help` lists them; each module's register() adds its own sub-parser.
COMMANDS = (detect, verify, liveness, evaluate, enroll, identify, gallery, watch, serve, keys, audit, calibrate, models)


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
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.register(sub, [common])
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args)
    return run_command(args)
