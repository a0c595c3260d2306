"""The int8 SFace file: int8 kernels really run, and its templates are interchangeable with fp32 ones;
the CPU report `faceprint models` prints."""
import numpy as np

from faceprint import runtime
from faceprint.embed import create_embedder


def test_int8_sface_runs_int8_kernels_and_agrees_with_fp32(engine, lfw):
    int8 = create_embedder("sface-int8", runtime="openvino", threads=1)
    compiled = int8.session._request.get_compiled_model()
    kernels = {op.get_rt_info()["runtimePrecision"].astype(str) for op in compiled.get_runtime_model().get_ordered_ops()
               if op.get_rt_info()["layerType"].astype(str) == "Convolution"}
    assert kernels <= {"u8", "i8"}, kernels           # QDQ kept by prepare_onnx, not dequantised to fp32
    for path in sorted((lfw / "lfw-deepfunneled" / "Aaron_Peirsol").glob("*.jpg"))[:3]:
        img = engine.load(path)
        t = engine.template(img)
        v = int8.embed_crops(engine.embedder.crops(img, [t.face]))[0]
        assert float(t.vector @ (v / np.linalg.norm(v))) > 0.98


def test_cpu_report_names_the_instruction_sets():
    report = runtime.cpu_report()
    assert set(report.isa) == set(runtime.ISA_FLAGS)
    assert report.cpu_class in ("amx", "avx512_bf16", "avx512", "avx2", "pre-avx2") or "emulated" in report.cpu_class
    lines = runtime.describe(report, "openvino")
    assert lines[0].startswith("cpu: ") and any(line.startswith("openvino: ") for line in lines)
