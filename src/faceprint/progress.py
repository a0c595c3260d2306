"""Progress bars on a terminal only: redirected output (log files, pipes, CI) gets no carriage returns."""
from __future__ import annotations

import logging
import sys
from typing import Iterable, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], *, desc: str = "", unit: str = "it", total: int | None = None,
             enabled: bool = True) -> Iterable[T]:
    """tqdm over `items` when stderr is a terminal and warnings are shown; the plain iterable otherwise."""
    if not enabled or not sys.stderr.isatty() or logging.getLogger("faceprint").getEffectiveLevel() > logging.WARNING:
        return items
    from tqdm import tqdm
    return tqdm(items, desc=desc, unit=unit, total=total)
