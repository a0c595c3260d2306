"""The `faceprint` command line: a thin shell over the library API, one module per command."""
from .app import build_parser, main

__all__ = ["build_parser", "main"]
