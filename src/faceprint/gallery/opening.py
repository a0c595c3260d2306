"""Gallery.open's half that picks and opens a store and an index for a location."""
from __future__ import annotations

from pathlib import Path

from ..errors import GalleryError, GalleryNotFoundError, UsageError
from .base import GalleryIndex, TemplateStore
from .index_faiss import FaissIndex


def is_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def open_store(location: str, *, create: bool, readonly: bool, key: bytes | None) -> tuple[TemplateStore, bool]:
    """(the store at location, whether this call created it): a SQLite file or a PostgreSQL URL."""
    if readonly and create:
        raise UsageError("a gallery opened read-only cannot be created")
    if is_url(location):
        from .store_postgres import PostgresStore
        return PostgresStore(location, create=create, readonly=readonly, key=key), False
    if not create and not Path(location).exists():
        raise GalleryNotFoundError(f"gallery {location} does not exist; check the path, or enrol someone to create it")
    is_new = create and not Path(location).exists()
    from .store_sqlite import SQLiteStore
    return SQLiteStore(location, create=create, readonly=readonly, key=key), is_new


def stored_model(location: str, *, key: bytes | None = None) -> str | None:
    """The model id an existing gallery's templates were made by (None: no such gallery, or empty),
    read from its store alone: no index is loaded."""
    try:
        store, _ = open_store(location, create=False, readonly=True, key=key)
    except GalleryNotFoundError:
        return None
    try:
        return store.meta().get("model") or None
    finally:
        store.close()


def open_index(store: TemplateStore, location: str, index: str, *, dim: int, search_params: str | None,
               index_path: str | Path | None, readonly: bool) -> GalleryIndex:
    """The index named by `index` (a FAISS factory string or "milvus:..."), for this store."""
    meta = store.meta()
    if index.startswith("milvus:"):
        if store.cipher is not None:
            raise GalleryError("a Milvus index keeps vectors in clear, so it cannot serve an encrypted "
                               "gallery; use a FAISS index (the default) with encryption")
        from .index_milvus import MilvusIndex
        return MilvusIndex(index.partition(":")[2], dim=dim, store=store, collection=meta.get("milvus_collection"))
    if index_path is None and not is_url(location):
        index_path = location + ".index"
    idx = FaissIndex(dim, index, path=index_path, search_params=search_params, identity=meta.get("gallery_id"),
                     cipher=store.cipher)
    if not readonly:
        with store.write_lock():
            idx.remove_temporaries()
    return idx
