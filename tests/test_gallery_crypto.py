"""Templates encrypted at rest: no raw template bytes in any file (SQLite, its WAL, the index file)
or in PostgreSQL's stored rows; a missing or wrong key is a typed error that changes nothing;
rekey rotates the key (and encrypts a gallery stored in clear), in the library and the CLI."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faceprint.embed import l2_normalise
from faceprint.errors import GalleryKeyError
from faceprint.gallery import Gallery
from faceprint.gallery.crypto import load_key

N = 300


def vectors(seed=0):
    return l2_normalise(np.random.default_rng(seed).normal(size=(N, 128)).astype(np.float32))


def needles(vecs) -> list[bytes]:
    return [v.tobytes()[:32] for v in vecs]        # 8 floats: no accidental match in 1e-60


def raw_hits(directory: Path, vecs) -> dict[str, int]:
    out = {}
    for f in directory.iterdir():
        if f.is_file():
            blob = f.read_bytes()
            n = sum(x in blob for x in needles(vecs))
            if n:
                out[f.name] = n
    return out


def fill(location, vecs, key, **kw):
    g = Gallery.open(location, create=True, encryption_key=key, **kw)
    g.add_templates([f"p{i}" for i in range(N)], vecs)
    g.delete("p3")
    g.persist()
    return g


def snapshot(directory: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in directory.iterdir() if f.is_file()}


def test_encrypted_sqlite_gallery_has_no_raw_template_bytes_in_any_file(tmp_path):
    vecs, key = vectors(), os.urandom(32)
    enc, plain = tmp_path / "enc", tmp_path / "plain"
    enc.mkdir(), plain.mkdir()
    g = fill(enc / "g.db", vecs, key)
    assert g.search(vecs[5], k=1)[0].subject.name == "p5"
    wal = enc / "g.db-wal"
    assert wal.exists() and raw_hits(enc, vecs) == {}      # while open: database, WAL, index
    g.close()
    assert raw_hits(enc, vecs) == {}
    # The same gallery in clear holds them in the database and the index file: the scan can fail.
    fill(plain / "g.db", vecs, None).close()
    assert set(raw_hits(plain, vecs)) == {"g.db", "g.db.index"}
    with Gallery.open(enc / "g.db", encryption_key=key, readonly=True) as g:
        assert g.index.header is not None and g.index.header["encrypted"]     # its index file was used
        assert all(g.search(vecs[i], k=1)[0].subject.name == f"p{i}" for i in (0, 7, 299))


def test_missing_or_wrong_key_is_a_typed_error_and_changes_nothing(tmp_path):
    vecs, key = vectors(1), os.urandom(32)
    fill(tmp_path / "g.db", vecs, key).close()
    fill(tmp_path / "clear.db", vecs, None).close()
    before = snapshot(tmp_path)
    for kw in ({}, {"encryption_key": os.urandom(32)}, {"encryption_key": os.urandom(32), "readonly": True}):
        with pytest.raises(GalleryKeyError) as info:
            Gallery.open(tmp_path / "g.db", **kw)
        assert "\n" not in str(info.value)
    with pytest.raises(GalleryKeyError, match="not encrypted.*rekey"):
        Gallery.open(tmp_path / "clear.db", encryption_key=key)
    with pytest.raises(GalleryKeyError, match="32 bytes"):
        Gallery.open(tmp_path / "g.db", encryption_key=b"short")
    assert snapshot(tmp_path) == before


def test_rekey_rotates_and_encrypts_a_clear_gallery(tmp_path):
    vecs, a, b = vectors(2), os.urandom(32), os.urandom(32)
    path = tmp_path / "g.db"
    fill(path, vecs, None).close()
    assert raw_hits(tmp_path, vecs)
    with Gallery.open(path) as g:
        g.rekey(a)                                   # clear -> encrypted
    assert raw_hits(tmp_path, vecs) == {}
    stale = Gallery.open(path, encryption_key=a)    # another process, opened before the rotation
    with Gallery.open(path, encryption_key=a) as g:
        g.rekey(b)                                   # a -> b
    with pytest.raises(GalleryKeyError, match="re-keyed"):
        stale.add_templates(["late"], vecs[:1])      # never writes a row under the old key
    stale.store.close()
    with pytest.raises(GalleryKeyError):
        Gallery.open(path, encryption_key=a)
    with Gallery.open(path, encryption_key=b, readonly=True) as g:
        assert g.index.header is not None            # the index file was rewritten under b
        assert g.stats()["templates"] == N - 1
        assert all(g.search(vecs[i], k=1)[0].subject.name == f"p{i}" for i in (0, 100, 299))
    assert raw_hits(tmp_path, vecs) == {}


def test_load_key_and_cli_rekey(tmp_path):
    raw, hexkey, bad = tmp_path / "raw.key", tmp_path / "hex.key", tmp_path / "bad.key"
    raw.write_bytes(os.urandom(32))
    hexkey.write_text(os.urandom(32).hex() + "\n")
    bad.write_text("not a key")
    assert len(load_key(raw)) == 32 and len(load_key(hexkey)) == 32
    for p in (bad, tmp_path / "missing.key"):
        with pytest.raises(GalleryKeyError):
            load_key(p)
    vecs = vectors(3)
    path = tmp_path / "g.db"
    fill(path, vecs, load_key(raw)).close()

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "faceprint.cli", "gallery", *map(str, args)],
                              capture_output=True, text=True, timeout=120)
    r = cli("rekey", "--gallery", path, "--encryption-key-file", raw, "--new-key-file", hexkey)
    assert r.returncode == 0, r.stderr
    r = cli("stats", "--gallery", path, "--encryption-key-file", raw)       # the old key no longer opens it
    assert r.returncode != 0 and "wrong encryption key" in r.stderr and "Traceback" not in r.stderr
    r = cli("stats", "--gallery", path, "--encryption-key-file", hexkey)
    assert r.returncode == 0 and '"templates": 299' in r.stdout, r.stderr


def test_encrypted_postgres_rows_hold_no_raw_template_bytes(postgres_url):
    import psycopg
    vecs, key = vectors(4), os.urandom(32)
    g = fill(postgres_url, vecs, key)
    g.close()
    with psycopg.connect(postgres_url) as c:
        blobs = [bytes(r[0]) for r in c.execute("SELECT vector FROM templates")]
    assert len(blobs) == N - 1 and all(len(b) == 12 + 512 + 16 for b in blobs)   # nonce + ciphertext + tag
    joined = b"".join(blobs)
    assert not any(x in joined for x in needles(vecs))
    with pytest.raises(GalleryKeyError):
        Gallery.open(postgres_url, encryption_key=os.urandom(32))
    new = os.urandom(32)
    with Gallery.open(postgres_url, encryption_key=key) as g:
        assert g.search(vecs[9], k=1)[0].subject.name == "p9"
        g.rekey(new)
    with pytest.raises(GalleryKeyError):
        Gallery.open(postgres_url, encryption_key=key)
    with Gallery.open(postgres_url, encryption_key=new, readonly=True) as g:
        assert g.search(vecs[9], k=1)[0].subject.name == "p9" and g.stats()["templates"] == N - 1
