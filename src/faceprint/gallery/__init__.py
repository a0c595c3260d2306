"""Gallery: enrolled subjects and their templates (the store) plus a search index kept consistent
with it. The store is the source of truth; the index replays the store's change log to catch up
after a crash or another process's writes, and is rebuilt when it cannot."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..embed import l2_normalise
from ..errors import FaceprintError, ModelMismatchError, NoFaceError
from ..imageio import ImageInput, describe
from ..types import Identification, Match, Template
from .base import Subject
from .index_faiss import FaissIndex, IndexNeedsRebuild

__all__ = ["Gallery", "Subject"]


def _source_hash(image: ImageInput) -> str | None:
    if isinstance(image, (str, Path)):
        return hashlib.sha256(Path(image).read_bytes()).hexdigest()
    if isinstance(image, (bytes, bytearray, memoryview)):
        return hashlib.sha256(bytes(image)).hexdigest()
    return None


class Gallery:
    def __init__(self, store, index, *, engine=None, model: str | None = None, readonly: bool = False):
        self.store, self.index = store, index
        self._engine = engine
        self.readonly = readonly
        meta = store.meta()
        self.model = meta.get("model") or model or (engine.model_id if engine else None)
        if model and meta.get("model") and model != meta["model"]:
            raise ModelMismatchError(f"gallery was built with model {meta['model']!r}, not {model!r}")
        self._max_per_subject = 1
        self.sync(verify=True)

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, location: str | Path, *, index: str = "Flat", search_params: str | None = None,
             engine=None, model: str | None = None, dim: int | None = None, index_path: str | Path | None = None,
             milvus: str | None = None, readonly: bool = False) -> "Gallery":
        """Open or create a gallery.

        location: a SQLite file path (created if absent) or a "postgresql://..." URL.
        index: FAISS factory string: "Flat" (exact, default), "PQ64x4fs,RFlat" (1M+ templates: fast
            compressed scan re-ranked exactly), or any other ("HNSW32", "IVF4096,Flat", ...).
        search_params: FAISS search parameters, e.g. "k_factor=32", "efSearch=128" or "nprobe=32".
        milvus: use a Milvus collection instead of FAISS: a milvus-lite file path or a cluster URI.
        engine: the Engine used for enroll()/identify() on images (default: Engine()).
        """
        location = str(location)
        if location.startswith(("postgresql://", "postgres://")):
            from .store_postgres import PostgresStore
            store = PostgresStore(location)
        else:
            from .store_sqlite import SQLiteStore
            store = SQLiteStore(location)
            if index_path is None:
                index_path = location + ".index"
        meta = store.meta()
        model = model or meta.get("model") or (engine.model_id if engine else None) or "sface"
        dim = int(meta.get("dim") or dim or (engine.embedder.dim if engine else 128))
        if milvus:
            from .index_milvus import MilvusIndex
            idx = MilvusIndex(milvus, dim=dim, store=store, collection=meta.get("milvus_collection"))
        else:
            idx = FaissIndex(dim, index, path=index_path, search_params=search_params)
        return cls(store, idx, engine=engine, model=model, readonly=readonly)

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if not self.readonly:
            self.index.persist()
        self.index.close()
        self.store.close()

    @property
    def engine(self):
        if self._engine is None:
            from ..engine import Engine
            self._engine = Engine(embedder=self.model.split(":")[0], flip=self.model.endswith(":flip"))
        return self._engine

    # -- consistency ------------------------------------------------------------------------
    def rebuild(self) -> None:
        """Build the index afresh from every template in the store."""
        self.index.reset()
        seq = self.store.last_seq()
        for ids, vecs in self.store.iter_templates():
            self.index.add(ids, vecs)
        self.index.set_applied_seq(seq)
        self._max_per_subject = self.store.max_templates_per_subject()

    def sync(self, verify: bool = False) -> None:
        """Apply the store's changes the index has not seen (another process's writes, or ones a
        crash kept out of the saved index); rebuild when replay cannot work."""
        last = self.store.last_seq()
        applied = self.index.applied_seq()
        if applied > last:
            self.rebuild()
        elif applied < last:
            try:
                for ch in self.store.changes_since(applied):
                    if ch.op == "add":
                        ids, vecs = self.store.vectors_between(ch.first_id, ch.last_id)
                        if len(ids):
                            self.index.add(ids, vecs)
                    else:
                        self.index.remove(np.arange(ch.first_id, ch.last_id + 1))
                    self.index.set_applied_seq(ch.seq)
            except IndexNeedsRebuild:
                self.rebuild()
            self._max_per_subject = self.store.max_templates_per_subject()
        if verify:
            if self.index.count() != self.store.counts()["templates"]:
                self.rebuild()
            self._max_per_subject = self.store.max_templates_per_subject()

    def _check_writable(self) -> None:
        if self.readonly:
            raise FaceprintError("gallery was opened read-only")

    def _check_capacity(self, n_new: int) -> None:
        check = getattr(self.index, "check_capacity", None)
        if check is not None:
            check(n_new + self.store.counts()["templates"])

    def _claim_model(self, model: str, dim: int) -> None:
        meta = self.store.meta()
        if meta.get("model") and meta["model"] != model:
            raise ModelMismatchError(
                f"gallery holds {meta['model']!r} templates; refusing {model!r} templates "
                "(enrol into a gallery built with the same model)")
        if meta.get("dim") and int(meta["dim"]) != dim:
            raise ModelMismatchError(f"gallery holds {meta['dim']}-d templates; got {dim}-d vectors")
        if not meta.get("model"):
            self.store.set_meta({"model": model, "dim": str(dim)})
            self.model = model

    # -- writes -----------------------------------------------------------------------------
    def enroll(self, name: str, images: Sequence[ImageInput | Template], *,
               metadata: dict[str, Any] | None = None) -> int:
        """Enrol one subject from 1+ photos (the most prominent face of each) or Templates, in one
        transaction. Enrolling an existing name adds templates to that subject."""
        self._check_writable()
        if not name or not name.strip():
            raise FaceprintError("subject name must not be empty")
        if isinstance(images, (str, Path, bytes, Template, np.ndarray)):
            images = [images]
        if not images:
            raise FaceprintError(f"no photos given for {name!r}")
        templates, sources = [], []
        for im in images:
            if isinstance(im, Template):
                templates.append(im)
                sources.append(None)
            else:
                try:
                    templates.append(self.engine.template(im))
                except NoFaceError:
                    raise NoFaceError(f"no face found in {describe(im)}; {name!r} was not enrolled") from None
                sources.append(_source_hash(im))
        models = {t.model for t in templates}
        if len(models) != 1:
            raise ModelMismatchError(f"templates of several models given: {sorted(models)}")
        vectors = np.vstack([t.vector for t in templates])
        self._claim_model(templates[0].model, vectors.shape[1])
        self._check_capacity(len(vectors))
        sid, _ = self.store.enroll(name.strip(), metadata, vectors, [t.quality for t in templates], sources)
        self.sync()
        return sid

    def add_templates(self, names: Sequence[str], vectors: np.ndarray, *, model: str | None = None) -> list[int]:
        """Bulk path for precomputed templates: names[i] owns vectors[i]; missing subjects are
        created. One transaction; returns the template ids."""
        self._check_writable()
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        if len(names) != len(vectors):
            raise FaceprintError(f"{len(names)} names for {len(vectors)} vectors; give one name per vector")
        if not np.isfinite(vectors).all():
            raise FaceprintError("vectors contain NaN or infinite values")
        self._claim_model(model or self.model, vectors.shape[1])
        self._check_capacity(len(vectors))
        ids = self.store.add_bulk(list(names), l2_normalise(vectors))
        self.sync()
        if len(ids) >= 10_000:
            self.index.persist()
        return ids

    def delete(self, name: str) -> bool:
        """Remove a subject and every template of it from the store, the WAL, and the index file."""
        self._check_writable()
        ids = self.store.delete_subject(name)
        if ids is None:
            return False
        self.sync()
        self.index.persist()
        return True

    # -- reads ------------------------------------------------------------------------------
    def subjects(self) -> list[Subject]:
        return self.store.subjects()

    def subject(self, name: str) -> Subject | None:
        return self.store.subject(name)

    def stats(self) -> dict[str, Any]:
        counts = self.store.counts()
        return {**counts, "model": self.model, "index": getattr(self.index, "factory", type(self.index).__name__),
                "indexed": self.index.count(), "seq": self.store.last_seq()}

    def _vectors(self, probe) -> np.ndarray:
        if isinstance(probe, Template):
            if self.model and probe.model != self.model:
                raise ModelMismatchError(f"probe is a {probe.model!r} template; gallery holds {self.model!r}")
            return probe.vector[None]
        if isinstance(probe, (list, tuple)) and probe and isinstance(probe[0], Template):
            return np.vstack([self._vectors(t) for t in probe])
        v = np.atleast_2d(np.asarray(probe, np.float32))
        return l2_normalise(v)

    def search_batch(self, probes, k: int = 5) -> list[list[Match]]:
        """Ranked subjects per probe; a subject's score is its best template's score."""
        self.sync()
        vecs = self._vectors(probes)
        # Over-fetch templates so that k distinct subjects survive grouping by subject.
        kt = min(max(k * self._max_per_subject, k) + 8, 4096)
        scores, ids = self.index.search(vecs, kt)
        owners = self.store.subject_of(np.unique(ids[ids >= 0]))
        subjects = {sid: Subject(id=sid, name=name) for sid, name in owners.values()}
        out = []
        for row_s, row_i in zip(scores, ids):
            best: dict[int, float] = {}
            for s, i in zip(row_s, row_i):
                if i < 0 or int(i) not in owners:
                    continue
                sid = owners[int(i)][0]
                if s > best.get(sid, -np.inf):
                    best[sid] = float(s)
            ranked = sorted(best.items(), key=lambda kv: -kv[1])[:k]
            out.append([Match(subject=subjects[sid], score=s, rank=r + 1) for r, (sid, s) in enumerate(ranked)])
        return out

    def search(self, probe, k: int = 5) -> list[Match]:
        return self.search_batch(probe, k)[0]

    def threshold_for_fpir(self, fpir: float) -> float:
        """Open-set threshold for a target false-positive identification rate on this gallery size:
        FPIR ~= 1 - (1 - FMR)^N for N enrolled subjects, so the per-comparison FMR is derived from the
        FPIR and the model's calibrated FMR->threshold table is read at it."""
        from ..match import threshold_for_fmr
        n = max(1, self.store.counts()["subjects"])
        fmr = -math.expm1(math.log1p(-fpir) / n)
        return threshold_for_fmr(self.model, fmr)

    def identify(self, image: ImageInput, *, k: int = 5, threshold: float | None = None,
                 fpir: float | None = None) -> list[Identification]:
        """Every face of the photo: ranked candidates and the open-set decision."""
        if threshold is None:
            threshold = self.threshold_for_fpir(fpir) if fpir is not None else self.engine.threshold
        templates = self.engine.templates(image)
        if not templates:
            return []
        results = self.search_batch(templates, k)
        out = []
        for t, cands in zip(templates, results):
            decided = [Match(m.subject, m.score, m.rank, decision=(m.rank == 1 and m.score >= threshold))
                       for m in cands]
            top = decided[0] if decided and decided[0].decision else None
            out.append(Identification(face=t.face, candidates=decided, decision=top, threshold=float(threshold)))
        return out
