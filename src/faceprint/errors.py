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


class EnrolmentRefusedError(UsageError):
    """Nothing could be enrolled for a new subject; `skipped` holds the gallery's Skip for each
    photo (its code: masked, low_quality, duplicate, ...), so a caller can report the real reason."""

    def __init__(self, message: str, skipped=()):
        super().__init__(message)
        self.skipped = list(skipped)


class ClusterError(FaceprintError):
    """A bulk job's Ray cluster cannot be used: Ray is not installed, the address does not answer,
    or the cluster failed the job."""


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


class GalleryBusyError(GalleryError):
    """Another process holds the gallery's write lock past the wait; nothing was changed, retry
    (the service answers 503)."""


class SubjectExistsError(GalleryError):
    """A subject was to be created, or renamed, under a name another subject already has."""


class SourceError(FaceprintError):
    """A video source that cannot be opened or read (missing file, refused connection, no video)."""


class LivenessError(FaceprintError):
    """A face or a clip cannot be judged for liveness (unusable image, too few frames with the face)."""


class PresentationAttackError(FaceprintError):
    """A face was judged a presentation attack (not live) where a live face is required."""
