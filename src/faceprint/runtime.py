"""Inference runtimes for ONNX models: one adapter shared by the detector and every ONNX embedder.

`Session(model, runtime=..., threads=...)` runs a prepared fp32 ONNX graph in OpenVINO, onnxruntime
or OpenCV's dnn module and returns the graph's outputs in graph order. `prepare_onnx` turns a
shipped ONNX file into that graph once: block-quantised DequantizeLinear weights are folded into
fp32 initializers (OpenVINO and cv2.dnn cannot run blocked DequantizeLinear), initializers are
dropped from the graph inputs (onnxruntime otherwise treats them as overridable and skips constant
folding), and the batch and spatial input sizes are made symbolic so one graph serves any batch or
image size. The result is cached in memory and on disk, keyed by the source file's SHA-256.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ModelError

# Fastest first, as measured on this project's CPU (bench/speed.py): the default is the first installed.
RUNTIMES = ("openvino", "onnxruntime", "opencv")
_MODULES = {"openvino": "openvino", "onnxruntime": "onnxruntime", "opencv": "cv2"}
_INSTALL = {"openvino": "pip install openvino", "onnxruntime": "pip install onnxruntime",
            "opencv": "pip install opencv-python-headless"}
# Bumped whenever prepare_onnx changes what it writes, so stale cache files are never read.
_PREPARE_VERSION = "1"
# OpenVINO: input shapes that get their own compiled graph, and after how many sightings.
STATIC_SHAPES = 4
STATIC_AFTER = 2


def available() -> list[str]:
    """Installed runtimes, fastest first."""
    return [r for r in RUNTIMES if importlib.util.find_spec(_MODULES[r]) is not None]


def resolve(runtime: str | None) -> str:
    """The runtime to use: the one asked for (checked), or the fastest installed."""
    if runtime is None:
        return available()[0]
    if runtime not in RUNTIMES:
        raise ModelError(f"unknown runtime {runtime!r}; choose one of: {', '.join(RUNTIMES)}")
    if importlib.util.find_spec(_MODULES[runtime]) is None:
        raise ModelError(f"runtime {runtime!r} is not installed; install it with: {_INSTALL[runtime]} "
                         f"(installed: {', '.join(available())})")
    return runtime


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "faceprint" / "models"


def dequantise(model) -> None:
    """Fold constant DequantizeLinear (blocked or per-axis) and constant Reshape nodes into fp32
    initializers, in place."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    keep = []
    for node in graph.node:
        args = [consts.get(i) for i in node.input]
        if node.op_type == "DequantizeLinear" and all(a is not None for a in args):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            x, scale = args[0].astype(np.float32), args[1].astype(np.float32)
            zero = args[2].astype(np.float32) if len(args) > 2 else np.zeros_like(scale)
            axis, block = attrs.get("axis", 1), attrs.get("block_size", 0)
            if block and scale.ndim:
                scale = np.repeat(scale, block, axis=axis).take(range(x.shape[axis]), axis=axis)
                zero = np.repeat(zero, block, axis=axis).take(range(x.shape[axis]), axis=axis)
            elif scale.ndim == 1 and x.ndim > 1:
                shape = [1] * x.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            consts[node.output[0]] = ((x - zero) * scale).astype(np.float32)
        elif node.op_type == "Reshape" and all(a is not None for a in args):
            consts[node.output[0]] = args[0].reshape(args[1])
        else:
            keep.append(node)
    used = {i for n in keep for i in n.input} | {o.name for o in graph.output}
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items() if k in used)


def _prepare(model, dynamic_hw: bool) -> None:
    # A QDQ int8 graph (activations quantised too: scripts/quantize_int8.py) keeps its DequantizeLinear
    # nodes, which the runtimes turn into int8 kernels; weight-only block quantisation is folded.
    if not any(n.op_type == "QuantizeLinear" for n in model.graph.node):
        dequantise(model)
    inits = {i.name for i in model.graph.initializer}
    used = {i for n in model.graph.node for i in n.input}
    # Weights listed as inputs (and, in the OpenCV zoo int8 files, inputs nothing reads) go.
    inputs = [i for i in model.graph.input if i.name not in inits and i.name in used]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        symbolic = {0: "batch"}
        if dynamic_hw and len(dims) == 4:
            symbolic.update({2: "height", 3: "width"})
        for i, name in symbolic.items():
            dims[i].ClearField("dim_value")
            dims[i].dim_param = name
    # Output shapes follow from the inputs; stale fixed sizes would make runtimes reject other inputs.
    for value in model.graph.output:
        for d in value.type.tensor_type.shape.dim:
            d.ClearField("dim_value")
            d.dim_param = ""
    del model.graph.value_info[:]


_lock = threading.Lock()


