"""faceprint: offline face detection, alignment, embedding, verification and identification."""
from ._version import __version__
from .engine import Analysis, Engine
from .errors import (
    FaceprintError,
    GalleryBusyError,
    GalleryError,
    GalleryKeyError,
    GalleryNotFoundError,
    GalleryPurgePendingError,
    ImageDecodeError,
    ImageError,
    ImageTooLargeError,
    LivenessError,
    ModelChecksumError,
    ModelError,
    ModelMismatchError,
    ModelNotFoundError,
    NoFaceError,
    PresentationAttackError,
    SourceError,
    UsageError,
)
from .gallery import Enrolment, Gallery
from .modelid import ModelId
from .stages.liveness import LivenessResult
from .types import Face, Identification, Match, Subject, Template, Verification

__all__ = [
    "Analysis",
    "Engine",
    "Enrolment",
    "Face",
    "FaceprintError",
    "Gallery",
    "GalleryBusyError",
    "GalleryError",
    "GalleryKeyError",
    "GalleryNotFoundError",
    "GalleryPurgePendingError",
    "Identification",
    "ImageDecodeError",
    "ImageError",
    "ImageTooLargeError",
    "LivenessError",
    "LivenessResult",
    "Match",
    "ModelChecksumError",
    "ModelError",
    "ModelId",
    "ModelMismatchError",
    "ModelNotFoundError",
    "NoFaceError",
    "PresentationAttackError",
    "SourceError",
    "Subject",
    "Template",
    "UsageError",
    "Verification",
    "__version__",
    "watch",
]


def __getattr__(name: str):
    # `from faceprint import watch` without importing the video stack for every user of the library.
    if name == "watch":
        from .stream import watch
        return watch
    raise AttributeError(f"module 'faceprint' has no attribute {name!r}")
