"""Small helpers shared across the pipeline."""
from __future__ import annotations

from typing import Iterator, Sequence, TypeVar

T = TypeVar("T")

SQL_CHUNK = 900     # SQLite allows 999 bound parameters per statement


def chunks(items: Sequence[T], size: int = SQL_CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items."""
    for i in range(0, len(items), size):
        yield items[i:i + size]
