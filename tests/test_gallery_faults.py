"""The SQLite + FAISS gallery under faults: deletions killed at random moments, damaged and foreign
index files, readers behind a long writer, a deletion behind a reader's snapshot, bad paths and
bad search parameters. Real processes, real files; no mocks."""
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from faceprint.embed import l2_normalise
from faceprint.errors import GalleryError, GalleryNotFoundError, GalleryPurgePendingError, UsageError
from faceprint.gallery import Gallery

WORKER = str(Path(__file__).with_name("gallery_worker.py"))
sys.path.insert(0, str(Path(__file__).parent))
from gallery_worker import vector_for  # noqa: E402


def stored(i: int) -> bytes:
    """The bytes the store and the index hold for subject n<i>'s template."""
    return l2_normalise(vector_for(i)[None])[0].tobytes()


def make_gallery(path, ids):
    g = Gallery.open(path, create=True)
    g.add_templates([f"n{i}" for i in ids], np.vstack([vector_for(i) for i in ids]))
    g.persist()
    g.close()


def files_holding(directory: Path, needles: dict[int, bytes], skip=()) -> dict[str, list[int]]:
    found = {}
    for f in sorted(directory.iterdir()):
        if f.is_file() and f.name not in skip:
            blob = f.read_bytes()
            hits = [i for i, n in needles.items() if n in blob]
            if hits:
                found[f.name] = hits
    return found


