"""What the SQLite and PostgreSQL stores share: row decoding and every read query (written with
"?" placeholders; the PostgreSQL store translates them)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np

from .base import Change, Subject


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def unpack(rows: list[tuple], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(id, vector blob) rows -> (ids, (N, dim) float32)."""
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    return (np.array([r[0] for r in rows], np.int64),
            np.frombuffer(b"".join(bytes(r[1]) for r in rows), np.float32).reshape(len(rows), -1))


class SQLReads:
    """Read side of a TemplateStore over a DB-API connection; subclasses provide _q(sql, args)."""

    _SUBJECT_SQL = ("SELECT s.id, s.name, s.metadata, s.created, s.updated, "
                    "(SELECT count(*) FROM templates t WHERE t.subject_id = s.id) FROM subjects s")

    def _q(self, sql: str, args=()) -> list[tuple]:
        raise NotImplementedError

    @staticmethod
    def _subject(r) -> Subject:
        return Subject(id=r[0], name=r[1], metadata=json.loads(r[2]), created=r[3], updated=r[4], templates=r[5])

    def meta(self):
        return dict(self._q("SELECT key, value FROM meta"))

    def subject(self, name):
        rows = self._q(self._SUBJECT_SQL + " WHERE s.name = ?", (name,))
        return self._subject(rows[0]) if rows else None

    def subjects(self):
        return [self._subject(r) for r in self._q(self._SUBJECT_SQL + " ORDER BY s.name")]

    def vectors_between(self, first, last):
        rows = self._q("SELECT id, vector FROM templates WHERE id BETWEEN ? AND ? ORDER BY id", (first, last))
        return unpack(rows, int(self.meta().get("dim", 0)))

    def iter_templates(self, batch=100_000):
        last = 0
        while True:
            rows = self._q("SELECT id, vector FROM templates WHERE id > ? ORDER BY id LIMIT ?", (last, batch))
            if not rows:
                return
            last = rows[-1][0]
            yield unpack(rows, 0)

    def changes_since(self, seq):
        return [Change(*r) for r in self._q("SELECT seq, op, first_id, last_id FROM changes WHERE seq > ? ORDER BY seq", (seq,))]

    def last_seq(self):
        return int(self._q("SELECT coalesce(max(seq), 0) FROM changes")[0][0])

    def counts(self):
        return {"subjects": int(self._q("SELECT count(*) FROM subjects")[0][0]),
                "templates": int(self._q("SELECT count(*) FROM templates")[0][0])}

    def max_templates_per_subject(self):
        return int(self._q("SELECT coalesce(max(n), 0) FROM (SELECT count(*) n FROM templates GROUP BY subject_id) x")[0][0])
