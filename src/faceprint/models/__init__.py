"""Model registry (see registry.py): manifest entries, weights lookup and verification."""
from .registry import MANIFEST, ModelSpec, get, manifest, resource_json

__all__ = ["MANIFEST", "ModelSpec", "get", "manifest", "resource_json"]
