"""Face stages: named, versioned steps the Engine runs between detection and the Template."""
from .base import FaceStage, FaceWork
from .liveness import LivenessResult, PassiveLiveness
from .masks import MaskClassifier, SteadiedLandmarks
from .quality import QUALITY_VERSION, QualityAssessor
from .unmask import Unmasking

__all__ = [
           "QUALITY_VERSION",
           "FaceStage",
           "FaceWork",
           "LivenessResult",
           "MaskClassifier",
           "PassiveLiveness",
           "QualityAssessor",
           "SteadiedLandmarks",
           "Unmasking",
]
