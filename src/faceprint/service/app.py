"""create_app(settings): the FastAPI app. Its lifespan loads the models once per worker and opens
every gallery it serves; routes are one module per area under routes/."""
from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .._version import __version__
from . import errors
from .routes import admin, compreface, detect, gallery, verify
from .schemas import Health
from .settings import Settings
from .similarity import SimilarityMap
from .tables import ServiceTables
from .uploads import BodyLimit
from .work import WorkQueue

WEB = Path(__file__).parent / "web"
log = logging.getLogger("faceprint.service")


def open_galleries(settings: Settings, engine=None) -> tuple[dict, dict]:
    """Every configured gallery, which must already exist (create one with `faceprint keys create`
    or `faceprint enroll`), and the service's own tables in each: ({name: Gallery}, {name: ServiceTables})."""
    from ..gallery import Gallery
    key = settings.encryption_key()
    extra = {"encryption_key": key} if key else {}
    galleries: dict = {}
    tables: dict = {}
    try:
        for name, location in settings.galleries.items():
            galleries[name] = Gallery.open(location, engine=engine, index=settings.index, **extra)
            tables[name] = ServiceTables.open(location)
    except BaseException:
        for opened in (*galleries.values(), *tables.values()):
            opened.close()
        raise
    return galleries, tables


@asynccontextmanager
async def lifespan(app: FastAPI):
    from ..engine import Engine
    s: Settings = app.state.settings
    threads = s.threads or max(1, (os.cpu_count() or 1) // s.workers)
    engine = Engine.for_model(s.embedder or "sface", detector=s.detector, threads=threads, liveness=s.liveness)
    import faiss
    # FAISS's OpenMP threads: N workers each spinning all cores' threads would oversubscribe the
    # machine (fewer identifications per second: bench/service_load.py). OpenMP keeps the setting per
    # thread, so each thread of the work queue makes it, not just this one.
    app.state.engine = engine
    app.state.galleries, app.state.tables = open_galleries(s, engine)
    app.state.similarity = SimilarityMap(engine.model_id)
    app.state.work = WorkQueue(s.engine_threads, s.max_pending,
                               thread_setup=lambda: faiss.omp_set_num_threads(threads))
    try:
        yield
    finally:
        for opened in (*app.state.galleries.values(), *app.state.tables.values()):
            opened.close()


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="faceprint", version=__version__, lifespan=lifespan,
                  description="Offline face detection, verification and identification. Native API under "
                              "/v1/; CompreFace-compatible API under /api/v1/. Send a key from "
                              "`faceprint keys create` in the x-api-key header.")
    app.state.settings = settings
    errors.install(app)

    @app.get("/health", response_model=Health, tags=["service"])
    def health() -> Health:
        """Liveness for load balancers; needs no key."""
        return Health(status="ok", galleries=sorted(app.state.galleries), model=app.state.engine.model_id,
                      worker_pid=os.getpid())

    for module in (detect, verify, gallery, admin, compreface):
        app.include_router(module.router)
    app.mount("/", StaticFiles(directory=WEB, html=True), name="web")
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    return app


def app_from_env() -> FastAPI:
    """The factory uvicorn calls in each worker process (`--workers N`)."""
    return create_app(Settings.from_env())
