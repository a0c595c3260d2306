"""Crash safety and concurrency of the default SQLite + FAISS gallery, with real processes."""
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from faceprint.gallery import Gallery

WORKER = str(Path(__file__).with_name("gallery_worker.py"))
sys.path.insert(0, str(Path(__file__).parent))
from gallery_worker import vector_for  # noqa: E402


def spawn(*args):
    return subprocess.Popen([sys.executable, WORKER, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def check_consistent(path, committed):
    g = Gallery.open(path, create=True)
    try:
        stats = g.stats()
        assert stats["indexed"] == stats["templates"], stats
        for first, last in committed:
            for i in {first, last, random.randint(first, last)}:
                hit = g.search(vector_for(i), k=1)
                assert hit and hit[0].subject.name == f"n{i}" and hit[0].score > 0.999, (i, hit[:1])
        return stats
    finally:
        g.close()


def test_sigkill_during_bulk_enrolment_loses_nothing_committed(tmp_path):
    path = tmp_path / "crash.db"
    rng = random.Random(1234)
    committed, start = [], 0
    for trial in range(5):
        proc = spawn("write", path, start, 400, 50)
        time.sleep(rng.uniform(0.4, 1.6))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        lines = [ln.split() for ln in out.splitlines() if ln.startswith("committed")]
        committed += [(int(a), int(b)) for _, a, b in lines]
        assert proc.returncode == -signal.SIGKILL, "writer finished before it could be killed"
        stats = check_consistent(path, committed)
        # Every reported commit is there; per kill, at most the one batch in flight went in too.
        reported = sum(b - a + 1 for a, b in committed)
        assert reported <= stats["templates"] <= reported + 50 * (trial + 1)
        start = 1_000_000 * (trial + 1)
    assert len(committed) > 5
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_readers_search_while_a_writer_enrols(tmp_path):
    path = tmp_path / "busy.db"
    g = Gallery.open(path, create=True)
    g.add_templates(["n0"], vector_for(0)[None])
    g.close()
    writer = spawn("write", path, 1, 60, 20)
    readers = [spawn("read", path, 4.0) for _ in range(2)]
    outs = [r.communicate(timeout=120) for r in readers]
    w_out, w_err = writer.communicate(timeout=120)
    assert writer.returncode == 0, w_err
    for r, (out, err) in zip(readers, outs):
        assert r.returncode == 0, out + err
        assert int(out.split()[-1]) > 20
    stats = check_consistent(path, [(0, 0), (1, 1200)])
    assert stats["templates"] == 1201
