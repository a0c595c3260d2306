"""Engine: composes a detector, the face stages, an embedder and scoring into the batch-first
public API, with one analysis path (decode -> detect -> select faces -> templates) for every consumer."""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from . import runtime as runtimes
from .detect import Detector, create_detector
from .embed import Embedder, create_embedder, embed_crops_and_norms
from .errors import ModelError, NoFaceError, UsageError
from .imageio import DEFAULT_LIMITS, ImageInput, Limits, decode, describe, load_image
from .modelid import ModelId
from .scoring import compare as compare_templates
from .stages import (
    FaceStage,
    FaceWork,
    MaskClassifier,
    QualityAssessor,
    SteadiedLandmarks,
    Unmasking,
)
from .stages.base import reported_p_masked
from .stages.liveness import LivenessResult, PassiveLiveness
from .types import Face, Template, Verification

SELECTIONS = ("largest", "center", "score")


def check_selection(select: str) -> str:
    if select not in SELECTIONS:
        raise UsageError(f"face selection must be one of {', '.join(SELECTIONS)}, not {select!r}")
    return select


def pick_face(faces: list[Face], image_shape: tuple[int, ...], select: str = "largest") -> int:
    """Index of the most prominent face: largest box (default), nearest the centre, or best score."""
    check_selection(select)
    if select == "largest":
        return int(np.argmax([f.area * f.score for f in faces]))
    if select == "center":
        cy, cx = image_shape[0] / 2, image_shape[1] / 2
        return int(np.argmin([(f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2 for f in faces]))
    return int(np.argmax([f.score for f in faces]))          # "score"


def no_face_message(name: str) -> str:
    return f"no face found in {name}; use a photo where the face is visible, at least about 20 px wide"


@dataclass(frozen=True)
class Analysis:
    """One photo analysed: every face detected, the one chosen (None: all were used) and the
    templates made (the chosen face's, or one per face in detection order)."""
    image: np.ndarray
    source: str | None              # SHA-256 of the encoded photo (None for an array)
    faces: list[Face]
    chosen: int | None
    templates: list[Template]
    decode_ms: float
    detect_ms: float
    template_ms: float
    liveness: list[LivenessResult] | None = None    # per template, with liveness on (else None)

    @property
    def template(self) -> Template:
        return self.templates[0]


class Engine:
    """Detect, align, embed and compare faces with models from the registry (no downloads).

    detector / embedder: registry names (`faceprint models` lists them) or, for the embedder, the
    path of an ArcFace-style .onnx file. flip: add the mirrored face's embedding to each template
    (None: the model's manifest default). threshold: verify()'s decision threshold (default: the
    model's calibrated one). unmask: map a masked face's template towards the clean face's where the
    model has a map (scoring.masks). steady_masked: align a masked face on steadied landmarks
    (occlusion.steadied); the Template's face then holds them. runtime: "openvino", "onnxruntime"
    or "opencv" (default: the fastest installed). threads: each runtime's and OpenCV's thread count
    (None: all cores). liveness: judge every analysed face live or attack (Analysis.liveness;
    stages.liveness), at liveness_threshold (default: the shipped one). precision: "fp32" (default)
    or "int8" (the embedder's NNCF int8 file, same model id and thresholds; README "Speed per CPU class").
    """

    def __init__(self, detector: str = "yunet", embedder: str | Embedder = "sface", *, runtime: str | None = None,
                 threads: int | None = None, flip: bool | None = None, threshold: float | None = None,
                 limits: Limits = DEFAULT_LIMITS, unmask: bool = True, steady_masked: bool = True,
                 liveness: bool = False, liveness_threshold: float | None = None, precision: str = "fp32"):
        if threads is not None:
            cv2.setNumThreads(int(threads))
        self.runtime = runtimes.resolve(runtime)
        self.threads = threads
        self.detector: Detector = create_detector(detector, runtime=self.runtime, threads=threads)
        self.precision = precision
        # An Embedder instance is used as given (faceprint calibrate: a .onnx file with its preprocessing).
        self.embedder: Embedder = (embedder if isinstance(embedder, Embedder) else
                                   create_embedder(embedder, runtime=self.runtime, threads=threads, precision=precision))
        spec = self.embedder.spec
        self.flip = bool(spec.extra.get("default_flip", False)) if flip is None and spec else bool(flip)
        self.limits = limits
        self.model = ModelId(self.embedder.name, self.flip)
        self.model_id = str(self.model)
        self._threshold = threshold
        self.unmask = unmask
        self.steady_masked = steady_masked
        self.stages: list[FaceStage] = self._compose_stages()
        self.liveness_stage: PassiveLiveness | None = None
        if liveness or liveness_threshold is not None:
            self.enable_liveness(liveness_threshold)

    @classmethod
    def for_model(cls, model: ModelId | str, **kwargs) -> Engine:
        """An engine making templates of this model id (e.g. a gallery's)."""
        mid = ModelId.parse(model)
        if mid.is_onnx:     # a calibrated bring-your-own model: the file its model card names
            from .models import cards
            return cls(embedder=str(cards.model_file(mid.name)), flip=mid.flip, **kwargs)
        return cls(embedder=mid.name, flip=mid.flip, **kwargs)

    def _compose_stages(self) -> list[FaceStage]:
        spec = self.embedder.spec
        stages: list[FaceStage] = [MaskClassifier()]
        if self.steady_masked:
            stages.append(SteadiedLandmarks(self.detector, self.embedder))
        stages.append(QualityAssessor(spec.extra.get("quality_norm") if spec else None))
        if self.unmask and (unmasking := Unmasking(self.model)).version is not None:
            stages.append(unmasking)
        return stages

    def versions(self) -> str:
        """Everything that changes a template or its quality record, for template caches: detector,
        model id, weights versions, and each face stage's name=version in the order they run."""
        parts = [self.detector.name, self.model_id]
        for component in (self.detector, self.embedder):
            spec = component.spec
            if spec is not None and "weights" in spec.files:
                parts.append(f"{spec.package}=={spec.package_version}:{spec.files['weights']['sha256'][:12]}")
        parts += [f"{s.name}={s.version}" for s in self.stages]
        return "|".join(parts)

    @property
    def threshold(self) -> float:
        if self._threshold is not None:
            return self._threshold
        spec = self.embedder.spec
        thresholds = spec.thresholds if spec else {}
        if self.model.variant not in thresholds:
            raise ModelError(f"model {self.embedder.name!r} has no calibrated threshold for this setting; "
                             "pass threshold= (or --threshold)")
        return float(thresholds[self.model.variant]["value"])

    # -- images -----------------------------------------------------------------------------
    def load(self, image: ImageInput, *, rgb: bool = False) -> np.ndarray:
        return load_image(image, rgb=rgb, limits=self.limits)

    def detect(self, image: ImageInput, *, rgb: bool = False) -> list[Face]:
        return self.detector.detect([self.load(image, rgb=rgb)])[0]

    def analyse(self, image: ImageInput, *, select: str | None = "largest", rgb: bool = False,
                name: str | None = None, keep: Callable[[list[Face]], list[Face]] | None = None) -> Analysis:
        """The one analysis path: decode, detect, select the face(s), make templates. select: one
        face ("largest", "center", "score") or None for every face; keep: filters or orders the
        detections first. Raises NoFaceError naming the input (`name`, else describe(image))."""
        if select is not None:
            check_selection(select)
        start = time.perf_counter()
        img, source = decode(image, rgb=rgb, limits=self.limits)
        t0 = time.perf_counter()
        faces = self._faces_or_raise(img, keep, name or describe(image))
        chosen = None if select is None else pick_face(faces, img.shape, select)
        t1 = time.perf_counter()
        used = faces if chosen is None else [faces[chosen]]
        templates = self.templates_for(img, used, source=source)
        live = self.liveness_stage.assess(img, used) if self.liveness_stage is not None else None
        t2 = time.perf_counter()
        return Analysis(img, source, faces, chosen, templates, (t0 - start) * 1000, (t1 - t0) * 1000,
                        (t2 - t1) * 1000, live)

    # -- liveness ---------------------------------------------------------------------------
    def enable_liveness(self, threshold: float | None = None) -> PassiveLiveness:
        """Judge liveness in analyse() from now on; returns the stage (made once; a threshold given
        later replaces the one in force)."""
        if self.liveness_stage is None:
            self.liveness_stage = PassiveLiveness(runtime=self.runtime, threads=self.threads, threshold=threshold)
        elif threshold is not None:
            self.liveness_stage.set_threshold(threshold)
        return self.liveness_stage

    def liveness(self, image: ImageInput, *, rgb: bool = False, name: str | None = None) -> list[LivenessResult]:
        """Passive liveness of every face of a photo, best detection first (enables the stage).
        Raises NoFaceError naming the input when there is no face."""
        stage = self.enable_liveness()
        img, _ = decode(image, rgb=rgb, limits=self.limits)
        return stage.assess(img, self._faces_or_raise(img, None, name or describe(image)))

    def _faces_or_raise(self, img: np.ndarray, keep: Callable[[list[Face]], list[Face]] | None,
                        name: str) -> list[Face]:
        """The detections of a decoded photo (filtered by keep); NoFaceError naming it when none."""
        faces = self.detector.detect([img])[0]
        if keep is not None:
            faces = keep(faces)
        if not faces:
            raise NoFaceError(no_face_message(name))
        return faces

    # -- templates --------------------------------------------------------------------------
    def templates_for(self, image: np.ndarray, faces: list[Face], *, source: str | None = None) -> list[Template]:
        """Templates for given faces of an already-decoded BGR image (one batched forward pass);
        source: the SHA-256 of the photo they came from, kept on each Template."""
        return self._templates([FaceWork(image, list(faces), source)])[0]

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
                out += self._templates([FaceWork(img, fs, src) for img, fs, src in zip(loaded, faces, sources)])
        return out

    def _templates(self, works: list[FaceWork]) -> list[list[Template]]:
        """Templates of several photos' faces: stages before the embedder, every face embedded in one
        batched call, stages after it."""
        for w in works:
            w.crops = self.embedder.crops(w.image, w.faces)
            w.views = [self.embedder.view(c) for c in w.crops]
        before = [s for s in self.stages if not s.after_embedding]
        after = [s for s in self.stages if s.after_embedding]
        for stage in before:
            for w in works:
                stage.run(w)
        vectors, norms = embed_crops_and_norms(self.embedder, [c for w in works for c in w.crops], flip=self.flip)
        start = 0
        for w in works:
            w.vectors, w.norms = list(vectors[start:start + len(w.faces)]), list(norms[start:start + len(w.faces)])
            start += len(w.faces)
            w.unmasked = [False] * len(w.faces)
        for stage in after:
            for w in works:
                stage.run(w)
        return [[self._template(w, k) for k in range(len(w.faces))] for w in works]

    def _template(self, w: FaceWork, k: int) -> Template:
        masked = None if w.masked is None else reported_p_masked(w.masked[k])
        return Template(vector=w.vectors[k], model=self.model_id, quality=w.quality[k], face=w.faces[k],
                        quality_detail=w.detail[k], source=w.source, masked=masked, unmasked=w.unmasked[k])

    def templates(self, image: ImageInput, *, rgb: bool = False) -> list[Template]:
        """One Template per detected face, best detection first; empty if there is no face."""
        img, source = decode(image, rgb=rgb, limits=self.limits)
        return self.templates_for(img, self.detector.detect([img])[0], source=source)

    def template(self, image: ImageInput, *, select: str = "largest", rgb: bool = False) -> Template:
        """Template of the most prominent face; raises NoFaceError when there is none."""
        return self.analyse(image, select=select, rgb=rgb).template

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
