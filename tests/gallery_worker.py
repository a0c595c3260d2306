"""Child processes for the durability and concurrency tests (run as scripts, killed or raced).

Subject "n<i>" always has the deterministic unit vector vector_for(i), so any process can check
that what it finds is right without sharing state with the writer.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from faceprint.gallery import Gallery


def vector_for(i: int, dim: int = 128) -> np.ndarray:
    v = np.random.default_rng(i).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def write(path: str, start: int, batches: int, batch: int) -> None:
    """Bulk-enrol batches of subjects, printing each batch once it is committed."""
    g = Gallery.open(path, create=True)
    i = start
    for b in range(batches):
        ids = list(range(i, i + batch))
        g.add_templates([f"n{j}" for j in ids], np.vstack([vector_for(j) for j in ids]))
        print(f"committed {ids[0]} {ids[-1]}", flush=True)
        if b % 3 == 2:
            g.persist()             # so that kills also land in the middle of writing the index file
        i += batch
    g.close()


def delete(path: str, first: int, count: int) -> None:
    """Delete subjects n<first>.. one by one, saving the index after every other one (so that kills
    land in deletions and in index writes alike), printing each deletion once it is committed."""
    g = Gallery.open(path)
    print("ready", flush=True)
    for i in range(first, first + count):
        g.delete(f"n{i}")
        print(f"deleted {i}", flush=True)
        if i % 2:
            print("saving the index", flush=True)
            g.persist()
    g.close()


def read(path: str, seconds: float) -> None:
    """Search for committed subjects until time runs out; exit 1 on any wrong answer."""
    g = Gallery.open(path, readonly=True)
    deadline, searches, rng = time.time() + seconds, 0, np.random.default_rng()
    while time.time() < deadline:
        names = [s.name for s in g.subjects()]
        if not names:
            continue
        for name in rng.choice(names, size=min(5, len(names)), replace=False):
            i = int(name[1:])
            hit = g.search(vector_for(i), k=1)
            if not hit or hit[0].subject.name != name or hit[0].score < 0.999:
                print(f"wrong answer for {name}: {hit[:1]}", flush=True)
                sys.exit(1)
            searches += 1
    print(f"searches {searches}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1] == "delete":
        delete(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        read(sys.argv[2], float(sys.argv[3]))
