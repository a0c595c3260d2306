"""The Milvus index against a real standalone Milvus server (conftest's milvus_server), over a SQLite
and a PostgreSQL store: same answers as FAISS Flat, deletion, reopening, separate collections per
gallery, a server that is down, and a server restarted under an open gallery."""
import socket

import numpy as np
import pytest

from faceprint.errors import GalleryError
from faceprint.gallery import Gallery
from faceprint.gallery.index_milvus import MilvusIndex

SUBJECTS = [f"s{i}" for i in range(1, 21)]


@pytest.fixture(scope="module")
def att_templates(engine, att):
    """Real templates: photos 1-4 of 20 AT&T subjects enrolled, photo 5 of each as the probe."""
    names, vecs, probes = [], [], []
    for s in SUBJECTS:
        for p in range(1, 5):
            names.append(s)
            vecs.append(engine.template(att / s / f"{p}.pgm").vector)
        probes.append(engine.template(att / s / "5.pgm").vector)
    return names, np.vstack(vecs), np.vstack(probes)


def top1(g, probes):
    return [hits[0].subject.name for hits in g.search_batch(probes, k=3)]


@pytest.fixture(params=["sqlite", "postgres"])
def location(request, tmp_path):
    return request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "g.db")


def test_enrol_search_delete_reopen_like_faiss_flat(location, milvus_server, att_templates, tmp_path, engine):
    names, vecs, probes = att_templates
    with Gallery.open(tmp_path / "flat.db", index="Flat", create=True, engine=engine) as flat:
        flat.add_templates(names, vecs)
        expected = top1(flat, probes)
    index = f"milvus:{milvus_server}"
    with Gallery.open(location, index=index, create=True, engine=engine) as g:
        g.add_templates(names, vecs)
        assert g.index.count() == len(vecs)
        assert top1(g, probes) == expected
        assert g.delete("s3")
        assert "s3" not in {m.subject.name for m in g.search(probes[2], k=5)}
        assert g.index.count() == len(vecs) - 4
        closed_at, collection = g.index.applied_seq(), g.index.collection
    created = described(milvus_server, collection)["created_timestamp"]
    # Another writer (a FAISS-indexed opening of the same store) adds a subject while no Milvus index is open.
    with Gallery.open(location, index="Flat", index_path=tmp_path / "other.index", engine=engine) as other:
        other.add_templates(["s3"], probes[2:3])
        assert other.store.meta()[f"milvus_seq:{milvus_server}:{collection}"] == str(closed_at)
        assert other.store.last_seq() == closed_at + 1
    with Gallery.open(location, index=index, engine=engine) as g:
        assert g.search(probes[2], k=1)[0].subject.name == "s3"
        assert g.index.applied_seq() == closed_at + 1 and g.index.count() == len(vecs) - 3
    # Sync replayed the one missing change into the same collection: no rebuild (which recreates it).
    assert described(milvus_server, collection)["created_timestamp"] == created


def described(uri, collection):
    from pymilvus import MilvusClient
    client = MilvusClient(uri, dedicated=True)
    try:
        return client.describe_collection(collection)
    finally:
        client.close()


def test_two_galleries_on_one_server_do_not_see_each_other(milvus_server, att_templates, tmp_path, engine):
    names, vecs, probes = att_templates
    index = f"milvus:{milvus_server}"
    half = len(names) // 2
    with Gallery.open(tmp_path / "a.db", index=index, create=True, engine=engine) as a, \
            Gallery.open(tmp_path / "b.db", index=index, create=True, engine=engine) as b:
        a.add_templates(names[:half], vecs[:half])
        b.add_templates(names[half:], vecs[half:])
        assert a.index.collection != b.index.collection
        assert a.index.count() == half and b.index.count() == len(names) - half
        assert {m.subject.name for hits in a.search_batch(probes, k=3) for m in hits} <= set(names[:half])
        assert {m.subject.name for hits in b.search_batch(probes, k=3) for m in hits} <= set(names[half:])


def test_server_down_is_a_gallery_error_naming_the_uri(tmp_path, monkeypatch):
    pytest.importorskip("pymilvus")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(MilvusIndex, "connect_timeout", 2.0)
    uri = f"http://127.0.0.1:{port}"
    with pytest.raises(GalleryError, match=uri.replace(".", r"\.")):
        Gallery.open(tmp_path / "g.db", index=f"milvus:{uri}", create=True)


def test_restarted_server_keeps_the_data_of_an_open_gallery(milvus_process, att_templates, tmp_path, engine):
    """Runs last in this module: it stops and restarts the session's server on the same data dir."""
    names, vecs, probes = att_templates
    with Gallery.open(tmp_path / "g.db", index=f"milvus:{milvus_process.uri}", create=True, engine=engine) as g:
        g.add_templates(names[:40], vecs[:40])
        g.index.flush()                               # sealed into segments on disk
        g.add_templates(names[40:], vecs[40:])        # only in the server's log
        before = top1(g, probes)
        milvus_process.stop()
        g.index.timeout = 1.0
        with pytest.raises(GalleryError, match="check the server is running"):
            g.index.search(probes, 1)
        milvus_process.start()
        g.index.timeout = 60.0
        assert top1(g, probes) == before
        assert g.index.count() == len(vecs)
