"""Cost of deleting one subject from a SQLite + FAISS Flat gallery, at 100,000 and 1,000,000 templates.

    .venv/bin/python bench/gallery_delete.py [--sizes 100000,1000000] [--deletes 15] [--before SRC]

A delete commits in SQLite (secure delete, WAL checkpoint) and removes the index file inside its
transaction; the index file is rewritten lazily (close, Gallery.persist). Measured per size: the
median Gallery.delete(), what the old delete did in addition (a full index rewrite + fsync, i.e.
Gallery.persist), the lazy rewrite at close, a rebuild of the index from the store (what the next
process to open pays when no file is there), and an open that finds a valid file. With --before SRC
(another version's src/, e.g. `git archive 2d5d1eb src | tar -x -C /tmp/before` -> /tmp/before/src,
the code that rewrote the index on every delete) the same deletes are timed on it in the same run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def timed_ms(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def build(gallery_cls, path: Path, n: int):
    rng = np.random.default_rng(n)
    g = gallery_cls.open(path, create=True)
    for start in range(0, n, 250_000):      # bounded memory; every batch >= 10k persists the index
        stop = min(n, start + 250_000)
        v = rng.standard_normal((stop - start, 128), dtype=np.float32)
        g.add_templates([f"s{i}" for i in range(start, stop)], v)
    return g


def measure(n: int, deletes: int, current: bool) -> dict:
    from faceprint.gallery import Gallery
    row: dict = {"templates": n}
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as tmp:
        path = Path(tmp) / "g.db"
        g = build(Gallery, path, n)
        victims = iter(np.random.default_rng(0).choice(n, size=3 * deletes, replace=False))
        row["delete_ms"] = [round(timed_ms(lambda: g.delete(f"s{next(victims)}")), 2) for _ in range(deletes)]
        row["delete_median_ms"] = round(float(np.median(row["delete_ms"])), 2)
        if current:
            # The old delete = this delete + a full rewrite and fsync of the index file.
            both = [timed_ms(lambda: g.delete(f"s{next(victims)}")) + timed_ms(g.persist) for _ in range(5)]
            row["delete_plus_index_rewrite_median_ms"] = round(float(np.median(both)), 2)
            g.delete(f"s{next(victims)}")
            row["close_with_lazy_index_write_ms"] = round(timed_ms(g.close), 1)
            row["index_file_mib"] = round(Path(str(path) + ".index").stat().st_size / 2**20, 1)
            row["open_with_valid_index_file_ms"] = round(timed_ms(lambda: Gallery.open(path, readonly=True).close()), 1)
            Path(str(path) + ".index").unlink()
            g = Gallery.open(path, readonly=True)
            row["rebuild_from_store_ms"] = round(timed_ms(g.rebuild), 1)
        g.close()
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--deletes", type=int, default=15)
    ap.add_argument("--before", metavar="SRC", help="also time the deletes on the code in SRC (a src/ folder)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.child:      # run by the parent with the baseline code first on sys.path
        print(json.dumps([measure(n, args.deletes, current=False) for n in sizes]))
        return
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "bench"))
    from common import save
    rows = []
    for n in sizes:
        rows.append({"code": "this commit", **measure(n, args.deletes, current=True)})
        print(rows[-1], flush=True)
    if args.before:
        out = subprocess.run([sys.executable, __file__, "--child", "--sizes", args.sizes, "--deletes", str(args.deletes)],
                             env={"PYTHONPATH": str(Path(args.before).resolve()), "PATH": "/usr/bin:/bin"},
                             capture_output=True, text=True, check=True).stdout
        for r in json.loads(out.strip().splitlines()[-1]):
            rows.append({"code": f"before ({args.before})", **r})
            print(rows[-1], flush=True)
    save("gallery_delete", {"doc": __doc__.strip().split("\n\n")[2], "results": rows})


if __name__ == "__main__":
    main()
