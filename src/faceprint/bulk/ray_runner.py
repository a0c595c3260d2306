"""Templates made by Ray Data: the listing becomes a dataset, and map_batches runs TemplateMaker on
a pool of actors (each loads the Engine once, its OpenVINO threads = its CPUs). Ray Data retries
the batches of an actor that dies (a lost node) on a restarted one. The only module importing Ray."""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from dataclasses import replace
from typing import Any, Iterator

from ..errors import ClusterError
from .maker import Batch, EngineSpec, TemplateMaker

INSTALL = "pip install 'faceprint[cluster]'"


def _ray():
    # Ray's C++ notes (auth mode, actor restart caveats) go to stderr; its failures reach us as
    # exceptions. Read when Ray is imported.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ClusterError(f"--cluster needs Ray Data, which is not installed: {INSTALL}") from None
    return ray


@contextlib.contextmanager
def _stderr_silenced(silence: bool):
    """File descriptor 2 to /dev/null while Ray starts: its C++ core prints notes there (token
    authentication, its own log level) that no logging setting reaches. Failures still raise."""
    if not silence:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _verbose() -> bool:
    return logging.getLogger("faceprint").isEnabledFor(logging.DEBUG)


class RayRunner:
    """address: what ray.init(address=...) accepts ("auto", "HOST:6379", "ray://HOST:10001"), or
    "local" for a private Ray on this machine. workers: actors (default: one per cluster CPU / cpus);
    cpus: CPUs (and inference threads) of each actor."""

    def __init__(self, spec: EngineSpec, address: str, *, workers: int | None = None, cpus: int = 1,
                 object_store_memory: int | None = None):
        self.spec, self.address, self.workers, self.cpus = replace(spec, threads=cpus), address, workers, cpus
        self.object_store_memory = object_store_memory
        self.name = f"ray {address}"
        _ray()
        self._probe()       # both before a caller opens or creates a gallery

    def _unreachable(self, why: str) -> ClusterError:
        return ClusterError(f"cannot connect to the Ray cluster at {self.address!r} ({why}); start one there with "
                            "`ray start --head`, check the address (HOST:6379, ray://HOST:10001, auto), or use "
                            "--cluster local for a private Ray on this machine")

    def _probe(self, timeout: float = 5.0) -> None:
        """Fail fast when HOST:PORT does not answer: Ray itself retries an absent head for ever."""
        host, _, port = self.address.split("://")[-1].rpartition(":")
        if not host or not port.isdigit():
            return          # "local", "auto", or a form Ray resolves itself
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
        except OSError as exc:
            raise self._unreachable(exc.strerror or str(exc)) from None

    def _connect(self, ray) -> None:
        quiet: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False,
                                 "logging_level": logging.WARNING}
        try:
            with _stderr_silenced(not _verbose()):
                if self.address == "local":
                    ray.init(object_store_memory=self.object_store_memory, **quiet)
                else:
                    ray.init(address=self.address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise self._unreachable(str(exc).splitlines()[0]) from None
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.WARNING if _verbose() else logging.CRITICAL)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False            # faceprint draws its own, in photos/s
        ctx.print_on_execution_start = False
        ctx.enable_auto_log_stats = False

    def run(self, rows: list[dict[str, str]], batch_size: int) -> Iterator[Batch]:
        ray = _ray()
        # The Ray driver prints cluster events (a node died, a retried task, with tracebacks) to stdout:
        # stdout keeps only faceprint's answer (--json); they go to stderr at log level debug, else
        # nowhere (a failure that ends the job still comes back as a ClusterError).
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(sys.stderr if _verbose() else devnull):
            yield from self._run(ray, rows, batch_size)

    def _run(self, ray, rows: list[dict[str, str]], batch_size: int) -> Iterator[Batch]:
        self._connect(ray)
        try:
            workers = self.workers or max(int(ray.cluster_resources().get("CPU", 1) // self.cpus), 1)
            # One block per batch (Ray's default cuts a small listing into one-row blocks); no more
            # actors than blocks (an idle actor only costs its Engine's load).
            blocks = min(max(-(-len(rows) // batch_size), 1), 10_000)
            workers = min(workers, blocks)
            self.name = f"ray {self.address}, {workers} worker(s) x {self.cpus} CPU"
            ds = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
                TemplateMaker, fn_constructor_kwargs={"spec": self.spec, "decode_threads": 2},
                batch_size=batch_size, batch_format="numpy", num_cpus=self.cpus,
                compute=ray.data.ActorPoolStrategy(min_size=workers, max_size=workers))
            try:
                yield from ds.iter_batches(batch_size=None, batch_format="numpy")
            except ray.exceptions.RayError as exc:
                raise ClusterError(f"the Ray cluster at {self.address!r} failed the job: "
                                   f"{str(exc).strip().splitlines()[-1]}; run the same command again to "
                                   "finish it (what was written is kept)") from None
        finally:
            ray.shutdown()
