"""faceprint: offline face detection, alignment, embedding, verification and identification."""
from importlib import metadata as _metadata

from .engine import Engine
from .errors import (FaceprintError, GalleryError, GalleryKeyError, GalleryNotFoundError, GalleryPurgePendingError,
                     ImageDecodeError, ImageError, ImageTooLargeError, ModelChecksumError, ModelError,
                     ModelMismatchError, ModelNotFoundError, NoFaceError, SourceError, UsageError)
from .gallery import Enrolment, Gallery, Subject
from .types import Face, Identification, Match, Template, Verification

try:
    __version__ = _metadata.version("faceprint")     # the one place it lives: pyproject.toml
except _metadata.PackageNotFoundError:             # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Engine", "Gallery", "Enrolment", "Subject", "Identification", "Face", "Template", "Match", "Verification",
           "watch", "FaceprintError", "ImageError", "ImageDecodeError", "ImageTooLargeError", "NoFaceError", "ModelError",
           "ModelNotFoundError", "ModelChecksumError", "ModelMismatchError", "GalleryError", "GalleryKeyError",
           "GalleryNotFoundError", "GalleryPurgePendingError", "SourceError", "UsageError", "__version__"]


def __getattr__(name: str):
    # `from faceprint import watch` without importing the video stack for every user of the library.
    if name == "watch":
        from .stream import watch
        return watch
    raise AttributeError(f"module 'faceprint' has no attribute {name!r}")
