"""Gallery: enrolled subjects and their templates, searchable 1:N (see gallery.py)."""
from .base import Enrolment, GalleryIndex, Subject, TemplateStore
from .gallery import Gallery

__all__ = ["Gallery", "Enrolment", "Subject", "TemplateStore", "GalleryIndex"]
