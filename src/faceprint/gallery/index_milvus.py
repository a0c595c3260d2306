"""Milvus search index, for galleries larger than one machine. The same code talks to milvus-lite
(a local file, in-process: used by the tests) and to a Milvus server ("http://host:19530").

Milvus persists its own data, so the index needs no file of ours; the store sequence number it has
applied is kept in the store's meta table. Replays are idempotent (upsert by template id, delete by
id), so recording the sequence after applying is safe across crashes. Each gallery gets its own
collection (named from the store's gallery id), so several galleries can share one server.
"""
from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

from ..errors import FaceprintError, GalleryError

# Open MilvusIndex objects per milvus-lite file in this process: the in-process server that holds
# the file's lock is stopped when the last one closes, so another process can open the gallery.
_lite_users: dict[str, int] = {}
_lite_lock = threading.Lock()

LEGACY_COLLECTION = "faceprint_templates"   # galleries made before per-gallery names
UPSERT_BYTES = 32 << 20                     # per upsert message: under the server's 64 MB gRPC limit
HNSW_EF = 128                               # search breadth when the server built its AUTOINDEX (HNSW)
# gRPC shares a subchannel per address and backs off reconnects up to 120 s: after a server restart a
# gallery (or a newly opened one) would wait that long. Own subchannel, reconnect within 2 s.
GRPC_OPTIONS = {"grpc.use_local_subchannel_pool": 1, "grpc.initial_reconnect_backoff_ms": 500,
                "grpc.min_reconnect_backoff_ms": 500, "grpc.max_reconnect_backoff_ms": 2000}


def _is_lite(uri: str) -> bool:
    return "://" not in uri


def collection_name(store, uri: str) -> str:
    """The gallery's collection: recorded in its meta, else the legacy shared name when the store
    has already synced to it, else one named from the gallery id (recorded when writable)."""
    meta = store.meta()
    if meta.get("milvus_collection"):
        return meta["milvus_collection"]
    if f"milvus_seq:{uri}:{LEGACY_COLLECTION}" in meta or not meta.get("gallery_id"):
        return LEGACY_COLLECTION
    name = f"faceprint_{meta['gallery_id']}"
    if not store.readonly:
        store.set_meta({"milvus_collection": name})
    return name


