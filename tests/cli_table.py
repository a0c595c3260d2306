"""Runs many `faceprint` command lines in one process (one model load, one memory peak) and
prints, as JSON, each one's exit code, stderr, and time; then the process's peak memory.
Usage: python tests/cli_table.py CASES.json"""
import contextlib
import io
import json
import resource
import sys
import time

from faceprint.cli import main

results = []
for argv in json.loads(open(sys.argv[1], encoding="utf-8", errors="surrogateescape").read()):
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:          # argparse's own exits (usage errors, --help)
            code = exc.code
        except BaseException as exc:       # noqa: BLE001 -- anything escaping main() is a failure
            code = f"escaped {type(exc).__name__}: {exc}"
    results.append({"argv": argv, "code": code, "stderr": err.getvalue(), "stdout": out.getvalue(),
                    "seconds": time.perf_counter() - t0})
print(json.dumps({"results": results, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
