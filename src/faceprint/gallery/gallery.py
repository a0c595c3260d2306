"""Gallery: enrolled subjects and their templates (the store) plus a search index kept consistent
with it. The store is the source of truth; the index replays the store's change log to catch up
after a crash or another process's writes, and is rebuilt when it cannot. Consumers (CLI, service)
use Gallery methods only, never the store or the index."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import scoring
from ..embed import l2_normalise
from ..errors import (
    EnrolmentRefusedError,
    FaceprintError,
    GalleryError,
    GalleryPurgePendingError,
    ModelMismatchError,
    SubjectExistsError,
    UsageError,
)
from ..types import Identification, Match, Template
from . import bulk_enrol, consistency, enrolment, population, ranking
from .base import Enrolment, Example, GalleryIndex, Subject, TemplateStore
from .index_faiss import IndexNeedsRebuild
from .opening import open_index, open_store


class Gallery:
    """Subjects and their templates, searchable 1:N. Works on Templates; the image helpers
    (enrolling or identifying photos) use the Engine its caller passes in."""

    def __init__(self, store: TemplateStore, index: GalleryIndex, *, engine=None, model: str | None = None,
                 readonly: bool = False, fpir: float | None = None):
        self.store, self.index = store, index
        self._fpir = None if fpir is None else scoring.check_fpir(fpir)
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
        index: FAISS factory string: "Flat" (exact, default), index_faiss.LARGE_GALLERY_INDEX with
            search_params=LARGE_GALLERY_PARAMS (1M+ templates: compressed scan re-ranked exactly), any other ("HNSW32", "IVF4096,Flat", ...); or a Milvus
            collection: "milvus:/path/to/milvus.db" (milvus-lite) or "milvus:http://host:19530".
        search_params: FAISS ParameterSpace settings, e.g. "efSearch=128", "nprobe=32", "k_factor_rf=512".
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
        store, is_new = open_store(location, create=create, readonly=readonly, key=encryption_key)
        try:
            meta = store.meta()
            model = model or meta.get("model") or (engine.model_id if engine else None) or "sface"
            dim = int(meta.get("dim") or dim or (engine.embedder.dim if engine else 128))
            idx = open_index(store, location, index, dim=dim, search_params=search_params, index_path=index_path,
                             readonly=readonly)
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
        self._max_per_subject = consistency.rebuild(self.store, self.index)

    def sync(self, verify: bool = False) -> None:
        """Apply the store's changes the index has not seen (another process's writes, or ones a
        crash kept out of the saved index); rebuild when replay cannot work. Every Gallery method
        calls it as needed; callers never have to."""
        last = self.store.last_seq()
        applied = self.index.applied_seq()
        if applied > last:
            self.rebuild()
        elif applied < last:
            try:
                self._max_per_subject = max(self._max_per_subject, consistency.replay(self.store, self.index, applied))
            except IndexNeedsRebuild:
                self.rebuild()
        if verify:
            if consistency.stale(self.store, self.index, last):
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
        (same SHA-256), a template nearly identical to one the subject has (the same photo again,
        enrolment.NEAR_DUPLICATE), and a masked face or one below the quality floor (force=True
        enrols those). best: keep only this many of the given photos, highest quality first (README,
        "LFW open set"). Raises EnrolmentRefusedError (a UsageError) when nothing is left to enrol for a
        new subject, saying why."""
        self._check_writable()
        if best is not None and (not isinstance(best, int) or best < 1):
            raise UsageError(f"best must be a whole number of photos, at least 1, not {best!r}")
        name = self._name(name)
        templates = enrolment.templates_of(name, images, self._engine)
        [done] = self.enroll_many([bulk_enrol.SubjectPhotos(name, templates, best)], metadata=metadata, force=force)
        subject = self.store.subject(name)
        if subject is None:             # a new subject and every photo skipped
            why = "; ".join(dict.fromkeys(s.reason for s in done.skipped))
            raise EnrolmentRefusedError(f"nothing enrolled for {name!r}: {why}", done.skipped)
        return Enrolment(subject=subject, added=done.added, skipped=done.skipped)

    @staticmethod
    def _name(name: str) -> str:
        if not isinstance(name, str) or not name.strip():
            raise UsageError("subject name must not be empty")
        return name.strip()

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

    enroll_many = bulk_enrol.enroll_many                # many subjects, one transaction (bulk_enrol.py)
    enrolled_sources = bulk_enrol.enrolled_sources      # SHA-256s of every enrolled photo, by subject

    def create_subject(self, name: str, metadata: dict[str, Any] | None = None) -> Subject:
        """A subject with no templates yet. Raises SubjectExistsError when the name is taken."""
        self._check_writable()
        name = self._name(name)
        if not self.store.create_subject(name, metadata):
            raise SubjectExistsError(f"a subject named {name!r} already exists")
        return self.store.subject(name)

    def rename_subject(self, old: str, new: str, *, merge: bool = False) -> Subject | None:
        """Rename a subject (None when there is none named `old`). When `new` is taken, merge=True
        moves old's templates to it (CompreFace's behaviour), else SubjectExistsError."""
        self._check_writable()
        new = self._name(new)
        if self.store.subject(old) is None:
            return None
        if old != new and not merge and self.store.subject(new) is not None:
            raise SubjectExistsError(f"a subject named {new!r} already exists")
        if not self.store.rename_subject(old, new):
            return None
        subject = self.store.subject(new)
        self._max_per_subject = max(self._max_per_subject, subject.templates)    # a merge grows it
        return subject

    def set_metadata(self, name: str, metadata: dict[str, Any]) -> Subject | None:
        """Replace a subject's metadata; None when there is no such subject."""
        self._check_writable()
        return self.store.subject(name) if self.store.set_subject_metadata(name, dict(metadata)) else None

    def delete(self, name: str) -> bool:
        """Remove a subject and every template of it from the store, the WAL, and the index file.
        Raises GalleryPurgePendingError when the deletion committed but another process's open read
        keeps the bytes in the file until this gallery's next write or close."""
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

    def delete_examples(self, ids: Sequence[int], *, subject: str | None = None) -> list[tuple[int, str]]:
        """Remove single templates by id (only those of `subject` when given); returns (id, subject
        name) of those deleted. Their subjects stay, even with no template left."""
        self._check_writable()
        ids = [int(i) for i in ids]
        if subject is not None:
            owners = self.store.subject_of(ids)
            ids = [i for i in ids if i in owners and owners[i][1] == subject]
        done = self.store.delete_templates(ids, before_commit=self.index.discard_file) if ids else []
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

    def subject_page(self, query: str | None = None, offset: int = 0, limit: int = 100) -> tuple[list[Subject], int]:
        """Subjects ordered by name, `limit` from `offset`, whose name contains `query` (any case),
        and how many match in all."""
        return self.store.subject_page(query or None, offset, limit)

    def examples(self, subject: str | None = None, offset: int = 0, limit: int = 100) -> tuple[list[Example], int]:
        """A page of stored templates (of one subject, or of every subject) ordered by id, with
        their quality and photo SHA-256, and how many there are in all."""
        return self.store.examples(subject, offset, limit)

    def example_owners(self, ids: Sequence[int]) -> dict[int, str]:
        """{template id: subject name} for those of `ids` that exist."""
        return {i: name for i, (_, name) in self.store.subject_of([int(i) for i in ids]).items()}

    def example_vector(self, template_id: int) -> np.ndarray | None:
        """One stored template's vector (decrypted), or None when there is no such template."""
        ids, vecs = self.store.vectors_between(int(template_id), int(template_id))
        return vecs[0] if len(ids) else None

    @property
    def size(self) -> int:
        """Enrolled subjects: the N the FPIR thresholds are computed for."""
        return self.store.counts()["subjects"]

    def stats(self) -> dict[str, Any]:
        counts = self.store.counts()
        return {**counts, "model": self.model, "index": self.index.factory,
                "indexed": self.index.count(), "seq": self.store.last_seq()}

    def _vectors(self, probe) -> tuple[np.ndarray, list[bool]]:
        """The probes' unit vectors, and which of them are unmasked templates (their scores are
        equalised, scoring.equalise); raw vectors never are."""
        if isinstance(probe, Template):
            if self.model and probe.model != self.model:
                raise ModelMismatchError(f"probe is a {probe.model!r} template; gallery holds {self.model!r}")
            return probe.vector[None], [probe.unmasked]
        if isinstance(probe, (list, tuple)) and probe and isinstance(probe[0], Template):
            parts = [self._vectors(t) for t in probe]
            return np.vstack([v for v, _ in parts]), [f for _, fs in parts for f in fs]
        v = l2_normalise(np.atleast_2d(np.asarray(probe, np.float32)))
        return v, [False] * len(v)

    def search_batch(self, probes, k: int = 5) -> list[list[Match]]:
        """Ranked subjects per probe (Templates or raw vectors). A subject with several templates is
        scored by its mean template (ranking.centroids; figures: bench/results/ and README)."""
        self.sync()
        vecs, unmasked = self._vectors(probes)
        # Over-fetch templates so that k distinct subjects survive grouping by subject.
        kt = min(max(k * self._max_per_subject, k) + 8, 4096)
        scores, ids = self.index.search(vecs, kt)
        owners = self.store.subject_of(np.unique(ids[ids >= 0]))
        subjects = self.store.subjects_by_id({sid for sid, _ in owners.values()})
        several = [sid for sid, s in subjects.items() if s.templates > 1]
        means = ranking.centroids(self.store.vectors_of_subjects(several)) if several else {}
        return ranking.rank(vecs, unmasked, scores, ids, k=k, model=self.model, owners=owners, subjects=subjects,
                            means=means)

    def search(self, probe, k: int = 5) -> list[Match]:
        return self.search_batch(probe, k)[0]

    def population_calibration(self) -> dict[str, Any]:
        """Observed FMR among this gallery's own subjects at the 1:1 threshold and at the open-set one
        in force (gallery.population; sampled past a few million pairs, said in the answer)."""
        return population.calibration(self.store, self.model, self.default_fpir, self.size).as_dict()

    def threshold_for_fpir(self, fpir: float) -> float:
        """Open-set threshold for a target false-positive identification rate at this gallery's
        size (scoring.threshold_for_fpir)."""
        return scoring.threshold_for_fpir(self.model, fpir, self.size)

    @property
    def default_fpir(self) -> float:
        """The FPIR identify() targets when none is passed: this session's (Gallery.open(fpir=)),
        else the gallery's own (set_default_fpir), else 0.001."""
        if self._fpir is not None:
            return self._fpir
        return float(self.store.meta().get("fpir", scoring.DEFAULT_FPIR))

    def set_default_fpir(self, fpir: float) -> None:
        """Store the gallery's default FPIR (every process that opens it uses it)."""
        self._check_writable()
        self.store.set_meta({"fpir": repr(scoring.check_fpir(fpir))})

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
        size = self.size
        if threshold is None:
            fpir = self.default_fpir if fpir is None else float(fpir)
            threshold = scoring.threshold_for_fpir(self.model, fpir, size)     # the size just counted
        return ranking.decide(templates, self.search_batch(templates, k), threshold=threshold, fpir=fpir, size=size)
