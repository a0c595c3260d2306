"""The bounded work queue of one worker: model and gallery work runs in a small thread pool;
when too many requests are already waiting the next is refused at once with 503 + Retry-After
instead of piling up."""
from __future__ import annotations

import threading
from typing import Callable

import anyio

from .errors import ServiceError


class WorkQueue:
    def __init__(self, threads: int, max_pending: int, thread_setup: Callable[[], None] | None = None):
        """thread_setup runs once in each pool thread before its first job (per-thread library
        settings, e.g. OpenMP's thread count)."""
        self.limiter = anyio.CapacityLimiter(threads)
        self.max_pending = max_pending
        self.pending = 0
        self._setup = thread_setup
        self._ready = threading.local()

    def _call(self, fn, *args):
        if self._setup is not None and not getattr(self._ready, "done", False):
            self._setup()
            self._ready.done = True
        return fn(*args)

    async def run(self, fn, *args):
        if self.pending >= self.max_pending:
            raise ServiceError(503, "busy", "the server is busy; retry shortly", 0, headers={"Retry-After": "1"})
        self.pending += 1
        try:
            return await anyio.to_thread.run_sync(self._call, fn, *args, limiter=self.limiter)
        finally:
            self.pending -= 1
