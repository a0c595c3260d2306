"""Face detection: the Detector protocol and the factory that builds one from the model registry."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .. import models
from ..types import Face


@runtime_checkable
class Detector(Protocol):
    name: str
    spec: "models.ModelSpec"       # the manifest entry it was built from

    def detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Every face in each BGR image, best score first."""
        ...


def create_detector(name: str = "yunet", **kwargs) -> Detector:
    return models.get(name, task="detect").create(**kwargs)
