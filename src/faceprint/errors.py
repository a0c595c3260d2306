"""Typed exceptions. Every message says what went wrong and what the user can do about it."""
from __future__ import annotations


class FaceprintError(Exception):
    """Base class of every error faceprint raises on purpose."""


class ImageError(FaceprintError):
    """The input could not be used as an image."""


class ImageDecodeError(ImageError):
    """Bytes that are not a decodable image (empty, truncated, wrong format)."""


class ImageTooLargeError(ImageError):
    """Image above the configured byte or pixel limits."""


class NoFaceError(FaceprintError):
    """No face was detected where one was required."""


class ModelError(FaceprintError):
    """A model is unknown, missing, or its weights fail verification."""


class ModelNotFoundError(ModelError):
    pass


class ModelChecksumError(ModelError):
    pass


class ModelMismatchError(FaceprintError):
    """Two templates (or a template and a gallery) come from different models."""


class UsageError(FaceprintError):
    """Arguments that contradict each other or are out of range."""


class GalleryError(FaceprintError):
    """A gallery cannot be opened or changed as asked."""


class GalleryNotFoundError(GalleryError):
    """A reading command named a gallery that does not exist (it is never created by accident)."""


class GalleryKeyError(GalleryError):
    """An encrypted gallery opened without its key or with a wrong one, or a key given for a gallery
    that is not encrypted. Nothing was read or changed."""


class GalleryPurgePendingError(GalleryError):
    """A deletion committed, but another process's open read kept its template bytes in the database
    file for now; they are purged at the gallery's next write or close."""

