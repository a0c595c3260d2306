"""Gallery: enrolled subjects and their templates (the store) plus a search index kept consistent
with it. The store is the source of truth; the index replays the store's change log to catch up
after a crash or another process's writes, and is rebuilt when it cannot."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import match, quality
from ..embed import l2_normalise
from ..errors import (FaceprintError, GalleryError, GalleryNotFoundError, GalleryPurgePendingError,
                      ModelMismatchError, NoFaceError, UsageError)
from ..match import DEFAULT_FPIR
from ..types import Identification, Match, Template
from .base import Enrolment, Skip, Subject
from .index_faiss import FaissIndex, IndexNeedsRebuild

# A new template this close to one the subject already has is the same photo again, not a new view
# of the face. Measured with SFace on LFW (bench/openset.py, "near_duplicates"): 98% of JPEG q85
# re-saves of a photo pass 0.95 against the original (96% pass 0.98), 65% of 0.8x resizes, 57% of
# 8 px crops; two different photos of one person pass 0.95 in 0.02% of 38,251 mated pairs.
NEAR_DUPLICATE = 0.95


def _is_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


class Gallery:
    """Subjects and their templates, searchable 1:N. Works on Templates; the image helpers
    (enrolling or identifying photos) use the Engine its caller passes in."""

    def __init__(self, store, index, *, engine=None, model: str | None = None, readonly: bool = False,
                 fpir: float | None = None):
        self.store, self.index = store, index
        self._fpir = None if fpir is None else match.check_fpir(fpir)
        self.engine = engine
        self.readonly = readonly
        meta = store.meta()
        self.model = meta.get("model") or model or (engine.model_id if engine else None)
        if model and meta.get("model") and model != meta["model"]:
            raise ModelMismatchError(f"gallery was built with model {meta['model']!r}, not {model!r}")
        self._max_per_subject = 1
        self.created = False        # open(create=True) made a new SQLite file (consumers say so)
        self.sync(verify=True)

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, location: str | Path, *, index: str = "Flat", search_params: str | None = None,
             engine=None, model: str | None = None, dim: int | None = None, index_path: str | Path | None = None,
             create: bool = False, readonly: bool = False, encryption_key: bytes | None = None,
             fpir: float | None = None) -> "Gallery":
        """Open a gallery; with create=True, create it when absent (never by accident otherwise).

        location: a SQLite file path or a "postgresql://..." URL.
        index: FAISS factory string: "Flat" (exact, default), "PQ64x4fs,RFlat" (1M+ templates: fast
            compressed scan re-ranked exactly), any other ("HNSW32", "IVF4096,Flat", ...); or a Milvus
            collection: "milvus:/path/to/milvus.db" (milvus-lite) or "milvus:http://host:19530".
        search_params: FAISS ParameterSpace settings, e.g. "efSearch=128", "nprobe=32", "k_factor_rf=32".
        engine: the Engine that turns photos into templates for enroll()/identify() on images.
        readonly: only read: the store is opened read-only (no write lock, so never waiting behind a
            writer) and the index file is never written.
        encryption_key: 32 bytes (crypto.load_key reads a key file). A gallery created with a key keeps
            its templates and index file AES-256-GCM-encrypted; an encrypted gallery opened without
            its key or with a wrong one raises errors.GalleryKeyError and changes nothing.
        fpir: the target false-positive identification rate of identify() for this session (default:
            the gallery's own, set_default_fpir(), else 0.001).
        """
        location = str(location)
        if readonly and create:
            raise UsageError("a gallery opened read-only cannot be created")
        is_new = False
        if _is_url(location):
            from .store_postgres import PostgresStore
            store = PostgresStore(location, create=create, readonly=readonly, key=encryption_key)
        else:
            if not create and not Path(location).exists():
                raise GalleryNotFoundError(
                    f"gallery {location} does not exist; check the path, or enrol someone to create it")
            is_new = create and not Path(location).exists()
            from .store_sqlite import SQLiteStore
            store = SQLiteStore(location, create=create, readonly=readonly, key=encryption_key)
            if index_path is None:
                index_path = location + ".index"
        try:
            meta = store.meta()
            model = model or meta.get("model") or (engine.model_id if engine else None) or "sface"
            dim = int(meta.get("dim") or dim or (engine.embedder.dim if engine else 128))
            if index.startswith("milvus:"):
                if store.cipher is not None:
                    raise GalleryError("a Milvus index keeps vectors in clear, so it cannot serve an encrypted "
                                       "gallery; use a FAISS index (the default) with encryption")
                from .index_milvus import MilvusIndex
                idx = MilvusIndex(index.partition(":")[2], dim=dim, store=store,
                                  collection=meta.get("milvus_collection"))
            else:
                idx = FaissIndex(dim, index, path=index_path, search_params=search_params,
                                 identity=meta.get("gallery_id"), cipher=store.cipher)
                if not readonly:
                    with store.write_lock():
                        idx.remove_temporaries()
            gallery = cls(store, idx, engine=engine, model=model, readonly=readonly, fpir=fpir)
        except BaseException:
            store.close()
            raise
        gallery.created = is_new
        return gallery

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Save the index file if it changed (never when read-only), then release everything."""
        try:
            if not self.readonly and self.index.dirty:
                self.persist()
        finally:
            self.index.close()
            self.store.close()

    def persist(self) -> None:
        """Save the index now, caught up with the store, under the store's write lock: no deletion
        can commit between the catch-up and the file replacing the old one."""
        self._check_writable()
        with self.store.write_lock():
            self.sync()
            position = {"count": self.store.counts()["templates"], "max_id": self.store.max_template_id()}
            try:
                self.index.persist(position)
            except IndexNeedsRebuild:       # removals this index type cannot apply in place (HNSW)
                self.rebuild()
                self.index.persist(position)

    def _engine(self):
        if self.engine is None:
            raise UsageError("this gallery was opened without an Engine; pass engine= to Gallery.open "
                             "to enrol or identify photos, or pass Templates")
        return self.engine
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
            missing: set[int] = set()      # ids deleted before their addition is replayed
            try:
                for ch in self.store.changes_since(applied):
                    if ch.op == "add":
                        ids, vecs = self.store.vectors_between(ch.first_id, ch.last_id)
                        if len(ids) < ch.last_id - ch.first_id + 1:
                            missing.update(set(range(ch.first_id, ch.last_id + 1)) - set(ids.tolist()))
                        if len(ids):
                            self.index.add(ids, vecs)
                            # Only the subjects just added to can have grown; after deletions the
                            # old maximum stays an upper bound (a little over-fetch), so a delete
                            # never pays a scan of every template.
                            self._max_per_subject = max(self._max_per_subject, self.store.max_templates_per_subject(
                                ch.first_id, ch.last_id))
                    else:
                        gone = [i for i in range(ch.first_id, ch.last_id + 1) if i not in missing]
                        if gone:
                            self.index.remove(np.array(gone, np.int64))
                    self.index.set_applied_seq(ch.seq)
            except IndexNeedsRebuild:
                self.rebuild()
        if verify:
            count = self.store.counts()["templates"]
            header = self.index.header
            # A file saved at the store's current seq must describe the same templates (a restored
            # or copied store can reach the same seq with other contents).
            stale = header is not None and header.get("seq") == last and (
                header.get("count") != count or header.get("max_id") != self.store.max_template_id())
            if stale or self.index.count() != count:
                self.rebuild()
            self._max_per_subject = self.store.max_templates_per_subject()

    def _check_writable(self) -> None:
        if self.readonly:
            raise GalleryError("this gallery was opened read-only; open it without readonly=True to change it")

    def _check_capacity(self, n_new: int) -> None:
        self.index.check_capacity(n_new + self.store.counts()["templates"])

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
    def enroll(self, name: str, images: Sequence[Any], *, metadata: dict[str, Any] | None = None,
               force: bool = False, best: int | None = None) -> Enrolment:
        """Enrol one subject from Templates (or photos, with the gallery's Engine: the most
        prominent face of each), in one transaction. An existing name gains the new templates.
        Skipped, with the reason in Enrolment.skipped: a photo already enrolled for this subject
        (same SHA-256), a template nearly identical to one the subject has (cosine > 0.95: the same
        photo again), and a masked face or one below the quality floor (force=True enrols those).
        best: keep only this many of the given photos, highest quality first (with one photo per
        person, the best of a person's photos misses fewer mates than the first: README, "LFW open
        set"). Raises UsageError when nothing is left to enrol for a new subject, saying why."""
        self._check_writable()
        if best is not None and (not isinstance(best, int) or best < 1):
            raise UsageError(f"best must be a whole number of photos, at least 1, not {best!r}")
        if not isinstance(name, str) or not name.strip():
            raise UsageError("subject name must not be empty")
        name = name.strip()
        if isinstance(images, (str, Path, bytes, Template, np.ndarray)):
            images = [images]
        if not images:
            raise UsageError(f"no photos given for {name!r}")
        templates = []
        for im in images:
            if isinstance(im, Template):
                templates.append(im)
                continue
            try:
                templates.append(self._engine().template(im))
            except NoFaceError as exc:
                raise NoFaceError(f"{exc}; {name!r} was not enrolled") from None
        models = {t.model for t in templates}
        if len(models) != 1:
            raise ModelMismatchError(f"templates of several models given: {sorted(models)}")
        keep, skipped = self._enrolment_policy(name, templates, force, best)
        ids: list[int] = []
        if keep:
            vectors = np.vstack([t.vector for t in keep])
            self._claim_model(keep[0].model, vectors.shape[1])
            self._check_capacity(len(vectors))
            _, ids = self.store.enroll(name, metadata, vectors, [t.quality for t in keep], [t.source for t in keep])
            self.sync()
        elif self.store.subject(name) is None:
            why = "; ".join(dict.fromkeys(s.reason for s in skipped))
            raise UsageError(f"nothing enrolled for {name!r}: {why}")
        return Enrolment(subject=self.store.subject(name), added=ids, skipped=skipped)

    def _enrolment_policy(self, name: str, templates: list[Template], force: bool,
                          best: int | None = None) -> tuple[list[Template], list[Skip]]:
        """Which templates to store, and why each other one is skipped."""
        subject = self.store.subject(name)
        sources = self.store.sources_of(name) if subject else set()
        have = (self.store.vectors_of_subjects([subject.id]).get(subject.id) if subject else None)
        have = np.zeros((0, templates[0].dim), np.float32) if have is None else l2_normalise(have)
        keep, skipped = [], []
        order = sorted(range(len(templates)), key=lambda i: -templates[i].quality) if best else range(len(templates))
        for i in order:
            t = templates[i]
            label = t.source or f"input {i}"
            vec = l2_normalise(t.vector[None])[0]
            if t.source is not None and t.source in sources:
                skipped.append(Skip(i, label, "this photo is already enrolled for this subject", "duplicate"))
            elif len(have) and float((have @ vec).max()) > NEAR_DUPLICATE:
                skipped.append(Skip(i, label, f"nearly identical to a template {name!r} already has "
                                              f"(cosine {float((have @ vec).max()):.3f} > {NEAR_DUPLICATE})",
                                    "near_duplicate"))
            elif not force and (refusal := quality.enrolment_refusal(t.quality, t.quality_detail)):
                skipped.append(Skip(i, label, refusal[1], refusal[0]))
            elif best is not None and len(keep) >= best:
                skipped.append(Skip(i, label, f"only the {best} best-quality photo(s) are enrolled; this one's "
                                              f"quality is {t.quality:.2f}", "not_best"))
            else:
                keep.append(t)
                have = np.vstack([have, vec[None]])
                if t.source is not None:
                    sources.add(t.source)
        return keep, sorted(skipped)

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
            self.persist()
        return ids

    def delete(self, name: str) -> bool:
        """Remove a subject and every template of it from the store, the WAL, and the index file."""
        self._check_writable()
        try:
            # The index file goes inside the deletion's transaction: it may hold the deleted vectors,
            # and it is cheaper to rewrite lazily (close, persist) than on every delete.
            ids = self.store.delete_subject(name, before_commit=lambda _ids: self.index.discard_file())
        except GalleryPurgePendingError:
            self.sync()
            raise
        if ids is None:
            return False
        self.sync()
        return True

    def delete_templates(self, ids) -> list[tuple[int, str]]:
        """Remove single templates by id (the service's "delete one example"); returns (id, subject
        name) of those that existed. Their subjects stay, even with no template left."""
        self._check_writable()
        done = self.store.delete_templates(ids, before_commit=self.index.discard_file)
        if done:
            self.sync()
        return done

    def rekey(self, new_key: bytes | None) -> None:
        """Re-encrypt every template under new_key in one transaction (an unencrypted gallery
        becomes encrypted; None decrypts), then rewrite the index file under the new key."""
        self._check_writable()
        if not self.index.encryptable and new_key is not None:
            raise GalleryError(f"a {self.index.factory} index keeps vectors in clear, so its gallery cannot be encrypted")
        self.index.discard_file()       # a kill before the new file is written leaves a rebuild, not a stale key
        self.store.rekey(new_key)
        if self.index.encryptable:
            self.index.cipher = self.store.cipher
            self.persist()

    # -- reads ------------------------------------------------------------------------------
    def subjects(self) -> list[Subject]:
        return self.store.subjects()

    def subject(self, name: str) -> Subject | None:
        return self.store.subject(name)

    def stats(self) -> dict[str, Any]:
        counts = self.store.counts()
        return {**counts, "model": self.model, "index": self.index.factory,
                "indexed": self.index.count(), "seq": self.store.last_seq()}

    def _vectors(self, probe) -> tuple[np.ndarray, list[bool]]:
        """The probes' unit vectors, and which of them are unmasked templates (their scores are
        equalised, occlusion.equalise); raw vectors never are."""
        if isinstance(probe, Template):
            if self.model and probe.model != self.model:
                raise ModelMismatchError(f"probe is a {probe.model!r} template; gallery holds {self.model!r}")
            return probe.vector[None], [match.is_unmasked(probe)]
        if isinstance(probe, (list, tuple)) and probe and isinstance(probe[0], Template):
            parts = [self._vectors(t) for t in probe]
            return np.vstack([v for v, _ in parts]), [f for _, fs in parts for f in fs]
        v = l2_normalise(np.atleast_2d(np.asarray(probe, np.float32)))
        return v, [False] * len(v)

    def search_batch(self, probes, k: int = 5) -> list[list[Match]]:
        """Ranked subjects per probe. A subject with several templates is scored by its mean
        template (the normalised centroid): on LFW open-set with two photos per person it misses
        1.56% of mates at FPIR 0.01 against 2.01% for the best single template and 1.87% for the
        mean of the best two (bench/openset.py), and it keeps one comparison per subject, which is
        what the FPIR threshold assumes (with the best template, FPIR grows with templates per subject)."""
        self.sync()
        vecs, unmasked = self._vectors(probes)
        # Over-fetch templates so that k distinct subjects survive grouping by subject.
        kt = min(max(k * self._max_per_subject, k) + 8, 4096)
        scores, ids = self.index.search(vecs, kt)
        owners = self.store.subject_of(np.unique(ids[ids >= 0]))
        subjects = self.store.subjects_by_id({sid for sid, _ in owners.values()})
        several = [sid for sid, s in subjects.items() if s.templates > 1]
        centroids = {sid: l2_normalise(v.mean(axis=0, keepdims=True))[0]
                     for sid, v in (self.store.vectors_of_subjects(several).items() if several else ())}
        out = []
        for vec, row_s, row_i, equalise in zip(vecs, scores, ids, unmasked):
            best: dict[int, float] = {}
            for s, i in zip(row_s, row_i):
                if i < 0 or int(i) not in owners:
                    continue
                sid = owners[int(i)][0]
                best[sid] = float(vec @ centroids[sid]) if sid in centroids else max(float(s), best.get(sid, -np.inf))
            if equalise:          # a masked probe's scores, on the clean scale (occlusion.equalise)
                best = {sid: match.equalised(s, self.model) for sid, s in best.items()}
            ranked = sorted(best.items(), key=lambda kv: -kv[1])[:k]
            out.append([Match(subject=subjects[sid], score=s, rank=r + 1) for r, (sid, s) in enumerate(ranked)])
        return out

    def search(self, probe, k: int = 5) -> list[Match]:
        return self.search_batch(probe, k)[0]

    def threshold_for_fpir(self, fpir: float) -> float:
        """Open-set threshold for a target false-positive identification rate at this gallery's
        size: the per-comparison FMR with 1 - (1 - FMR)^N = FPIR for N enrolled subjects, read from
        the model's calibrated FMR -> threshold table (match.threshold_for_fpir)."""
        return match.threshold_for_fpir(self.model, fpir, self.store.counts()["subjects"])

    @property
    def default_fpir(self) -> float:
        """The FPIR identify() targets when none is passed: this session's (Gallery.open(fpir=)),
        else the gallery's own (set_default_fpir), else 0.001."""
        if self._fpir is not None:
            return self._fpir
        return float(self.store.meta().get("fpir", DEFAULT_FPIR))

    def set_default_fpir(self, fpir: float) -> None:
        """Store the gallery's default FPIR (every process that opens it uses it)."""
        self._check_writable()
        self.store.set_meta({"fpir": repr(match.check_fpir(fpir))})

    def identify(self, probes: Any, *, k: int = 5, threshold: float | None = None,
                 fpir: float | None = None) -> list[Identification]:
        """Ranked candidates and the open-set decision for each probe Template (or every face of a
        photo, with the gallery's Engine). The decision threshold comes from the target FPIR (default:
        the gallery's, 0.001) and the number of enrolled subjects, unless a raw threshold is given."""
        if threshold is not None and fpir is not None:
            raise UsageError("give either a threshold or an FPIR, not both")
        if k < 1:
            raise UsageError(f"k must be at least 1, not {k}")
        if isinstance(probes, Template):
            templates = [probes]
        elif isinstance(probes, (list, tuple)) and all(isinstance(p, Template) for p in probes):
            templates = list(probes)
        else:
            templates = self._engine().templates(probes)
        if not templates:
            return []
        size = self.store.counts()["subjects"]
        if threshold is None:
            fpir = self.default_fpir if fpir is None else float(fpir)
            threshold = match.threshold_for_fpir(self.model, fpir, size)     # the size just counted
        results = self.search_batch(templates, k)
        out = []
        for t, cands in zip(templates, results):
            decided = [Match(m.subject, m.score, m.rank, decision=(m.rank == 1 and m.score >= threshold))
                       for m in cands]
            top = decided[0] if decided and decided[0].decision else None
            out.append(Identification(face=t.face, candidates=decided, decision=top, threshold=float(threshold),
                                      fpir=fpir, gallery_size=size, masked=quality.is_masked(t.quality_detail)))
        return out