class MilvusIndex:
    factory = "milvus"
    # Milvus keeps (and persists) its own data: no file of ours, nothing to encrypt or discard.
    dirty = False
    header = None
    cipher = None
    encryptable = False
    timeout = 60.0          # seconds any one call may take, retries included, before GalleryError
    connect_timeout = 10.0  # seconds to reach the server when the index opens

    def discard_file(self) -> None:
        """No file of ours to discard."""

    def __init__(self, uri: str, *, dim: int, store, collection: str | None = None):
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise FaceprintError("Milvus galleries need pymilvus (and milvus-lite for local files)") from None
        self.dim, self.store, self.uri = dim, store, uri
        self.collection = collection or collection_name(store, uri)
        self._seq_key = f"milvus_seq:{uri}:{self.collection}"
        self._closed = True
        self._lock = threading.RLock()
        with self._calls("connect"):
            # dedicated: close() really closes it, and no other gallery shares a broken channel
            server = {} if _is_lite(uri) else {"dedicated": True, "grpc_options": GRPC_OPTIONS}
            self._client = MilvusClient(uri, timeout=self.connect_timeout, **server)
        self._closed = False
        if _is_lite(uri):
            with _lite_lock:
                _lite_users[os.path.abspath(uri)] = _lite_users.get(os.path.abspath(uri), 0) + 1
        with self._calls("open collection"):
            if not self._client.has_collection(self.collection, timeout=self.timeout):
                self._create()
            else:
                # An existing collection may be released (after a server or milvus-lite restart):
                # searching it fails until it is loaded. Loading a loaded collection is a no-op.
                self._client.load_collection(self.collection, timeout=self.timeout)
        self._seq = int(store.meta().get(self._seq_key, 0))

    @contextlib.contextmanager
    def _calls(self, what: str):
        """Turn pymilvus/gRPC failures into a GalleryError naming the server and the step."""
        from pymilvus.exceptions import MilvusException
        try:
            yield
        except Exception as e:
            if not isinstance(e, MilvusException) and not type(e).__module__.startswith(("grpc", "pymilvus")):
                raise
            detail = e.message if isinstance(e, MilvusException) else e
            raise GalleryError(f"Milvus at {self.uri} (collection {self.collection}): {what} failed: "
                               f"{detail}; check the server is running and reachable") from None

    def _loaded(self, call):
        """call(), once more after loading the collection if the server holds it released (as a
        restarted server does until someone loads it)."""
        try:
            return call()
        except Exception as e:
            if "not loaded" not in str(e):
                raise
        self._client.load_collection(self.collection, timeout=self.timeout)
        return call()

    def check_capacity(self, n_total: int) -> None:
        """Milvus trains nothing up front: any count fits."""

    def _create(self) -> None:
        # Strong consistency: a search right after an enrolment or deletion sees it.
        self._client.create_collection(self.collection, dimension=self.dim, metric_type="IP", primary_field_name="id",
                                       id_type="int", vector_field_name="vector", auto_id=False,
                                       consistency_level="Strong", timeout=self.timeout)

    def add(self, ids, vectors) -> None:
        vectors = np.asarray(vectors, np.float32)
        batch = max(1, UPSERT_BYTES // (4 * self.dim + 8))
        with self._lock, self._calls(f"upsert of {len(ids)} templates"):
            for i in range(0, len(ids), batch):
                self._client.upsert(self.collection, [{"id": int(t), "vector": v} for t, v in
                                                      zip(ids[i:i + batch], vectors[i:i + batch])],
                                    timeout=self.timeout)

    def remove(self, ids) -> None:
        with self._lock, self._calls(f"delete of {len(ids)} templates"):
            self._client.delete(self.collection, ids=[int(i) for i in ids], timeout=self.timeout)

    def search(self, vectors, k):
        """Session consistency: sees every write this process made (the gallery replays the store's
        changes itself) without waiting, as Strong does, for the server's next time tick (~200 ms)."""
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        params = {"metric_type": "IP", "params": {"ef": max(HNSW_EF, int(k))}}
        with self._lock, self._calls("search"):
            res = self._loaded(lambda: self._client.search(self.collection, data=list(vectors), limit=int(k),
                                                           search_params=params, output_fields=["id"],
                                                           consistency_level="Session", timeout=self.timeout))
        scores = np.full((len(vectors), k), -np.inf, np.float32)
        ids = np.full((len(vectors), k), -1, np.int64)
        for r, hits in enumerate(res):
            for j, h in enumerate(hits):
                scores[r, j], ids[r, j] = h["distance"], h["id"]
        return scores, ids

    def reset(self) -> None:
        with self._lock, self._calls("reset"):
            self._client.drop_collection(self.collection, timeout=self.timeout)
            self._create()
            self._seq = 0

    def count(self) -> int:
        with self._lock, self._calls("count"):
            # Strong (the collection's level): with Session, count(*) missed a delete just made.
            res = self._loaded(lambda: self._client.query(self.collection, filter="", output_fields=["count(*)"],
                                                          timeout=self.timeout))
        return int(res[0]["count(*)"])

    def applied_seq(self) -> int:
        return self._seq

    def set_applied_seq(self, seq: int) -> None:
        self._seq = seq
        if not self.store.readonly:     # a read-only gallery never writes its store
            self.store.set_meta({self._seq_key: str(seq)})

    def persist(self, position: dict | None = None) -> None:
        """Nothing to do: the server's log already keeps every acknowledged write, and it seals
        segments itself. (A flush per bulk batch cost ~3 s and made small segments to compact.)"""

    def flush(self) -> None:
        """Seal what was written into segments on disk now (e.g. before copying the server's data)."""
        with self._lock, self._calls("flush"):
            self._client.flush(self.collection, timeout=self.timeout)

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
