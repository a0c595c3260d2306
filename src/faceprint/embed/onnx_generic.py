"""Bring-your-own embedder: any ONNX face model taking an aligned ArcFace-style crop (e.g. an
insightface ArcFace file the user owns), run by onnxruntime.

Defaults follow insightface's recognition models: RGB, (x - 127.5) / 127.5, NCHW, 112x112 crop.
"""
from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from ..align import align
from ..errors import ModelNotFoundError
from ..types import Face


def _load_model_bytes(path: Path) -> bytes:
    """Drop graph inputs that are really initializers: onnxruntime refuses to run graphs that list
    weights as inputs without values (seen in the OpenCV zoo int8 files)."""
    import onnx

    model = onnx.load(str(path))
    inits = {i.name for i in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name not in inits]
    if len(keep) != len(model.graph.input):
        del model.graph.input[:]
        model.graph.input.extend(keep)
    return model.SerializeToString()


class OnnxEmbedder:
    def __init__(self, path: str | Path, *, mean: float = 127.5, std: float = 127.5, rgb: bool = True,
                 crop: str = "arcface-112", threads: int | None = None, name: str | None = None):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelNotFoundError(f"embedder file {path} not found; pass the path of an .onnx face model")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self._session = ort.InferenceSession(_load_model_bytes(path), opts, providers=["CPUExecutionProvider"])
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        self._fixed_batch = isinstance(inp.shape[0], int)
        h, w = inp.shape[2], inp.shape[3]
        self.size = (int(w) if isinstance(w, int) else 112, int(h) if isinstance(h, int) else 112)
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        self.name = name or f"onnx:{path.stem}"
        self.spec = None
        self.mean, self.std, self.rgb, self.crop = mean, std, rgb, crop
        self._lock = threading.Lock()

    @classmethod
    def from_path(cls, path: str, **kwargs) -> "OnnxEmbedder":
        return cls(path, **kwargs)

    def crops(self, image: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        out = [align(image, f.landmarks, self.crop) for f in faces]
        return [c if c.shape[1::-1] == self.size else cv2.resize(c, self.size) for c in out]

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        blob = cv2.dnn.blobFromImages(crops, 1.0 / self.std, self.size, (self.mean,) * 3, swapRB=self.rgb)
        with self._lock:
            if self._fixed_batch:
                rows = [self._session.run(None, {self._input: blob[i:i + 1]})[0] for i in range(len(blob))]
                out = np.concatenate(rows)
            else:
                out = self._session.run(None, {self._input: blob})[0]
        return np.asarray(out, np.float32).reshape(len(crops), -1)
