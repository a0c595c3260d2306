"""FAISS search index (embedded default): exact inner product ("Flat") or any FAISS factory string
("HNSW32", "IVF4096,Flat", "IVF4096,PQ32", ...), persisted next to the store.

The index file is a cache of the store (the source of truth): one JSON header line (the gallery's
random id, the store position it reflects: change-log seq, template count and largest id; the
payload's chunk sizes and CRC-32) and the serialised index, AES-256-GCM-sealed chunk by chunk when
the gallery is encrypted. A file that is truncated, zeroed, from another gallery, or ahead of or
different from the store is ignored and the index rebuilt from the store.

The file is written lazily (on close, after large bulk adds, on Gallery.persist) under the store's
write lock, into an anonymous O_TMPFILE that only gets a name once complete, so a kill leaves no
partial file; a deletion removes the file inside its transaction instead of rewriting it, so no
deleted template's vector stays in any file and a delete costs no index rewrite.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import zlib
from pathlib import Path

import faiss
import numpy as np

from ..errors import FaceprintError, GalleryKeyError, UsageError

MAGIC = b"FPIDX2\n"
CHUNK = 64 << 20            # AES-GCM seals at most 64 GiB per message; 64 MiB chunks also bound memory
COMPACT_AT = 256            # removed ids masked out of results before one pass removes them all
log = logging.getLogger(__name__)


# The large-gallery configuration (1M+ templates): 4-bit fast-scan product quantisation, 16 bytes per
# template scanned per query (half of PQ64x4fs: the scan is memory-bound on small AVX2 servers), the
# best k_factor_rf x k re-ranked on the exact vectors. bench/gallery_scale.py measures it per CPU class.
LARGE_GALLERY_INDEX = "PQ32x4fs,RFlat"
LARGE_GALLERY_PARAMS = "k_factor_rf=512"


class IndexNeedsRebuild(Exception):
    """This index type cannot remove vectors in place (e.g. HNSW); the gallery rebuilds it instead."""


def parse_search_params(params: str | None) -> list[tuple[str, float]]:
    """"efSearch=128,nprobe=32" -> [(name, value)]; FAISS ParameterSpace names, numeric values."""
    out = []
    for part in (params or "").split(","):
        if not part.strip():
            continue
        name, eq, value = (x.strip() for x in part.partition("="))
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not eq or not name or not np.isfinite(number):
            raise UsageError(f"search parameter {part.strip()!r} must be NAME=NUMBER, e.g. efSearch=128, "
                             "nprobe=32, k_factor_rf=32 (FAISS ParameterSpace names)")
        out.append((name, int(number) if number.is_integer() else number))
    return out


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, pieces) -> None:
    """Write `pieces` to `path` so that a crash at any moment leaves the old file or the new one, and
    no temporary file holding the data: O_TMPFILE where the filesystem has it (nameless until it is
    complete), else a fixed temporary name that open() removes."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY, 0o600)
        anonymous = True
    except (AttributeError, OSError):
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        anonymous = False
    try:
        with open(fd, "wb", closefd=False) as f:
            for piece in pieces:
                f.write(piece)
        os.fsync(fd)
        if anonymous:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            # linkat(AT_SYMLINK_FOLLOW) names the anonymous file (Python calls plain link() unless a
            # dir_fd is given, and link() would try to link the /proc symlink itself).
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.link(f"/proc/self/fd/{fd}", tmp, src_dir_fd=dir_fd, follow_symlinks=True)
            finally:
                os.close(dir_fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class FaissIndex:
    encryptable = True      # its file is sealed with the store's cipher when the gallery is encrypted

    def __init__(self, dim: int, factory: str = "Flat", path: str | Path | None = None,
                 search_params: str | None = None, threads: int | None = None, *,
                 identity: str | None = None, cipher=None):
        self.dim, self.factory = dim, factory
        self.path = Path(path) if path else None
        self.identity, self.cipher = identity, cipher
        self.params = parse_search_params(search_params)
        if threads:
            faiss.omp_set_num_threads(threads)
        self._seq = 0
        self._lock = threading.RLock()
        self._index = None
        # Removing ids from a FAISS index is a pass over all of it (and a rebuild for HNSW), so
        # removals are masked out of results and applied together: at COMPACT_AT ids, or before the
        # file is written (the file never holds a removed vector).
        self._removed: set[int] = set()
        self.header: dict | None = None     # the loaded file's header: the store position it reflects
        self.dirty = False                  # the in-memory index differs from the file
        self.reset()                        # refuses a bad factory string or parameters before any file is read
        if self.path and self.path.exists():
            self._load()

    # -- construction -----------------------------------------------------------------------
    def _new(self):
        # IVF indexes store ids themselves; the others get an id map (IDMap2 keeps reconstruct working).
        spec = self.factory if self.factory.startswith("IVF") else f"IDMap2,{self.factory}"
        try:
            index = faiss.index_factory(self.dim, spec, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise FaceprintError(f"index {self.factory!r} is not a valid FAISS factory string "
                                 f"({str(exc).strip().splitlines()[-1]})") from None
        return index

    def _apply_params(self, index) -> None:
        defaults = {"efSearch": 128} if "HNSW" in self.factory else {"nprobe": 32} if "IVF" in self.factory else {}
        if "RFlat" in self.factory or "Refine" in self.factory:
            # Re-ranking 512 exact vectors costs ~0.1 ms; 32 lets PQ32x4fs miss 2.8% of the top-1s at 1M.
            defaults["k_factor_rf"] = 512
        ps = faiss.ParameterSpace()
        for name, value in {**defaults, **dict(self.params)}.items():
            try:
                ps.set_index_parameter(index, name, value)
            except RuntimeError:
                raise UsageError(f"search parameter {name!r} does not apply to index {self.factory!r} (FAISS "
                                 "ParameterSpace names: efSearch for HNSW, nprobe for IVF, k_factor_rf for "
                                 "...,RFlat/Refine)") from None

    def set_search_params(self, search_params: str | None) -> None:
        """Change search-time parameters ("efSearch=256", "nprobe=64") without rebuilding."""
        with self._lock:
            self.params = parse_search_params(search_params)
            self._apply_params(self._index)

    def reset(self) -> None:
        with self._lock:
            self._index = self._new()
            self._apply_params(self._index)
            self._removed.clear()
            self._seq = 0
            self.header = None
            self.dirty = True

    def _load(self) -> None:
        """Take the file's index if it is whole, this gallery's, built with these settings and
        readable with this key; otherwise leave the index empty (the gallery rebuilds it)."""
        try:
            raw = self.path.read_bytes()
        except OSError:
            return
        why = self._reject(raw)
        if why:     # another index type or parameters is a choice, not damage
            log.log(logging.INFO if why.startswith("was built as") else logging.WARNING,
                    "index file %s %s; rebuilding it from the store", self.path, why)

    def _reject(self, raw: bytes) -> str | None:
        if not raw.startswith(MAGIC) or b"\n" not in raw[len(MAGIC):]:
            return "is not a faceprint index file (damaged, or from an older version)"
        end = raw.index(b"\n", len(MAGIC))
        try:
            header = json.loads(raw[len(MAGIC):end])
            chunks, crc = [int(n) for n in header["chunks"]], int(header["crc32"])
        except (ValueError, KeyError, TypeError):
            return "has a damaged header"
        if self.identity is None:
            return "cannot be matched to this gallery yet (a writable open gives the gallery its id)"
        if header.get("gallery") != self.identity:
            return "belongs to another gallery"
        if header.get("factory") != self.factory or header.get("dim") != self.dim:
            return f"was built as {header.get('factory')!r} ({header.get('dim')}-d)"
        if bool(header.get("encrypted")) != (self.cipher is not None):
            return "does not match the gallery's encryption"
        payload = memoryview(raw)[end + 1:]
        if len(payload) != sum(chunks) or zlib.crc32(payload) != crc:
            return "is truncated or damaged (checksum mismatch)"
        try:
            if self.cipher is not None:
                parts, pos = [], 0
                for n, size in enumerate(chunks):
                    parts.append(self.cipher.open(n, payload[pos:pos + size]))
                    pos += size
                payload = memoryview(b"".join(parts))
            index = faiss.deserialize_index(np.frombuffer(payload, np.uint8))
        except (RuntimeError, GalleryKeyError, ValueError):
            return "cannot be read"
        if index.ntotal != header.get("count") or index.d != self.dim:
            return "does not match its header"
        self._apply_params(index)
        self._index, self._seq, self.header, self.dirty = index, int(header["seq"]), header, False
        return None

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
            self.dirty = True

    def remove(self, ids: np.ndarray) -> None:
        """Remove ids that are in the index (the caller never passes others)."""
        with self._lock:
            self._removed.update(int(i) for i in ids)
            self.dirty = True
            if len(self._removed) >= COMPACT_AT:
                self.compact()

    def compact(self) -> None:
        """Apply the pending removals to the FAISS index itself. Index types that cannot remove
        (HNSW, fast-scan PQ) but keep exact vectors (HNSW over Flat storage, ...,RFlat) are rebuilt
        from their own vectors; the others raise IndexNeedsRebuild (the gallery rebuilds from the store)."""
        with self._lock:
            if not self._removed:
                return
            removed = np.fromiter(self._removed, np.int64)
            try:
                self._index.remove_ids(faiss.IDSelectorBatch(removed))
            except RuntimeError as exc:
                if not re.fullmatch(r"HNSW\d+(,Flat)?|.*,RFlat|.*,Refine\(Flat\)", self.factory):
                    raise IndexNeedsRebuild(str(exc)) from None
                ids = faiss.vector_to_array(self._index.id_map)
                keep = ids[~np.isin(ids, removed)]
                fresh = faiss.clone_index(self._index)      # keeps the training, drops the vectors
                fresh.reset()
                if len(keep):
                    fresh.add_with_ids(self._index.reconstruct_batch(keep), keep)
                self._apply_params(fresh)
                self._index = fresh
            self._removed.clear()

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            n, total = len(vectors), self._index.ntotal
            if total - len(self._removed) <= 0:
                return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
            scores, ids = self._index.search(np.ascontiguousarray(vectors, np.float32),
                                             min(k + len(self._removed), total))
            if self._removed:       # drop removed ids, keeping the others in rank order
                gone = np.isin(ids, np.fromiter(self._removed, np.int64))
                order = np.argsort(gone, axis=1, kind="stable")
                scores, ids = np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)
                gone = np.take_along_axis(gone, order, 1)
                scores[gone], ids[gone] = -np.inf, -1
                scores, ids = scores[:, :k], ids[:, :k]
            return scores, ids

    def count(self) -> int:
        return int(self._index.ntotal) - len(self._removed)

    def applied_seq(self) -> int:
        return self._seq

    def set_applied_seq(self, seq: int) -> None:
        self._seq = seq

    # -- the file ---------------------------------------------------------------------------
    def remove_temporaries(self) -> None:
        """Remove temporary index files a killed writer left (they may hold deleted templates).
        Call under the store's write lock, so that no live writer's file is taken."""
        if self.path is None:
            return
        for leftover in self.path.parent.glob(self.path.name + ".tmp*"):
            try:
                leftover.unlink()
            except OSError:
                pass

    def discard_file(self) -> None:
        """Remove the index file (a deletion does this inside its transaction: the file may hold the
        deleted vectors, and rewriting it per delete costs a full index write)."""
        if self.path is None:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(self.path.parent)

    def persist(self, position: dict | None = None) -> None:
        """Write the index file. position: the store position it reflects ({"count", "max_id"});
        the caller holds the store's write lock and has caught the index up to the store."""
        if self.path is None:
            return
        with self._lock:
            self.compact()
            data = faiss.serialize_index(self._index)
            view = memoryview(data)
            pieces = [view[i:i + CHUNK] for i in range(0, len(view), CHUNK)]
            if self.cipher is not None:
                pieces = [self.cipher.seal(n, bytes(p)) for n, p in enumerate(pieces)]
            crc = 0
            for p in pieces:
                crc = zlib.crc32(p, crc)
            header = {"gallery": self.identity, "seq": self._seq, "factory": self.factory, "dim": self.dim,
                      "count": self.count(), **(position or {}), "encrypted": self.cipher is not None,
                      "chunks": [len(p) for p in pieces], "crc32": crc}
            atomic_write(self.path, [MAGIC, json.dumps(header).encode(), b"\n", *pieces])
            self.header, self.dirty = header, False

    def close(self) -> None:
        pass