def remaining_names(path) -> set[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as c:
        return {r[0] for r in c.execute("SELECT name FROM subjects")}


def test_deletes_killed_at_random_moments_leave_no_deleted_bytes(tmp_path):
    path = tmp_path / "g.db"
    everyone = range(4000)
    make_gallery(path, everyone)
    rng = random.Random(7)
    deleted: set[int] = set()
    start, in_flight = 0, 0
    for trial in range(6):
        proc = subprocess.Popen([sys.executable, WORKER, "delete", str(path), str(start), "400"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        lines = []
        if trial % 2:       # half the kills land while the index file is being written
            for _ in range(2 + trial):
                lines.append(proc.stdout.readline())
                while "saving" not in lines[-1]:
                    assert lines[-1], f"the deleter ended: {proc.stderr.read()[-2000:]}"
                    lines.append(proc.stdout.readline())
            time.sleep(rng.uniform(0, 0.02))
        else:
            time.sleep(rng.uniform(0.05, 0.5))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        out = "".join(lines) + out
        assert proc.returncode == -signal.SIGKILL, f"the deleter ended before it could be killed: {err[-2000:]}"
        reported = {int(ln.split()[1]) for ln in out.splitlines() if ln.startswith("deleted")}
        names = remaining_names(path)
        fresh = {i for i in everyone if f"n{i}" not in names} - deleted
        # Every reported deletion happened; at most the one in flight at the kill happened too.
        assert reported <= fresh <= reported | {max(reported | {start - 1}) + 1}
        in_flight += len(fresh - reported)
        deleted |= fresh
        needles = {i: stored(i) for i in deleted}
        # Right after the kill: no index file or leftover holds a deleted template. (The database
        # and its WAL may until the next open purges them: SQLite cannot commit and purge atomically.)
        assert files_holding(tmp_path, needles, skip={"g.db", "g.db-wal", "g.db-shm"}) == {}, trial
        g = Gallery.open(path)
        for i in rng.sample(sorted(set(everyone) - deleted), 5):
            assert g.search(vector_for(i), k=1)[0].subject.name == f"n{i}"
        for i in rng.sample(sorted(deleted), min(5, len(deleted))):
            assert all(m.subject.name != f"n{i}" for m in g.search(vector_for(i), k=3))
        assert g.stats()["indexed"] == g.stats()["templates"] == len(everyone) - len(deleted)
        g.close()
        assert files_holding(tmp_path, needles) == {}, trial
        start = max(deleted) + 1
    # The check can fail: a template still enrolled is found in the database and the index file.
    keep = {start + 10: stored(start + 10)}
    assert set(files_holding(tmp_path, keep)) == {"g.db", "g.db.index"}
    assert len(deleted) >= 5
    print(f"6 kills (3 while saving the index), {len(deleted)} subjects deleted ({in_flight} by the deletion "
          "in flight at a kill): none of their bytes in any file")


@pytest.mark.parametrize("damage", ["foreign", "truncated", "zeroed", "garbage", "header only", "empty"])
def test_damaged_or_foreign_index_file_is_rebuilt_from_the_store(tmp_path, damage):
    path, other = tmp_path / "g.db", tmp_path / "other.db"
    make_gallery(path, range(200))
    make_gallery(other, range(1000, 1200))      # same count, other people
    index = Path(str(path) + ".index")
    raw = index.read_bytes()
    if damage == "foreign":
        shutil.copy(str(other) + ".index", index)
    elif damage == "truncated":
        index.write_bytes(raw[: len(raw) // 2])
    elif damage == "zeroed":
        index.write_bytes(bytes(len(raw)))
    elif damage == "garbage":
        index.write_bytes(np.random.default_rng(0).bytes(len(raw)))
    elif damage == "header only":
        index.write_bytes(raw[: raw.index(b"\n", 8) + 1])
    else:
        index.write_bytes(b"")
    g = Gallery.open(path)
    picks = random.Random(1).sample(range(200), 10)
    right = sum(g.search(vector_for(i), k=1)[0].subject.name == f"n{i}" for i in picks)
    assert right == 10
    assert g.stats()["indexed"] == 200
    g.close()
    g = Gallery.open(path, readonly=True)      # the rewritten file is this gallery's and is used as is
    assert g.index.header is not None and g.index.header["count"] == 200
    g.close()


def test_readers_work_while_a_writer_holds_a_long_transaction(tmp_path, engine, fr):
    path = tmp_path / "g.db"
    g = Gallery.open(path, create=True)
    obama = engine.template(fr / "examples/knn_examples/train/obama/obama.jpg")
    g.enroll("obama", [obama])
    g.add_templates([f"n{i}" for i in range(50)], np.vstack([vector_for(i) for i in range(50)]))
    g.close()
    hold = ("import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN IMMEDIATE'); c.execute(\"INSERT INTO meta VALUES ('held', 'by a long writer')\"); "
            "print('holding', flush=True); time.sleep(60)")
    writer = subprocess.Popen([sys.executable, "-c", hold, str(path)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "holding"
    before = path.read_bytes(), Path(str(path) + ".index").read_bytes()
    try:
        t0 = time.perf_counter()
        with Gallery.open(path, readonly=True) as r:
            assert len(r.subjects()) == 51 and r.stats()["templates"] == 51
            res = r.identify(obama)
            assert res[0].decision is not None and res[0].decision.subject.name == "obama"
            with pytest.raises(GalleryError, match="read-only"):
                r.delete("obama")
        assert time.perf_counter() - t0 < 5
    finally:
        writer.kill()
        writer.wait()
    # A read-only session changed nothing, not even the index file.
    assert (path.read_bytes(), Path(str(path) + ".index").read_bytes()) == before


def test_postgres_readers_work_while_a_writer_holds_the_write_lock(postgres_url):
    import psycopg

    from faceprint.gallery.store_postgres import WRITE_LOCK
    g = Gallery.open(postgres_url, create=True)
    g.add_templates([f"n{i}" for i in range(20)], np.vstack([vector_for(i) for i in range(20)]))
    g.close()
    with psycopg.connect(postgres_url) as writer:       # a transaction, held open until the block ends
        writer.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        writer.execute("INSERT INTO meta(key, value) VALUES ('held', 'by a long writer')")
        t0 = time.perf_counter()
        with Gallery.open(postgres_url, readonly=True) as r:
            assert len(r.subjects()) == 20 and r.search(vector_for(4), k=1)[0].subject.name == "n4"
            with pytest.raises(GalleryError, match="read-only"):
                r.delete("n4")
        assert time.perf_counter() - t0 < 5
        writer.rollback()


def test_delete_behind_a_readers_snapshot_says_bytes_are_not_yet_purged(tmp_path):
    path = tmp_path / "g.db"
    make_gallery(path, range(100))
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM templates").fetchone()[0] == 100   # holds a snapshot
    g = Gallery.open(path)
    t0 = time.perf_counter()
    with pytest.raises(GalleryPurgePendingError, match="purged at this gallery's next write or close"):
        g.delete("n7")
    assert time.perf_counter() - t0 < 10                   # not the 60 s busy timeout
    assert g.subject("n7") is None                          # the deletion itself committed...
    assert all(m.subject.name != "n7" for m in g.search(vector_for(7), k=3))
    assert files_holding(tmp_path, {7: stored(7)}) != {}    # ...and the error told the truth
    reader.execute("ROLLBACK")
    reader.close()
    g.close()                                               # the pending purge happens here
    assert files_holding(tmp_path, {7: stored(7)}) == {}
    assert "g.db" in files_holding(tmp_path, {8: stored(8)})


def test_search_params_use_faiss_names_and_bad_ones_are_usage_errors(tmp_path):
    vecs = np.vstack([vector_for(i) for i in range(300)])
    g = Gallery.open(tmp_path / "h.db", index="HNSW32", search_params="efSearch=64", create=True)
    g.add_templates([f"n{i}" for i in range(300)], vecs)
    assert g.search(vecs[5], k=1)[0].subject.name == "n5"
    g.close()
    for index, params in [("HNSW32", "nprobe"), ("HNSW32", "efSearch=x"), ("HNSW32", "bogus=3"),
                          ("HNSW32", "nprobe=8"), ("Flat", "efSearch=16"), ("IVF16,Flat", "nprobe=nan"),
                          ("PQ32x4fs,RFlat", "k_factor=8")]:
        with pytest.raises(UsageError) as info:
            Gallery.open(tmp_path / "h.db", index=index, search_params=params)
        assert "\n" not in str(info.value)
    Gallery.open(tmp_path / "p.db", index="PQ32x4fs,RFlat", search_params="k_factor_rf=8", create=True).close()


def test_paths_that_are_not_galleries_raise_gallery_errors(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("this is not a database\n" * 100)
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    other_sqlite = tmp_path / "other.db"
    sqlite3.connect(other_sqlite).execute("CREATE TABLE t (x)").connection.commit()
    cases = [(text, {}), (text, {"create": True}), (text, {"readonly": True}), (empty, {}),
             (tmp_path, {}), (tmp_path, {"create": True}), (other_sqlite, {"create": True}),
             (tmp_path / "no" / "such" / "dir" / "g.db", {"create": True})]
    for location, kw in cases:
        with pytest.raises(GalleryError) as info:
            Gallery.open(location, **kw)
        assert "\n" not in str(info.value), (location, kw)
    with pytest.raises(GalleryNotFoundError):
        Gallery.open(tmp_path / "missing.db", readonly=True)
    assert text.read_text().startswith("this is not") and empty.stat().st_size == 0
    # A real gallery whose pages were overwritten: errors are typed, never sqlite3's.
    path = tmp_path / "g.db"
    make_gallery(path, range(2000))
    raw = bytearray(path.read_bytes())
    raw[4096:len(raw) - 4096] = np.random.default_rng(1).bytes(len(raw) - 8192)
    path.write_bytes(bytes(raw))
    Path(str(path) + ".index").unlink()
    with pytest.raises(GalleryError):
        with Gallery.open(path) as g:
            g.subjects()
            g.search(vector_for(3), k=1)
