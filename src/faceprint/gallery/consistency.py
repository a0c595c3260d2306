"""Keeping a gallery's index consistent with its store: replaying the store's change log, checking a
saved index file against the store, rebuilding from scratch."""
from __future__ import annotations

import numpy as np

from .base import GalleryIndex, TemplateStore


def rebuild(store: TemplateStore, index: GalleryIndex) -> int:
    """Fill the index afresh from every template in the store; returns the most templates any
    subject has (the search over-fetch factor)."""
    index.reset()
    seq = store.last_seq()
    for ids, vecs in store.iter_templates():
        index.add(ids, vecs)
    index.set_applied_seq(seq)
    return store.max_templates_per_subject()


def replay(store: TemplateStore, index: GalleryIndex, applied: int) -> int:
    """Apply the changes after seq `applied` to the index (may raise IndexNeedsRebuild); returns the
    most templates a subject added to has now (only they can have grown: after deletions the old
    maximum stays an upper bound, so a delete never scans every template)."""
    most = 1
    missing: set[int] = set()      # ids deleted before their addition is replayed
    for ch in store.changes_since(applied):
        if ch.op == "add":
            ids, vecs = store.vectors_between(ch.first_id, ch.last_id)
            if len(ids) < ch.last_id - ch.first_id + 1:
                missing.update(set(range(ch.first_id, ch.last_id + 1)) - set(ids.tolist()))
            if len(ids):
                index.add(ids, vecs)
                most = max(most, store.max_templates_per_subject(ch.first_id, ch.last_id))
        else:
            gone = [i for i in range(ch.first_id, ch.last_id + 1) if i not in missing]
            if gone:
                index.remove(np.array(gone, np.int64))
        index.set_applied_seq(ch.seq)
    return most


def stale(store: TemplateStore, index: GalleryIndex, last_seq: int) -> bool:
    """Whether the index disagrees with the store: another template count, or a file saved at the
    store's current seq describing other templates (a restored or copied store can reach the same
    seq with other contents)."""
    count = store.counts()["templates"]
    header = index.header
    if header is not None and header.get("seq") == last_seq and (
            header.get("count") != count or header.get("max_id") != store.max_template_id()):
        return True
    return index.count() != count
