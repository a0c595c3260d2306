"""Model ids: which embedder made a template, and how ("sface", "sface:flip", "sface+dlib",
"onnx:arcface"), parsed once into a small value instead of split wherever it is read."""
from __future__ import annotations

from dataclasses import dataclass

FLIP = ":flip"
NOFLIP = ":noflip"      # only in a ModelRequest: flip off whatever the manifest says


@dataclass(frozen=True)
class ModelId:
    """name: the embedder's name (a registry name, a "+"-joined fusion, or "onnx:<file stem>" for a
    bring-your-own model); flip: the mirrored face's embedding is added to each template."""

    name: str
    flip: bool = False

    @classmethod
    def parse(cls, text: str | ModelId) -> ModelId:
        if isinstance(text, ModelId):
            return text
        text = str(text)
        if text.endswith(FLIP):
            return cls(text[:-len(FLIP)], True)
        return cls(text, False)

    def __str__(self) -> str:
        return self.name + (FLIP if self.flip else "")

    @property
    def variant(self) -> str:
        """The key of the model's calibrated thresholds in the manifest: "flip" or "plain"."""
        return "flip" if self.flip else "plain"

    @property
    def parts(self) -> tuple[str, ...]:
        """The embedders of a fusion ("sface+dlib" -> ("sface", "dlib")), else (name,)."""
        return (self.name,) if self.is_onnx else tuple(self.name.split("+"))

    @property
    def is_onnx(self) -> bool:
        """A bring-your-own .onnx embedder: not in the registry; calibrated by its model card, if any."""
        return self.name.startswith("onnx:")


@dataclass(frozen=True)
class ModelRequest:
    """A model as a user asks for one (`evaluate --models`): "sface" (flip as the manifest says),
    "sface:flip", "sface:noflip", or a "+"-joined fusion of such parts."""

    name: str
    flip: bool | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRequest:
        for suffix, flip in ((FLIP, True), (NOFLIP, False)):
            if text.endswith(suffix) and "+" not in text:
                return cls(text[:-len(suffix)], flip)
        return cls(text, None)

    def __str__(self) -> str:
        return self.name + {True: FLIP, False: NOFLIP, None: ""}[self.flip]

    @property
    def parts(self) -> tuple[str, ...]:
        """The requests a fusion is made of ("sface:flip+dlib" -> ("sface:flip", "dlib")), else (itself,)."""
        return tuple(str(self).split("+"))