@lru_cache(maxsize=16)
def prepare_onnx(path: str, sha256: str, dynamic_hw: bool = False) -> Path:
    """Path of the prepared fp32 graph of this ONNX file (see the module docstring), written once to
    the cache directory (a temporary one if that is not writable)."""
    import onnx

    name = f"{sha256}-{'hw' if dynamic_hw else 'b'}-v{_PREPARE_VERSION}.onnx"
    with _lock:
        for d in (cache_dir(), Path(os.environ.get("TMPDIR", "/tmp")) / f"faceprint-{os.getuid()}"):
            target = d / name
            if target.is_file():
                return target
            try:
                d.mkdir(parents=True, exist_ok=True)
                model = onnx.load(path)
                _prepare(model, dynamic_hw)
                tmp = target.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(model.SerializeToString())
                os.replace(tmp, target)        # atomic: concurrent processes never read half a file
                return target
            except OSError:
                continue
    raise ModelError(f"cannot write the prepared model {name} to {cache_dir()} or a temporary directory")


class Session:
    """One ONNX graph in one runtime. run(x) -> the graph's outputs (float32 arrays), in graph order.

    threads: the runtime's own intra-op thread count (OpenVINO INFERENCE_NUM_THREADS, onnxruntime
    intra_op_num_threads; cv2.dnn only has the process-wide cv2.setNumThreads). None: all cores.
    exact: compute in f32 everywhere. Otherwise OpenVINO uses its own default for the CPU: bf16
    where the CPU computes it natively (AVX512-BF16/AMX), f32 elsewhere (the other runtimes are
    always f32).
    """

    def __init__(self, path: str | Path, *, runtime: str | None = None, threads: int | None = None,
                 exact: bool = False):
        self.runtime = resolve(runtime)
        self.threads = threads
        self.exact = exact
        # Runtimes keep per-request state; one call at a time per session.
        self._lock = threading.Lock()
        getattr(self, f"_load_{self.runtime}")(str(path))

    def _load_openvino(self, path: str) -> None:
        core = _ov_core()
        config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
                  # Pinned threads fight every other process for the pinned cores on a shared machine.
                  "ENABLE_CPU_PINNING": False}
        if self.exact:
            config["INFERENCE_PRECISION_HINT"] = "f32"
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = str(int(self.threads))
        self._model = core.read_model(path)
        self._config = config
        compiled = core.compile_model(self._model, "CPU", config)
        self._request = compiled.create_infer_request()
        self.input_shape = [d.get_length() if d.is_static else None for d in compiled.inputs[0].get_partial_shape()]
        self.output_names = [o.get_any_name() for o in compiled.outputs]
        self._static: dict[tuple, object] = {}
        self._seen: Counter[tuple] = Counter()
        self.max_static = STATIC_SHAPES          # 0: always the dynamic graph (bench/speed.py's baseline)

    def _request_for(self, shape: tuple) -> object:
        """A request compiled for this exact input shape once the shape recurs (a camera stream, a
        folder of same-sized photos): OpenVINO runs a static shape up to 1.8x faster than the
        dynamic graph (YuNet on 256x256: 1.04 vs 1.84 ms), but compiling one takes ~0.2 s, so a
        shape seen once runs the dynamic graph. With every slot taken, a shape replaces the least
        seen one only when seen twice as often: photos of many sizes (CFP, a phone's uploads)
        would otherwise spend most of their time recompiling graphs that are evicted again."""
        if not self.max_static or None not in self.input_shape:
            return self._request
        if len(self._seen) > 4096:          # photos of ever-new sizes: forget the rare ones, stay bounded
            self._seen = Counter({s: self._seen[s] for s in self._static})
        self._seen[shape] += 1
        if shape in self._static:
            return self._static[shape]
        if self._seen[shape] < STATIC_AFTER:
            return self._request
        if len(self._static) >= self.max_static:
            rarest = min(self._static, key=self._seen.__getitem__)
            if self._seen[shape] < 2 * self._seen[rarest]:
                return self._request
            del self._static[rarest]
        model = self._model.clone()
        model.reshape({0: list(shape)})
        self._static[shape] = _ov_core().compile_model(model, "CPU", self._config).create_infer_request()
        return self._static[shape]

    def _run_openvino(self, x: np.ndarray) -> list[np.ndarray]:
        # infer() returns copies of the outputs (share_outputs=False), in graph order.
        return list(self._request_for(x.shape).infer({0: x}, share_inputs=True).to_tuple())

    def _load_onnxruntime(self, path: str) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.inter_op_num_threads = 1
        # Idle workers sleep instead of spinning: the detector's and the embedder's pools (and other
        # processes) would otherwise burn the cores the next model needs.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.threads:
            opts.intra_op_num_threads = int(self.threads)
        self._session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        self.input_shape = [d if isinstance(d, int) else None for d in inp.shape]
        self.output_names = [o.name for o in self._session.get_outputs()]

    def _run_onnxruntime(self, x: np.ndarray) -> list[np.ndarray]:
        return self._session.run(None, {self._input: x})

    def _load_opencv(self, path: str) -> None:
        import cv2
        import onnx

        # OpenCV 5 warns on every net that its new graph engine ignores targets: noise for CPU use.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        if self.threads:
            cv2.setNumThreads(int(self.threads))
        self._net = cv2.dnn.readNetFromONNX(path)
        graph = onnx.load(path, load_external_data=False).graph
        inits = {i.name for i in graph.initializer}
        inp = next(i for i in graph.input if i.name not in inits)
        self._input = inp.name
        self.input_shape = [d.dim_value or None for d in inp.type.tensor_type.shape.dim]
        self.output_names = [o.name for o in graph.output]

    def _run_opencv(self, x: np.ndarray) -> list[np.ndarray]:
        self._net.setInput(x, self._input)
        return list(self._net.forward(self.output_names))

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        x = np.ascontiguousarray(x, np.float32)
        with self._lock:
            out = getattr(self, f"_run_{self.runtime}")(x)
        return [np.asarray(o, np.float32) for o in out]


