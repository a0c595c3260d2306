"""Model cards: what `faceprint calibrate` fitted for a bring-your-own .onnx embedder (FMR table, quality
norm range, preprocessing, licence), as a JSON file beside the model or in the user's card folder,
read back as a ModelSpec so that thresholds and quality work for that model as for a shipped one."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ModelChecksumError, ModelError, ModelNotFoundError
from ..util import sha256
from .registry import ModelSpec, manifest

IMPL = "faceprint.embed.onnx_generic:OnnxEmbedder"


def model_id(path: str | Path) -> str:
    """The model id of a bring-your-own file (OnnxEmbedder's name)."""
    return f"onnx:{Path(path).stem}"


def card_dir() -> Path:
    """$XDG_CONFIG_HOME/faceprint/cards (default ~/.config/faceprint/cards)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "faceprint" / "cards"


def beside(path: str | Path) -> Path:
    """The default card file of a model: <model>.card.json beside it."""
    return Path(path).with_suffix(".card.json")


def in_card_dir(mid: str) -> Path:
    return card_dir() / f"{mid.removeprefix('onnx:')}.card.json"


def read(path: Path) -> dict[str, Any]:
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"model card {path} is unreadable ({exc}); rerun faceprint calibrate") from exc
    if not isinstance(card, dict) or "sha256" not in card or "thresholds" not in card:
        raise ModelError(f"model card {path} lacks sha256/thresholds; rerun faceprint calibrate")
    return card


def to_spec(card: dict[str, Any], card_path: Path) -> ModelSpec:
    return ModelSpec(
        name=card["model"], task="embed", impl=IMPL, package="card", package_version=Path(card_path).name,
        install=f"faceprint calibrate --embedder {card['path']}",
        files={"weights": {"path": card["path"], "sha256": card["sha256"]}},
        license=card.get("license", ""), description=f"bring-your-own model, card {card_path}",
        source="faceprint calibrate", input_size=card.get("input", {}).get("size"), dim=card.get("dim"),
        crop=card.get("input", {}).get("crop"), thresholds=card["thresholds"],
        extra={"quality_norm": card.get("quality_norm"), "card": str(card_path)})


def find(model_path: str | Path) -> Path | None:
    """The card of this model file: beside it, else in the card folder by model id."""
    for p in (beside(model_path), in_card_dir(model_id(model_path))):
        if p.is_file():
            return p
    return None


def load(model_path: str | Path) -> tuple[dict, ModelSpec] | None:
    """(card, spec) of this model file, or None without a card; a card fitted on another file
    (SHA-256 differs) is refused: its thresholds would be wrong for this model."""
    card_path = find(model_path)
    if card_path is None:
        return None
    card = read(card_path)
    actual = sha256(Path(model_path))
    if card["sha256"] != actual:
        raise ModelChecksumError(
            f"model card {card_path} was fitted on a file with SHA-256 {card['sha256'][:12]}..., but {model_path} "
            f"has {actual[:12]}...; rerun faceprint calibrate --embedder {model_path}")
    return card, to_spec(card, card_path)


def in_dir() -> list[ModelSpec]:
    """Every readable card in the card folder (for `faceprint models`)."""
    out = []
    for p in sorted(card_dir().glob("*.card.json")) if card_dir().is_dir() else []:
        try:
            out.append(to_spec(read(p), p))
        except (ModelError, KeyError):
            continue
    return out


_loaded: dict[str, ModelSpec] = {}


def remember(spec: ModelSpec) -> None:
    """Make a loaded card's spec findable by model id in this process (scoring looks specs up by id)."""
    _loaded[spec.name] = spec


def spec_of(name: str) -> ModelSpec | None:
    """The spec of a model id: the manifest's entry, a card loaded in this process, or one in the
    card folder; None when there is none."""
    if name in manifest():
        return manifest()[name]
    if name in _loaded:
        return _loaded[name]
    p = in_card_dir(name)
    return to_spec(read(p), p) if name.startswith("onnx:") and p.is_file() else None


def model_file(mid: str) -> Path:
    """The .onnx file of a calibrated bring-your-own model id ("onnx:<stem>"), as its card names it (a card
    loaded in this process or one in the card folder): how a gallery of that model reopens its engine."""
    spec = spec_of(mid)
    if spec is None or "card" not in spec.extra:
        raise ModelNotFoundError(
            f"no model card for {mid!r} in {in_card_dir(mid)}; pass the model file (--embedder PATH.onnx), or "
            f"copy its card there (faceprint calibrate --embedder PATH.onnx writes it there too)")
    path = Path(spec.files["weights"]["path"])
    if not path.is_file():
        raise ModelNotFoundError(f"{mid}: its card {spec.extra['card']} names the model file {path}, which is not "
                                 "there; put the file back or rerun faceprint calibrate on its new path")
    return path
