"""FAISS search index (embedded default): exact inner product ("Flat") or any FAISS factory string
("HNSW32", "IVF4096,Flat", "IVF4096,PQ32", ...), persisted next to the store.

The file holds a small JSON header (the store sequence number the index reflects) followed by the
serialised index, written to a temporary file, fsynced and renamed: a crash leaves either the old
or the new file, never a torn one.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import faiss
import numpy as np

from ..errors import FaceprintError

MAGIC = b"FPIDX1\n"


class IndexNeedsRebuild(Exception):
    """This index type cannot remove vectors in place (e.g. HNSW); the gallery rebuilds it instead."""


def _parse_params(params: str | None) -> dict[str, float]:
    out = {}
    for part in (params or "").split(","):
        if part.strip():
            k, _, v = part.partition("=")
            out[k.strip()] = float(v)
    return out


class FaissIndex:
    def __init__(self, dim: int, factory: str = "Flat", path: str | Path | None = None,
                 search_params: str | None = None, threads: int | None = None):
        self.dim, self.factory = dim, factory
        self.path = Path(path) if path else None
        self.params = _parse_params(search_params)
        if threads:
            faiss.omp_set_num_threads(threads)
        self._seq = 0
        self._lock = threading.RLock()
        self._index = None
        if self.path and self.path.exists():
            self._load()
        if self._index is None:
            self.reset()

    # -- construction -----------------------------------------------------------------------
    def _new(self):
        # IVF indexes store ids themselves; the others get an id map (IDMap2 keeps reconstruct working).
        spec = self.factory if self.factory.startswith("IVF") else f"IDMap2,{self.factory}"
        try:
            index = faiss.index_factory(self.dim, spec, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise FaceprintError(f"index {self.factory!r} is not a valid FAISS factory string ({exc})") from None
        self._apply_params(index)
        return index

    def _apply_params(self, index) -> None:
        defaults = {"efSearch": 128} if "HNSW" in self.factory else {"nprobe": 32} if "IVF" in self.factory else {}
        if "RFlat" in self.factory or "Refine" in self.factory:
            defaults["k_factor"] = 32
        ps = faiss.ParameterSpace()
        for k, v in {**defaults, **self.params}.items():
            v = int(v) if float(v).is_integer() else v
            if k == "k_factor":       # re-ranking depth of a refine index; ParameterSpace cannot reach it
                inner = faiss.downcast_index(index)
                if isinstance(inner, (faiss.IndexIDMap, faiss.IndexIDMap2)):
                    inner = faiss.downcast_index(inner.index)
                inner.k_factor = v
            else:
                ps.set_index_parameter(index, k, v)

    def set_search_params(self, search_params: str | None) -> None:
        """Change search-time parameters ("efSearch=256", "nprobe=64") without rebuilding."""
        with self._lock:
            self.params = _parse_params(search_params)
            self._apply_params(self._index)

    def reset(self) -> None:
        with self._lock:
            self._index = self._new()
            self._seq = 0

    def _load(self) -> None:
        raw = self.path.read_bytes()
        if not raw.startswith(MAGIC):
            return
        header_end = raw.index(b"\n", len(MAGIC))
        header = json.loads(raw[len(MAGIC):header_end])
        if header.get("factory") != self.factory or header.get("dim") != self.dim:
            return          # built with other settings: the gallery rebuilds it from the store
        self._index = faiss.deserialize_index(np.frombuffer(raw[header_end + 1:], np.uint8))
        self._apply_params(self._index)
        self._seq = int(header["seq"])

    # -- GalleryIndex -----------------------------------------------------------------------
    def train(self, sample: np.ndarray) -> None:
        with self._lock:
            if not self._index.is_trained:
                self._index.train(np.ascontiguousarray(sample, np.float32))

    def check_capacity(self, n_new: int) -> None:
        """Refuse (before anything is written) a first batch too small to train this index on."""
        if self._index.is_trained or self._index.ntotal:
            return
        need = faiss.extract_index_ivf(self._index).nlist if "IVF" in self.factory else 1
        if "PQ" in self.factory:      # every product-quantiser codebook needs its 2^bits centroids
            need = max(need, 16 if "x4" in self.factory else 256)
        if n_new < need:
            raise FaceprintError(
                f"index {self.factory!r} must be trained on at least {need} templates before use; "
                "bulk-add a large batch first, or use the exact 'Flat' index for small galleries")

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        with self._lock:
            if not self._index.is_trained:
                self.check_capacity(len(vectors))
                self.train(vectors)
            self._index.add_with_ids(np.ascontiguousarray(vectors, np.float32), np.asarray(ids, np.int64))

    def remove(self, ids: np.ndarray) -> None:
        with self._lock:
            try:
                self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, np.int64)))
            except RuntimeError as exc:
                raise IndexNeedsRebuild(str(exc)) from None

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self._index.ntotal == 0:
                n = len(vectors)
                return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
            return self._index.search(np.ascontiguousarray(vectors, np.float32), min(k, self._index.ntotal))

    def count(self) -> int:
        return int(self._index.ntotal)

    def applied_seq(self) -> int:
        return self._seq

    def set_applied_seq(self, seq: int) -> None:
        self._seq = seq

    def persist(self) -> None:
        if self.path is None:
            return
        with self._lock:
            header = json.dumps({"seq": self._seq, "factory": self.factory, "dim": self.dim,
                                 "count": self.count()}).encode()
            data = faiss.serialize_index(self._index)
            tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}")
            with open(tmp, "wb") as f:
                f.write(MAGIC + header + b"\n")
                f.write(memoryview(data))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def close(self) -> None:
        pass
