"""Protocols of the gallery's two halves: the TemplateStore (source of truth) and the GalleryIndex
(a search structure that can always be rebuilt or repaired from the store)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Iterable, Iterator, NamedTuple, Protocol, Sequence, runtime_checkable

import numpy as np

from ..types import Subject


class Skip(NamedTuple):
    """An input enrolment left out: its position among the inputs, its photo SHA-256 (or
    "input N"), why in words, and a code ("duplicate", "near_duplicate", "masked", "low_quality",
    "not_best")."""
    index: int
    input: str
    reason: str
    code: str


@dataclass(frozen=True)
class Enrolment:
    """What one enrol call did: the subject, the template ids it added, and the inputs it skipped."""
    subject: Subject
    added: list[int]
    skipped: list[Skip] = field(default_factory=list)


@dataclass(frozen=True)
class Example:
    """One stored template of a subject, as the service lists it (no vector): its id, owner, quality
    score, the SHA-256 of the photo it came from, and when it was enrolled."""
    id: int
    subject: str
    quality: float | None
    source_sha256: str | None
    created: str


@dataclass(frozen=True)
class Change:
    """One entry of the store's change log, in commit order: templates first_id..last_id were
    added ("add") or removed ("del")."""
    seq: int
    op: str
    first_id: int
    last_id: int


@runtime_checkable
class TemplateStore(Protocol):
    """Subjects and templates, with a change log the index replays. Every write method commits
    atomically: it either fully happens or not at all. A readonly store never writes or takes a
    write lock; `cipher` is set when template vectors are encrypted at rest (gallery/crypto.py)."""

    readonly: bool
    cipher: Any

    # -- meta and plumbing
    def meta(self) -> dict[str, str]: ...
    def set_meta(self, values: dict[str, str]) -> None: ...
    def write_lock(self) -> ContextManager[Any]: ...
    def rekey(self, key: bytes | None) -> None: ...
    def close(self) -> None: ...

    # -- writes (each one transaction; deletions call before_commit inside it)
    def enroll(self, name: str, metadata: dict[str, Any] | None, vectors: np.ndarray,
               qualities: Sequence[float], sources: Sequence[str | None]) -> tuple[int, list[int]]: ...
    def add_bulk(self, names: Sequence[str], vectors: np.ndarray) -> list[int]: ...
    def create_subject(self, name: str, metadata: dict[str, Any] | None) -> bool: ...
    def rename_subject(self, old: str, new: str) -> bool: ...
    def set_subject_metadata(self, name: str, metadata: dict[str, Any]) -> bool: ...
    def delete_subject(self, name: str, before_commit: Callable[[list[int]], None] | None = None
                       ) -> list[int] | None: ...
    def delete_templates(self, ids: Iterable[int], before_commit: Callable[[], None] | None = None
                         ) -> list[tuple[int, str]]: ...

    # -- subjects and examples
    def subject(self, name: str) -> Subject | None: ...
    def subjects(self) -> list[Subject]: ...
    def subject_page(self, query: str | None, offset: int, limit: int) -> tuple[list[Subject], int]: ...
    def subjects_by_id(self, ids: Iterable[int]) -> dict[int, Subject]: ...
    def subject_of(self, template_ids: Sequence[int]) -> dict[int, tuple[int, str]]: ...
    def sources_of(self, name: str) -> set[str]: ...
    def examples(self, subject: str | None, offset: int, limit: int) -> tuple[list[Example], int]: ...

    # -- vectors and the change log the index replays
    def vectors_between(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray]: ...
    def vectors_of_subjects(self, subject_ids: Iterable[int]) -> dict[int, np.ndarray]: ...
    def iter_templates(self, batch: int = 100_000) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...
    def changes_since(self, seq: int) -> list[Change]: ...
    def last_seq(self) -> int: ...
    def counts(self) -> dict[str, int]: ...
    def max_template_id(self) -> int: ...
    def max_templates_per_subject(self, first_id: int | None = None, last_id: int | None = None) -> int: ...


@runtime_checkable
class GalleryIndex(Protocol):
    """Maximum-inner-product search over template vectors keyed by template id."""

    factory: str        # what it is, for stats: a FAISS factory string or "milvus"
    dirty: bool         # holds changes its saved file lacks (persist() would write something)
    header: dict | None  # what the saved file said it reflects (seq, count, max_id); None: no file
    cipher: Any         # encrypts the saved file (crypto.Cipher); None: clear, or no file at all
    encryptable: bool   # whether the vectors it keeps can be encrypted at rest

    def discard_file(self) -> None:
        """Remove the saved file (it may hold vectors that are being deleted); rebuilt when needed."""
        ...

    def check_capacity(self, n_total: int) -> None:
        """Raise, before anything is written, if the index cannot hold n_total templates yet
        (e.g. an untrained IVF index given too few to train on)."""
        ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...
    def remove(self, ids: np.ndarray) -> None: ...
    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...
    def reset(self) -> None: ...
    def count(self) -> int: ...
    def applied_seq(self) -> int: ...
    def set_applied_seq(self, seq: int) -> None: ...
    def persist(self, position: dict | None = None) -> None: ...
    def close(self) -> None: ...
