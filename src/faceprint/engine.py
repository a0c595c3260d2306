"""Engine: wires a detector, an embedder and the matcher into the batch-first public API."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import cv2
import numpy as np

from . import occlusion, quality
from . import runtime as runtimes
from .detect import Detector, create_detector
from .embed import Embedder, create_embedder, embed_crops_and_norms
from .errors import ModelError, NoFaceError
from .imageio import DEFAULT_LIMITS, ImageInput, Limits, decode, describe, load_image
from .match import compare as compare_templates
from .types import Face, Template, Verification

SELECTIONS = ("largest", "center", "score")


def pick_face(faces: list[Face], image_shape: tuple[int, ...], select: str = "largest") -> int:
    """Index of the most prominent face: largest box (default), nearest the centre, or best score."""
    if select == "largest":
        return int(np.argmax([f.area * f.score for f in faces]))
    if select == "center":
        cy, cx = image_shape[0] / 2, image_shape[1] / 2
        return int(np.argmin([(f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2 for f in faces]))
    if select == "score":
        return int(np.argmax([f.score for f in faces]))
    raise ValueError(f"select must be one of {SELECTIONS}, not {select!r}")


def _main_crop(crop):
    """A fused embedder's crop is one per part model; quality and the mask classifier read the first."""
    return crop[0] if isinstance(crop, tuple) else crop


