"""The network service (`faceprint serve`): a FastAPI app over Engine and Gallery. A consumer of the
library; nothing in the library imports it."""
from .app import create_app
from .settings import Settings

__all__ = ["create_app", "Settings"]
