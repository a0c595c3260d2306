"""create_app(settings): the FastAPI app. Its lifespan loads the models once per worker and opens
every gallery it serves; routes are one module per area under routes/."""
from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .. import __version__
from . import errors
from .routes import compreface, detect, gallery, verify
from .schemas import Health
from .settings import Settings
from .similarity import SimilarityMap
from .uploads import BodyLimit
from .work import WorkQueue

WEB = Path(__file__).parent / "web"
log = logging.getLogger("faceprint.service")


def open_galleries(settings: Settings, engine=None) -> dict:
    """Every configured gallery, which must already exist (create one with `faceprint keys create`
    or `faceprint enroll`)."""
    from ..gallery import Gallery
    key = settings.encryption_key()
    extra = {"encryption_key": key} if key else {}
    out = {}
    try:
        for name, location in settings.galleries.items():
            out[name] = Gallery.open(location, engine=engine, index=settings.index, **extra)
    except BaseException:
        for g in out.values():
            g.close()
        raise
    return out


@asynccontextmanager
async def lifespan(app: FastAPI):
    from ..engine import Engine
    s: Settings = app.state.settings
    threads = s.threads or max(1, (os.cpu_count() or 1) // s.workers)
    engine = Engine(detector=s.detector, embedder=s.embedder, threads=threads)
    import faiss
    # FAISS's OpenMP pool is process-wide too: N workers each spinning all cores' threads would
    # oversubscribe the machine (measured here: a third fewer identifications per second).
    faiss.omp_set_num_threads(threads)
    app.state.engine = engine
    app.state.galleries = open_galleries(s, engine)
    app.state.similarity = SimilarityMap(engine.model_id)
    app.state.work = WorkQueue(s.engine_threads, s.max_pending)
    try:
        yield
    finally:
        for g in app.state.galleries.values():
            g.close()


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

    for module in (detect, verify, gallery, compreface):
        app.include_router(module.router)
    app.mount("/", StaticFiles(directory=WEB, html=True), name="web")
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    return app


def app_from_env() -> FastAPI:
    """The factory uvicorn calls in each worker process (`--workers N`)."""
    return create_app(Settings.from_env())