class Engine:
    """Detect, align, embed and compare faces with models from the registry (no downloads).

    detector / embedder: registry names (`faceprint models` lists them) or, for the embedder, the
    path of an ArcFace-style .onnx file. flip: add the mirrored face's embedding to each template.
    flip: None uses the model's manifest default (on for dlib, where it gains 0.3% on LFW; off for SFace,
    where it gains 0.02% for twice the embedding time).
    threshold: decision threshold for verify(); default is the model's calibrated one.
    unmask: map the template of a face the mask classifier calls masked towards the clean face's,
    where the model has a fitted map (occlusion.unmask; its scores are equalised when compared).
    steady_masked: align such a face on landmarks detected again on a cut-out of it at a fixed
    size and its mirror image (occlusion.steadied): the detector's first landmarks under a mask
    are noisy. The Template's face then holds the landmarks it was aligned on.
    runtime: "openvino", "onnxruntime" or "opencv" for the detector and ONNX embedders; default the
    fastest installed (runtime.RUNTIMES order).
    threads: the runtime's own thread count per model (and OpenCV's process-wide pool, used for image
    resizing and warping); None leaves each at its default (all cores).
    """

    def __init__(self, detector: str = "yunet", embedder: str = "sface", *, runtime: str | None = None,
                 threads: int | None = None, flip: bool | None = None, threshold: float | None = None,
                 limits: Limits = DEFAULT_LIMITS, unmask: bool = True, steady_masked: bool = True):
        if threads is not None:
            cv2.setNumThreads(int(threads))
        self.runtime = runtimes.resolve(runtime)
        self.threads = threads
        self.detector: Detector = create_detector(detector, runtime=self.runtime, threads=threads)
        self.embedder: Embedder = create_embedder(embedder, runtime=self.runtime, threads=threads)
        spec = self.embedder.spec
        self.flip = bool(spec.extra.get("default_flip", False)) if flip is None and spec else bool(flip)
        self.limits = limits
        self.model_id = self.embedder.name + (":flip" if self.flip else "")
        self._threshold = threshold
        self.unmask = unmask
        self.steady_masked = steady_masked

    @property
    def threshold(self) -> float:
        if self._threshold is not None:
            return self._threshold
        spec = self.embedder.spec
        thresholds = spec.thresholds if spec else {}
        key = "flip" if self.flip else "plain"
        if key not in thresholds:
            raise ModelError(f"model {self.embedder.name!r} has no calibrated threshold for this setting; "
                             "pass threshold= (or --threshold)")
        return float(thresholds[key]["value"])

    # -- images -----------------------------------------------------------------------------
    def load(self, image: ImageInput, *, rgb: bool = False) -> np.ndarray:
        return load_image(image, rgb=rgb, limits=self.limits)

    def detect(self, image: ImageInput, *, rgb: bool = False) -> list[Face]:
        return self.detector.detect([self.load(image, rgb=rgb)])[0]

    # -- templates --------------------------------------------------------------------------
    def templates_for(self, image: np.ndarray, faces: list[Face], *, source: str | None = None) -> list[Template]:
        """Templates for given faces of an already-decoded BGR image (one batched forward pass);
        source: the SHA-256 of the photo they came from, kept on each Template."""
        return self._templates([image], [faces], [source])[0]

    def templates_batch(self, images: Sequence[ImageInput], *, select: str | None = None, rgb: bool = False,
                        chunk: int = 64) -> list[list[Template]]:
        """Templates of many photos, the embedder running on the faces of `chunk` photos at a time:
        every face of each photo (best detection first), or with select ("largest", "center",
        "score") only its most prominent face (an empty list where a photo has none). An input that
        cannot be read raises, naming it; load photos with load() first to handle those one by one."""
        out: list[list[Template]] = []
        chunks = [images[i:i + chunk] for i in range(0, len(images), chunk)]
        # Photos are decoded by worker threads (Pillow and OpenCV release the GIL) one chunk ahead
        # of the chunk being detected and embedded.
        with ThreadPoolExecutor(max_workers=self.threads or os.cpu_count() or 1) as pool:
            def submit(batch):
                return [pool.submit(decode, im, rgb=rgb, limits=self.limits) for im in batch]

            pending = submit(chunks[0]) if chunks else []
            for k in range(len(chunks)):
                loaded, sources = zip(*[f.result() for f in pending])
                if k + 1 < len(chunks):
                    pending = submit(chunks[k + 1])
                faces = self.detector.detect(list(loaded))
                if select is not None:
                    faces = [[f[pick_face(f, img.shape, select)]] if f else [] for f, img in zip(faces, loaded)]
                out += self._templates(list(loaded), faces, list(sources))
        return out

    def _templates(self, images: list[np.ndarray], faces: list[list[Face]],
                   sources: list[str | None]) -> list[list[Template]]:
        """Templates of the given faces of several photos, all embedded in one batched call."""
        crops = [self.embedder.crops(img, fs) for img, fs in zip(images, faces)]
        # P(masked) where the classifier can read the crop (112x112 aligned), else None.
        masked = [occlusion.mask_probability([_main_crop(c) for c in cs])
                  if cs and _main_crop(cs[0]).shape[:2] == (112, 112) else None for cs in crops]
        if self.steady_masked:
            for i, p in enumerate(masked):
                if p is not None and np.any(p >= occlusion.UNMASK_AT):
                    faces[i] = [occlusion.steadied(self.detector, images[i], f) if q >= occlusion.UNMASK_AT else f
                                for f, q in zip(faces[i], p)]
                    crops[i] = self.embedder.crops(images[i], faces[i])
        flat = [c for cs in crops for c in cs]
        vectors, norms = embed_crops_and_norms(self.embedder, flat, flip=self.flip)
        it = iter(zip(vectors, norms))
        return [[self._template(face, _main_crop(crop), *next(it), source, None if p is None else float(p[k]))
                 for k, (face, crop) in enumerate(zip(fs, cs))]
                for fs, cs, source, p in zip(faces, crops, sources, masked)]

    def _template(self, face: Face, crop: np.ndarray, vec: np.ndarray, norm: float, source: str | None,
                  masked: float | None) -> Template:
        spec = self.embedder.spec
        norm_range = spec.extra.get("quality_norm") if spec else None
        q, detail = quality.assess(face, crop if masked is not None else None,
                                   norm=float(norm) if norm_range else None, norm_range=norm_range, masked=masked)
        mapped = occlusion.unmask(vec, self.model_id, detail["masked"]) if self.unmask and "masked" in detail else None
        if mapped is not None:
            vec, detail["unmasked"] = mapped, 1.0
        return Template(vector=vec, model=self.model_id, quality=q, face=face, quality_detail=detail,
                        source=source)

    def templates(self, image: ImageInput, *, rgb: bool = False) -> list[Template]:
        """One Template per detected face, best detection first; empty if there is no face."""
        img, source = decode(image, rgb=rgb, limits=self.limits)
        return self.templates_for(img, self.detector.detect([img])[0], source=source)

    def template(self, image: ImageInput, *, select: str = "largest", rgb: bool = False) -> Template:
        """Template of the most prominent face; raises NoFaceError when there is none."""
        img, source = decode(image, rgb=rgb, limits=self.limits)
        faces = self.detector.detect([img])[0]
        if not faces:
            raise NoFaceError(f"no face found in {describe(image)}; use a photo where the face is "
                              "visible, at least about 20 px wide")
        return self.templates_for(img, [faces[pick_face(faces, img.shape, select)]], source=source)[0]

    # -- comparison -------------------------------------------------------------------------
    def compare(self, a: Template, b: Template) -> float:
        return compare_templates(a, b)

    def verify(self, a: ImageInput | Template, b: ImageInput | Template, *,
               threshold: float | None = None) -> Verification:
        ta = a if isinstance(a, Template) else self.template(a)
        tb = b if isinstance(b, Template) else self.template(b)
        thr = self.threshold if threshold is None else float(threshold)
        score = self.compare(ta, tb)
        return Verification(score=score, threshold=thr, same=score >= thr, model=self.model_id)
