"""SFace (OpenCV zoo, MobileFaceNet) on the ArcFace 112x112 crop: RGB 0..255, no normalisation.

The shipped file is block-quantised int8; the registry hands over its fp32 dequantised graph
(runtime.prepare_onnx), which every runtime runs at fp32 speed.
"""
from __future__ import annotations

from ..models import ModelSpec
from .onnx_generic import OnnxEmbedder


class SFace(OnnxEmbedder):
    def __init__(self, spec: ModelSpec, *, runtime: str | None = None, threads: int | None = None):
        super().__init__(spec.onnx(), mean=0.0, std=1.0, rgb=True, crop=spec.crop or "arcface-112",
                         runtime=runtime, threads=threads, name=spec.name, spec=spec)