@lru_cache(maxsize=1)
def _ov_core():
    import openvino as ov
    return ov.Core()


def version(runtime: str) -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version
    dist = {"openvino": "openvino", "onnxruntime": "onnxruntime", "opencv": "opencv-python-headless"}[runtime]
    try:
        return dist_version(dist)
    except PackageNotFoundError:
        return "unknown"


# /proc/cpuinfo flags that decide the speed of the models and of FAISS (AMX: amx_tile).
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile")
# Environment caps that make the libraries run an older CPU's code (read once, at library load).
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "OV_CPU_MAX_ISA", "FAISS_SIMD_LEVEL")


@dataclass(frozen=True)
class CpuReport:
    """What decides faceprint's speed on this machine: the CPU, the instruction sets it has, and
    what the libraries actually use (caps included)."""
    model: str
    isa: dict[str, bool]
    caps: dict[str, str]
    openvino: list[str]              # OpenVINO CPU OPTIMIZATION_CAPABILITIES (BF16, INT8, FP32, ...)
    openvino_precision: str | None   # what OpenVINO computes an fp32 graph in by default here
    faiss_simd: str | None

    @property
    def cpu_class(self) -> str:
        cap = self.caps.get("ONEDNN_MAX_CPU_ISA", "").lower()
        if cap and cap not in ("all", "default"):
            return f"{cap} (emulated)"
        for flag, name in (("amx_tile", "amx"), ("avx512_bf16", "avx512_bf16"), ("avx512f", "avx512"),
                           ("avx2", "avx2")):
            if self.isa.get(flag):
                return name
        return "pre-avx2"


def cpu_report() -> CpuReport:
    """The CpuReport of this process (loads OpenVINO and FAISS if installed; never raises)."""
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (x.strip() for x in line.partition(":"))
            if key == "model name":
                model = value
            elif key == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    caps = {k: os.environ[k] for k in ISA_CAPS if os.environ.get(k)}
    ov_caps, ov_precision, faiss_simd = [], None, None
    if importlib.util.find_spec("openvino") is not None:
        try:
            ov_caps = list(_ov_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
            ov_precision = _ov_core().get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()
        except RuntimeError:
            pass
    try:
        import faiss
        faiss_simd = faiss.SIMDConfig.get_level_name()
    except (ImportError, AttributeError):
        pass
    return CpuReport(model, {f: f in flags for f in ISA_FLAGS}, caps, ov_caps, ov_precision, faiss_simd)


def describe(report: CpuReport, runtime: str) -> list[str]:
    """Lines for `faceprint models`: why this machine's speed differs from the README's figures."""
    have = [f for f in ISA_FLAGS if report.isa.get(f)]
    lines = [f"cpu: {report.model}; class {report.cpu_class}; instruction sets: {' '.join(have) or 'none of ' + ', '.join(ISA_FLAGS)}"]
    if report.caps:
        lines.append("capped by: " + " ".join(f"{k}={v}" for k, v in report.caps.items()))
    if runtime == "openvino":
        lines.append(f"openvino: fp32 embedders run in {report.openvino_precision or 'f32'}, detectors in f32, "
                     f"int8 models in int8 (CPU capabilities: {' '.join(report.openvino) or 'unknown'})")
    else:
        lines.append(f"{runtime}: fp32 models run in f32, int8 models in int8")
    if report.faiss_simd:
        lines.append(f"faiss: {report.faiss_simd} kernels")
    return lines
