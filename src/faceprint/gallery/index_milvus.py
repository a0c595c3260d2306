"""Milvus search index, for galleries larger than one machine. The same code talks to milvus-lite
(a local file, in-process: used by the tests) and to a Milvus cluster ("http://host:19530").

Milvus persists its own data, so the index needs no file of ours; the store sequence number it has
applied is kept in the store's meta table. Replays are idempotent (upsert by template id, delete by
id), so recording the sequence after applying is safe across crashes.
"""
from __future__ import annotations

import os
import threading

import numpy as np

from ..errors import FaceprintError

# Open MilvusIndex objects per milvus-lite file in this process: the in-process server that holds
# the file's lock is stopped when the last one closes, so another process can open the gallery.
_lite_users: dict[str, int] = {}
_lite_lock = threading.Lock()


def _is_lite(uri: str) -> bool:
    return "://" not in uri


class MilvusIndex:
    factory = "milvus"
    # Milvus keeps (and persists) its own data: no file of ours, nothing to encrypt or discard.
    dirty = False
    header = None
    cipher = None
    encryptable = False

    def discard_file(self) -> None:
        """No file of ours to discard."""

    def __init__(self, uri: str, *, dim: int, store, collection: str | None = None):
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise FaceprintError("Milvus galleries need pymilvus (and milvus-lite for local files)") from None
        self.dim, self.store, self.uri = dim, store, uri
        self.collection = collection or "faceprint_templates"
        self._seq_key = f"milvus_seq:{uri}:{self.collection}"
        self._client = MilvusClient(uri)
        self._closed = False
        if _is_lite(uri):
            with _lite_lock:
                _lite_users[os.path.abspath(uri)] = _lite_users.get(os.path.abspath(uri), 0) + 1
        self._lock = threading.RLock()
        if not self._client.has_collection(self.collection):
            self._create()
        else:
            # An existing collection opens released (milvus-lite 3 / pymilvus 3 after a restart);
            # searching it would fail until it is loaded. Loading a loaded collection is a no-op.
            self._client.load_collection(self.collection)
        self._seq = int(store.meta().get(self._seq_key, 0))

    def check_capacity(self, n_total: int) -> None:
        """Milvus trains nothing up front: any count fits."""

    def _create(self) -> None:
        self._client.create_collection(self.collection, dimension=self.dim, metric_type="IP", primary_field_name="id",
                                       id_type="int", vector_field_name="vector", auto_id=False,
                                       consistency_level="Strong")

    def add(self, ids, vectors) -> None:
        vectors = np.asarray(vectors, np.float32)
        with self._lock:
            for i in range(0, len(ids), 10_000):
                self._client.upsert(self.collection, [{"id": int(t), "vector": v.tolist()}
                                                      for t, v in zip(ids[i:i + 10_000], vectors[i:i + 10_000])])

    def remove(self, ids) -> None:
        with self._lock:
            self._client.delete(self.collection, ids=[int(i) for i in ids])

    def search(self, vectors, k):
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        with self._lock:
            res = self._client.search(self.collection, data=vectors.tolist(), limit=int(k),
                                      search_params={"metric_type": "IP"}, output_fields=["id"])
        scores = np.full((len(vectors), k), -np.inf, np.float32)
        ids = np.full((len(vectors), k), -1, np.int64)
        for r, hits in enumerate(res):
            for j, h in enumerate(hits):
                scores[r, j], ids[r, j] = h["distance"], h["id"]
        return scores, ids

    def reset(self) -> None:
        with self._lock:
            self._client.drop_collection(self.collection)
            self._create()
            self._seq = 0

    def count(self) -> int:
        with self._lock:
            res = self._client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(res[0]["count(*)"])

    def applied_seq(self) -> int:
        return self._seq

    def set_applied_seq(self, seq: int) -> None:
        self._seq = seq
        if not self.store.readonly:     # a read-only gallery never writes its store
            self.store.set_meta({self._seq_key: str(seq)})

    def persist(self, position: dict | None = None) -> None:
        with self._lock:
            self._client.flush(self.collection)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._client.close()
        if not _is_lite(self.uri):
            return
        path = os.path.abspath(self.uri)
        with _lite_lock:
            _lite_users[path] -= 1
            last = _lite_users[path] == 0
            if last:
                del _lite_users[path]
        if last:
            from milvus_lite import server_manager_instance
            server_manager_instance.release_server(path)
