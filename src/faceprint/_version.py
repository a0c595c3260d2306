"""The package version, in one place: the installed distribution's metadata (pyproject.toml)."""
from importlib import metadata

try:
    __version__ = metadata.version("faceprint")
except metadata.PackageNotFoundError:      # a source tree that was never installed
    __version__ = "0+unknown"
