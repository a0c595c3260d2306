"""Model registry (see registry.py): manifest entries, weights lookup and verification."""
from . import cards
from .registry import MANIFEST, PRECISIONS, ModelSpec, get, manifest, resource_json, variant

__all__ = ["MANIFEST", "cards", "PRECISIONS", "ModelSpec", "get", "manifest", "resource_json", "variant"]
