"""What every command shares: argument types checked at parse time, the option groups, opening the
engine and gallery, JSON output, and the exit-code contract.

Exit codes: 0 success; 1 the answer is "no" (verify --exit-code: different people; identify: nobody
recognised); 2 bad input or usage, with one line on stderr naming the input and what to do. Never a
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
from typing import Callable

from ..errors import FaceprintError
from ..modelid import ModelId
from ..runtime import RUNTIMES

log = logging.getLogger("faceprint")

EXIT_OK, EXIT_NO, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# Optional packages -> the extra that installs them (pyproject.toml), for a missing-package message.
EXTRAS = {"onnxruntime": "onnxruntime", "matplotlib": "eval", "psycopg": "postgres", "pymilvus": "milvus",
          "milvus_lite": "milvus", "dlib": "dlib", "face_recognition_models": "dlib", "fastapi": "serve",
          "uvicorn": "serve", "multipart": "serve", "pydantic": "serve", "httpx": "serve", "starlette": "serve",
          "av": "video", "paho": "video"}


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (what is wrong, and where help is)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


Command = Callable[[argparse.Namespace], int]


def add_command(sub, parents: list[argparse.ArgumentParser], name: str, help: str,
                func: Command | None) -> argparse.ArgumentParser:
    """A sub-command parser that accepts the logging/debug flags too, bound to `func`."""
    sp = sub.add_parser(name, help=help, parents=parents)
    if func is not None:
        sp.set_defaults(func=func)
    return sp


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


# -- option groups shared by several commands ---------------------------------------------------
def model_opts(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--detector", default="yunet", help="detector model (default: yunet)")
    sp.add_argument("--embedder", default=None,
                    help="embedder model name or path to an ArcFace-style .onnx (default: the model an existing "
                         "--gallery holds, else sface)")
    sp.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                    help="flip test-time augmentation (default: the model's, on for dlib, off for sface)")
    sp.add_argument("--threads", type=positive_int, default=None, help="inference threads (default: all cores)")
    sp.add_argument("--runtime", choices=RUNTIMES, default=None,
                    help="inference runtime (default: the fastest installed)")
    sp.add_argument("--precision", choices=("fp32", "int8"), default="fp32",
                    help="embedder weights: fp32, or the int8 file (faster without AVX512-BF16; same model id)")


def decision_opts(sp: argparse.ArgumentParser) -> None:
    rule = sp.add_mutually_exclusive_group()
    rule.add_argument("--fpir", type=rate, default=None,
                      help="target false-positive identification rate (default: the gallery's, 0.001)")
    rule.add_argument("--threshold", type=finite_float, default=None,
                      help="raw score threshold instead of an FPIR-based one")


def fpir_from_opts(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--fpir-from", choices=["table", "gallery"], default="table",
                    help="open-set threshold from the model's FMR table (default) or from the gallery's own "
                         "subjects' non-mated tail, never below the table's (said in every answer)")


def gallery_rule(g, args):
    """--fpir-from gallery: the open-set threshold from the gallery's own subjects (gallery.population);
    None for --fpir-from table."""
    if args.fpir_from != "gallery":
        return None
    from ..errors import UsageError
    from ..gallery.population import open_set_threshold
    if args.threshold is not None:
        raise UsageError("--fpir-from gallery sets the threshold from an FPIR; leave out --threshold")
    return open_set_threshold(g, args.fpir)


def gallery_opts(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--gallery", required=True, help="SQLite file or postgresql:// URL")
    sp.add_argument("--index", default="Flat",
                    help="FAISS factory string (default: Flat = exact; PQ32x4fs,RFlat for 1M+), "
                         "or milvus:FILE / milvus:http://host:19530")
    sp.add_argument("--search-params", default=None,
                    help='FAISS ParameterSpace settings, e.g. "efSearch=128", "nprobe=32", "k_factor_rf=32"')
    sp.add_argument("--encryption-key-file", default=os.environ.get("FACEPRINT_ENCRYPTION_KEY_FILE"),
                    help="key of an encrypted gallery (default: $FACEPRINT_ENCRYPTION_KEY_FILE)")


# -- the library, opened from the options -------------------------------------------------------
def engine(args, *, gallery: bool = False):
    """The Engine the model options ask for. With gallery=True and no --embedder, the model an existing
    --gallery holds (a sface+dlib gallery needs no --embedder on every command), else sface."""
    from ..engine import Engine
    options = dict(detector=args.detector, threshold=getattr(args, "threshold", None), threads=args.threads,
                   runtime=args.runtime, precision=args.precision)
    held = gallery_model(args) if gallery and args.embedder is None else None
    if held is not None and args.flip is None:
        return Engine.for_model(held, **options)
    embedder = args.embedder or (ModelId.parse(held).name if held else "sface")
    return Engine(embedder=embedder, flip=args.flip, **options)


def gallery_model(args) -> str | None:
    """The model id of the templates in --gallery (None when it does not exist yet or is empty)."""
    from ..gallery.crypto import load_key
    from ..gallery.opening import stored_model
    key = load_key(args.encryption_key_file) if args.encryption_key_file else None
    return stored_model(args.gallery, key=key)


def open_gallery(args, engine=None, *, create: bool = False, readonly: bool = False):
    """Open --gallery; reading commands open it read-only (no writes, never blocked by a writer)."""
    from ..gallery import Gallery
    from ..gallery.crypto import load_key
    key = load_key(args.encryption_key_file) if args.encryption_key_file else None
    g = Gallery.open(args.gallery, index=args.index, search_params=args.search_params, engine=engine,
                     create=create, readonly=readonly, encryption_key=key)
    if g.created:
        log.warning("created a new gallery at %s", args.gallery)
    return g


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


def print_json(obj) -> None:
    print(json.dumps(_clean(obj), indent=2, ensure_ascii=False, default=float))


def skip(skipped: list[dict], item: str, exc: Exception) -> None:
    skipped.append({"input": item, "reason": str(exc)})


def report_skipped(skipped: list[dict]) -> None:
    """Once a batch has done something: one warning per input it could not use, naming it
    unless the reason already does."""
    for s in skipped:
        log.warning("skipped %s", s["reason"] if s["input"] in s["reason"] else f"{s['input']}: {s['reason']}")


def face_line(i: int, f: dict) -> str:
    x, y, w, h = f["box"]
    return f"  #{i}  box x={x:.0f} y={y:.0f} w={w:.0f} h={h:.0f}  score={f['score']:.3f}"


# -- the exit-code / one-line-error contract ----------------------------------------------------
def setup_logging(args) -> None:
    level = "error" if getattr(args, "quiet", False) else getattr(args, "log_level", "warning")
    logging.basicConfig(level=level.upper(), format="faceprint: %(levelname)s: %(message)s", stream=sys.stderr,
                        force=True)


def error_line(exc: Exception) -> str:
    """The one line a failure prints: the library's own message, the OS's, or the missing extra."""
    if isinstance(exc, FaceprintError):
        msg = str(exc)
    elif isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in EXTRAS:
        top = exc.name.split(".")[0]
        msg = f"this needs the optional package {top}: pip install 'faceprint[{EXTRAS[top]}]'"
    elif isinstance(exc, OSError):
        msg = f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}"
    else:
        msg = f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback, and report it)"
    return f"faceprint: error: {' '.join(msg.split())}"


def run_command(args) -> int:
    """Run the parsed command under the contract: its exit code, or 2 and one line on stderr."""
    try:
        return int(args.func(args) or EXIT_OK)
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("faceprint: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:            # noqa: BLE001 -- the CLI's contract: one line, never a traceback
        if getattr(args, "debug", False):
            raise
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
