"""What the SQLite and PostgreSQL stores share: row decoding, every read query, and the enrolment
transactions (SQL written with "?" placeholders; the PostgreSQL store translates them)."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import numpy as np

from ..errors import GalleryKeyError
from ..util import chunks
from .base import Change, Example, Subject
from .crypto import ALGORITHM, Cipher, check_key


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def unpack(rows: list[tuple], dim: int, cipher: Cipher | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(id, vector blob) rows -> (ids, (N, dim) float32), decrypting each blob when encrypted."""
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    blobs = (bytes(r[1]) for r in rows) if cipher is None else (cipher.open(r[0], r[1]) for r in rows)
    return (np.array([r[0] for r in rows], np.int64),
            np.frombuffer(b"".join(blobs), np.float32).reshape(len(rows), -1))


class SQLStore:
    """A TemplateStore over a DB-API connection. Subclasses provide _tx() (a write transaction
    yielding something with execute()), _q(sql, args) for reads, _insert(c, rows) for template rows
    and _subject_ids(c, names, ts) for bulk subject creation, and translate placeholders in _sql().
    They call _setup(key) once connected; readonly stores never write anything."""

    cipher: Cipher | None = None
    readonly = False
    where = ""

    _SUBJECT_SQL = ("SELECT s.id, s.name, s.metadata, s.created, s.updated, "
                    "(SELECT count(*) FROM templates t WHERE t.subject_id = s.id) FROM subjects s")

    def _q(self, sql: str, args=()) -> list[tuple]:
        raise NotImplementedError

    @staticmethod
    def _sql(sql: str) -> str:
        return sql

    def _setup(self, key: bytes | None) -> None:
        """First writable open: give the gallery its random identity (index files carry it, so a
        file from another gallery is never taken for this one's) and, when created with a key and
        still empty, mark it encrypted. Then check the key against the gallery."""
        if not self.readonly:
            with self._tx() as c:
                meta = dict(c.execute("SELECT key, value FROM meta").fetchall())
                new = {}
                if "gallery_id" not in meta:
                    new["gallery_id"] = uuid.uuid4().hex
                if key is not None and "encryption" not in meta and \
                        not c.execute("SELECT count(*) FROM templates").fetchone()[0]:
                    new.update(encryption=ALGORITHM, key_check=Cipher(key).check)
                for k, v in new.items():
                    c.execute(self._sql("INSERT INTO meta(key, value) VALUES (?, ?)"), (k, v))
        self.cipher = check_key(self.meta(), key, self.where)

    def _blob(self, template_id: int, vector: np.ndarray) -> bytes:
        data = vector.tobytes()
        return data if self.cipher is None else self.cipher.seal(template_id, data)

    def write_lock(self):
        """Hold the store's write lock (an empty write transaction): index files are written under
        it, so no deletion can commit between the index catching up and its file being replaced."""
        return self._tx()

    # -- writes -----------------------------------------------------------------------------
    def _next_template_id(self, c) -> int:
        row = c.execute("SELECT coalesce(max(last_id), 0) FROM changes WHERE op = 'add'").fetchone()
        return int(row[0]) + 1     # ids are never reused, even after deletes

    def _subject_id(self, c, name: str, metadata: dict | None, ts: str) -> int:
        row = c.execute(self._sql("SELECT id, metadata FROM subjects WHERE name = ?"), (name,)).fetchone()
        if row is None:
            return int(c.execute(self._sql("INSERT INTO subjects(name, metadata, created, updated) "
                                           "VALUES (?, ?, ?, ?) RETURNING id"),
                                 (name, json.dumps(metadata or {}), ts, ts)).fetchone()[0])
        merged = {**json.loads(row[1]), **(metadata or {})}
        c.execute(self._sql("UPDATE subjects SET metadata = ?, updated = ? WHERE id = ?"), (json.dumps(merged), ts, row[0]))
        return int(row[0])

    def _add_templates(self, c, subject_ids, vectors, qualities, sources, ts) -> list[int]:
        """Insert templates with consecutive new ids and log them as one change."""
        row = c.execute("SELECT value FROM meta WHERE key = 'key_check'").fetchone()
        if (row[0] if row else None) != (self.cipher.check if self.cipher else None):
            raise GalleryKeyError(f"gallery {self.where} was re-keyed by another process since it was opened; "
                                  "reopen it with its current key (nothing was written)")
        first, n = self._next_template_id(c), len(vectors)
        self._insert(c, ((first + i, subject_ids[i], self._blob(first + i, vectors[i]),
                          None if qualities is None else float(qualities[i]),
                          None if sources is None else sources[i], ts) for i in range(n)))
        if n:
            c.execute(self._sql("INSERT INTO changes(op, first_id, last_id) VALUES ('add', ?, ?)"), (first, first + n - 1))
        return list(range(first, first + n))

    def rekey(self, key: bytes | None) -> None:
        """Re-encrypt every template under `key` (None: store them in clear) in one transaction;
        the caller then purges the old ciphertexts (_purge)."""
        new = Cipher(key) if key is not None else None
        with self._tx() as c:
            last = 0
            while True:
                rows = c.execute(self._sql("SELECT id, vector FROM templates WHERE id > ? ORDER BY id LIMIT 10000"),
                                 (last,)).fetchall()
                if not rows:
                    break
                last = rows[-1][0]
                ids, vecs = unpack(rows, 0, self.cipher)
                c.executemany(self._sql("UPDATE templates SET vector = ? WHERE id = ?"),
                              [(v.tobytes() if new is None else new.seal(int(i), v.tobytes()), int(i))
                               for i, v in zip(ids, vecs)])
            c.execute("DELETE FROM meta WHERE key IN ('encryption', 'key_check')")
            if new is not None:
                c.executemany(self._sql("INSERT INTO meta(key, value) VALUES (?, ?)"),
                              [("encryption", ALGORITHM), ("key_check", new.check)])
        self.cipher = new
        self._purge(rewrite=True)

    def _purge(self, rewrite: bool = False) -> bool:
        """Make deleted or replaced template bytes leave the database files (rewrite: every row was
        replaced); False when it must wait for readers."""
        return True

    def enroll_many(self, subjects, vectors, qualities, sources):
        """Templates of several subjects in one transaction and one change: subjects[i] is the
        (name, metadata) owning vectors[i]; missing subjects are created. Returns {name: (subject id,
        its new template ids)}."""
        ts = now()
        vectors = np.ascontiguousarray(vectors, np.float32)
        with self._tx() as c:
            sid = {name: self._subject_id(c, name, metadata, ts) for name, metadata in dict(subjects).items()}
            ids = self._add_templates(c, [sid[name] for name, _ in subjects], vectors, qualities, sources, ts)
        out: dict[str, tuple[int, list[int]]] = {name: (i, []) for name, i in sid.items()}
        for (name, _), tid in zip(subjects, ids):
            out[name][1].append(tid)
        return out

    def add_bulk(self, names, vectors):
        ts = now()
        vectors = np.ascontiguousarray(vectors, np.float32)
        with self._tx() as c:
            sid = self._subject_ids(c, list(dict.fromkeys(names)), ts)
            ids = self._add_templates(c, [sid[n] for n in names], vectors, None, None, ts)
        return ids

    # -- reads ------------------------------------------------------------------------------

    @staticmethod
    def _subject(r) -> Subject:
        return Subject(id=r[0], name=r[1], metadata=json.loads(r[2]), created=r[3], updated=r[4], templates=r[5])

    def meta(self):
        return dict(self._q("SELECT key, value FROM meta"))

    def subject(self, name):
        rows = self._q(self._SUBJECT_SQL + " WHERE s.name = ?", (name,))
        return self._subject(rows[0]) if rows else None

    def subjects_by_id(self, ids):
        """{id: Subject} for the given subject ids (search results carry each subject's metadata)."""
        ids = sorted(int(i) for i in ids)
        out = {}
        for chunk in chunks(ids):
            rows = self._q(self._SUBJECT_SQL + f" WHERE s.id IN ({','.join('?' * len(chunk))})", chunk)
            out.update({r[0]: self._subject(r) for r in rows})
        return out

    def sources_of(self, name):
        """SHA-256s of the photos already enrolled for this subject."""
        return {r[0] for r in self._q("SELECT t.source_sha256 FROM templates t JOIN subjects s ON s.id = t.subject_id "
                                      "WHERE s.name = ? AND t.source_sha256 IS NOT NULL", (name,))}

    def enrolled_sources(self):
        """{subject name: SHA-256s of its enrolled photos} for every subject (a bulk job's resume set)."""
        out: dict[str, set[str]] = {}
        for name, sha in self._q("SELECT s.name, t.source_sha256 FROM templates t JOIN subjects s ON s.id = t.subject_id "
                                 "WHERE t.source_sha256 IS NOT NULL"):
            out.setdefault(name, set()).add(sha)
        return out

    def subjects(self):
        return [self._subject(r) for r in self._q(self._SUBJECT_SQL + " ORDER BY s.name")]

    def vectors_between(self, first, last):
        rows = self._q("SELECT id, vector FROM templates WHERE id BETWEEN ? AND ? ORDER BY id", (first, last))
        return unpack(rows, int(self.meta().get("dim", 0)), self.cipher)

    def vectors_of_subjects(self, subject_ids):
        """{subject id: (n, dim) template vectors} (centroid subject scores need all of a subject's)."""
        ids = sorted(int(i) for i in subject_ids)
        out: dict[int, list] = {}
        for chunk in chunks(ids):
            rows = self._q(f"SELECT subject_id, id, vector FROM templates WHERE subject_id IN ({','.join('?' * len(chunk))}) "
                           "ORDER BY id", chunk)
            for sid, tid, blob in rows:
                out.setdefault(sid, []).append((tid, blob))
        dim = int(self.meta().get("dim", 0))
        return {sid: unpack(rows, dim, self.cipher)[1] for sid, rows in out.items()}

    def iter_templates(self, batch=100_000):
        last = 0
        while True:
            rows = self._q("SELECT id, vector FROM templates WHERE id > ? ORDER BY id LIMIT ?", (last, batch))
            if not rows:
                return
            last = rows[-1][0]
            yield unpack(rows, 0, self.cipher)

    def changes_since(self, seq):
        return [Change(*r) for r in self._q("SELECT seq, op, first_id, last_id FROM changes WHERE seq > ? ORDER BY seq", (seq,))]

    def last_seq(self):
        return int(self._q("SELECT coalesce(max(seq), 0) FROM changes")[0][0])

    def counts(self):
        return {"subjects": int(self._q("SELECT count(*) FROM subjects")[0][0]),
                "templates": int(self._q("SELECT count(*) FROM templates")[0][0])}

    def max_template_id(self) -> int:
        return int(self._q("SELECT coalesce(max(id), 0) FROM templates")[0][0])

    def max_templates_per_subject(self, first_id=None, last_id=None):
        """Most templates any subject has; with first_id..last_id, among the owners of those templates."""
        where, args = "", ()
        if first_id is not None:
            where = " WHERE subject_id IN (SELECT subject_id FROM templates WHERE id BETWEEN ? AND ?)"
            args = (first_id, last_id)
        return int(self._q("SELECT coalesce(max(n), 0) FROM (SELECT count(*) n FROM templates"
                           f"{where} GROUP BY subject_id) x", args)[0][0])

    # -- subject and template operations ------------------------------------------------------

    def create_subject(self, name: str, metadata: dict | None) -> bool:
        """A subject with no templates yet; False when the name is taken."""
        ts = now()
        with self._tx() as c:
            if c.execute(self._sql("SELECT 1 FROM subjects WHERE name = ?"), (name,)).fetchone():
                return False
            c.execute(self._sql("INSERT INTO subjects(name, metadata, created, updated) VALUES (?, ?, ?, ?)"),
                      (name, json.dumps(metadata or {}), ts, ts))
        return True

    def rename_subject(self, old: str, new: str) -> bool:
        """Rename; when `new` exists, old's templates join it (CompreFace's merge). Template ids and
        vectors are unchanged, so the index needs no change."""
        with self._tx() as c:
            src = c.execute(self._sql("SELECT id FROM subjects WHERE name = ?"), (old,)).fetchone()
            if src is None:
                return False
            dst = c.execute(self._sql("SELECT id FROM subjects WHERE name = ?"), (new,)).fetchone()
            if dst is None:
                c.execute(self._sql("UPDATE subjects SET name = ?, updated = ? WHERE id = ?"), (new, now(), src[0]))
            elif dst[0] != src[0]:
                c.execute(self._sql("UPDATE templates SET subject_id = ? WHERE subject_id = ?"), (dst[0], src[0]))
                c.execute(self._sql("DELETE FROM subjects WHERE id = ?"), (src[0],))
        return True

    def set_subject_metadata(self, name: str, metadata: dict) -> bool:
        """Replace a subject's metadata; False when there is no such subject."""
        with self._tx() as c:
            cur = c.execute(self._sql("UPDATE subjects SET metadata = ?, updated = ? WHERE name = ?"),
                            (json.dumps(metadata), now(), name))
            return cur.rowcount > 0

    def subject_page(self, query: str | None, offset: int, limit: int) -> tuple[list[Subject], int]:
        """Subjects by name, `limit` from `offset`, whose name contains `query` (any case); and how
        many match in all."""
        where, args = "", ()
        if query:
            pattern = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where, args = " WHERE lower(s.name) LIKE ? ESCAPE '\\'", (pattern,)
        total = int(self._q("SELECT count(*) FROM subjects s" + where, args)[0][0])
        rows = self._q(self._SUBJECT_SQL + where + " ORDER BY s.name LIMIT ? OFFSET ?", (*args, limit, offset))
        return [self._subject(r) for r in rows], total

    def examples(self, subject: str | None, offset: int, limit: int) -> tuple[list[Example], int]:
        """A page of templates (of one subject, or of all) ordered by id, and how many there are."""
        where, args = ("WHERE s.name = ?", [subject]) if subject is not None else ("", [])
        base = "FROM templates t JOIN subjects s ON s.id = t.subject_id " + where
        total = int(self._q("SELECT count(*) " + base, tuple(args))[0][0])
        rows = self._q("SELECT t.id, s.name, t.quality, t.source_sha256, t.created " + base +
                       " ORDER BY t.id LIMIT ? OFFSET ?", (*args, limit, offset))
        return [Example(*r) for r in rows], total

    def delete_templates(self, ids, before_commit=None) -> list[tuple[int, str]]:
        """Delete these templates (missing ids are ignored); returns (id, subject name) of those
        deleted. before_commit() runs inside the transaction, as in delete_subject."""
        ids = [int(i) for i in ids]
        out = []
        with self._tx() as c:
            for i in ids:
                row = c.execute(self._sql("SELECT s.name FROM templates t JOIN subjects s ON s.id = t.subject_id "
                                          "WHERE t.id = ?"), (i,)).fetchone()
                if row is None:
                    continue
                c.execute(self._sql("DELETE FROM templates WHERE id = ?"), (i,))
                c.execute(self._sql("INSERT INTO changes(op, first_id, last_id) VALUES ('del', ?, ?)"), (i, i))
                out.append((i, row[0]))
            if out and before_commit is not None:
                before_commit()
        if out:
            self._purge()       # False: a reader holds old pages; they go at the next write or close
        return out
