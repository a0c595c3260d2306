"""`python -m faceprint.cli`: the same as the `faceprint` command."""
import sys

from .app import main

if __name__ == "__main__":
    sys.exit(main())
