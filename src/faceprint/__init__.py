"""faceprint: offline face detection, alignment, embedding, verification and identification."""
from importlib import metadata as _metadata

import cv2 as _cv2

# OpenCV 5 warns on every net that its new graph engine ignores targets: noise for CPU use.
_cv2.utils.logging.setLogLevel(_cv2.utils.logging.LOG_LEVEL_ERROR)

from .engine import Engine
from .errors import (FaceprintError, GalleryError, GalleryKeyError, GalleryNotFoundError, GalleryPurgePendingError, ImageDecodeError, ImageError,
                     ImageTooLargeError, ModelChecksumError, ModelError, ModelMismatchError, ModelNotFoundError,
                     NoFaceError, UsageError)
from .gallery import Enrolment, Gallery, Subject
from .types import Face, Identification, Match, Template, Verification

try:
    __version__ = _metadata.version("faceprint")     # the one place it lives: pyproject.toml
except _metadata.PackageNotFoundError:             # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Engine", "Gallery", "Enrolment", "Subject", "Identification", "Face", "Template", "Match", "Verification", "FaceprintError", "ImageError",
           "ImageDecodeError", "ImageTooLargeError", "NoFaceError", "ModelError", "ModelNotFoundError",
           "ModelChecksumError", "ModelMismatchError", "GalleryError", "GalleryKeyError", "GalleryNotFoundError", "GalleryPurgePendingError", "UsageError",
           "__version__"]
