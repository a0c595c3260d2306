"""Int8 SFace by NNCF post-training quantisation (the file shipped as models/sface_int8.onnx).

    .venv/bin/pip install 'faceprint[quantize]'      # nncf, for this script only
    .venv/bin/python scripts/quantize_int8.py [--calibration lfw-outside-pairs|people-a]
        [--keep-float first,last] [--fold-bn] [--no-fast-bias-correction] [--preset mixed] [--out FILE]

Calibration photos (every `--masked-every`-th one with a synthetic mask, so activation ranges cover
masked faces too): `lfw-outside-pairs` (default, the shipped file's recipe): one photo each of 300
LFW people in no pair of pairs.txt, no CFP photo; `people-a`: people A only (bench/sets.py), one
LFW photo each of `--lfw` people and one frontal + one profile photo each of `--cfp` CFP people, so
profile faces are covered too. Inputs are exactly what the runtime feeds SFace: the 112x112 RGB crop
of the fp32 pipeline. Options: `--keep-float first,last` (the first convolution and/or the final
fully-connected layer stay in floating point), `--fold-bn` (BatchNormalization folded into the
convolutions first, so bias correction has biases to correct), `--no-fast-bias-correction`,
`--preset mixed` (asymmetric activations). The output is an ONNX QDQ graph (int8 per-channel
weights, int8 activations) that OpenVINO and onnxruntime run with int8 kernels; put its SHA-256 into
models/manifest.json ("sface-int8"). Each recipe's accuracy: bench/precision.py --candidates FILE...
(README "Speed per CPU class"). Licence: the source model's (Apache-2.0), notice in
models/LICENSE-int8.txt. int8 YuNet is not made: it ran slower than f32 YuNet.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from sets import cfp_photos, fit_side, lfw_photos  # noqa: E402

from faceprint.engine import Engine, pick_face  # noqa: E402
from faceprint.errors import FaceprintError  # noqa: E402
from faceprint.evaluate.masks import synthetic_mask  # noqa: E402
from faceprint.evaluate.protocols import identity_folders, lfw_pairs  # noqa: E402
from faceprint.util import sha256  # noqa: E402

OUT = ROOT / "src" / "faceprint" / "models"
DATA = ROOT.parent / "shared" / "data"


def calibration_photos(n_lfw: int, n_cfp: int, seed: int = 0) -> list[Path]:
    """One photo each of n_lfw LFW people A; one frontal and one profile photo each of n_cfp CFP people A."""
    rng = random.Random(seed)
    chosen = []
    for photos, views in ((lfw_photos(), ("",)), (cfp_photos(), ("frontal", "profile"))):
        by_person: dict[tuple[str, str], list[Path]] = {}
        for path, person, view in zip(*photos):
            if fit_side(person):
                by_person.setdefault((person, view), []).append(path)
        people = sorted({person for person, _ in by_person})
        n = n_lfw if views == ("",) else n_cfp
        for person in rng.sample(people, min(n, len(people))):
            chosen += [rng.choice(by_person[(person, v)]) for v in views if (person, v) in by_person]
    return chosen


def lfw_outside_pairs(n: int, seed: int = 0) -> list[Path]:
    """One photo each of n LFW people who are in no view-2 pair."""
    lfw = DATA / "lfw"
    in_pairs = {p.parent.name for pr in lfw_pairs(lfw) for p in (pr.a, pr.b)}
    people = identity_folders(lfw / "lfw-deepfunneled")
    outside = sorted(name for name in people if name not in in_pairs)
    rng = random.Random(seed)
    return [rng.choice(people[name]) for name in rng.sample(outside, min(n, len(outside)))]


def detector_crops(engine: Engine, photos: list[Path], masked_every: int) -> list[np.ndarray]:
    """SFace blobs of the largest detected face, on the detector's landmarks (the shipped file's inputs)."""
    out = []
    for i, path in enumerate(photos):
        img = engine.load(path)
        faces = engine.detector.detect_one(img)
        if not faces:
            continue
        face = faces[pick_face(faces, img.shape)]
        if masked_every and i % masked_every == masked_every - 1:
            img = synthetic_mask(img, face, path.name)[0]
        crop = engine.embedder.crops(img, [face])[0]
        out.append(np.ascontiguousarray(crop[:, :, ::-1].transpose(2, 0, 1)[None], np.float32))
    return out


def calibration_crops(engine: Engine, photos: list[Path], masked_every: int) -> list[np.ndarray]:
    """SFace input blobs (1, 3, 112, 112) as the fp32 pipeline makes them for these photos."""
    out = []
    for i, path in enumerate(photos):
        img = engine.load(path)
        try:
            if masked_every and i % masked_every == masked_every - 1:
                face = engine.analyse(img).template.face
                img = synthetic_mask(img, face, path.name)[0]
            face = engine.analyse(img).template.face
        except FaceprintError:
            continue
        crop = engine.embedder.crops(img, [face])[0]
        out.append(np.ascontiguousarray(crop[:, :, ::-1].transpose(2, 0, 1)[None], np.float32))
    return out


def float_layers(source: Path, keep: set[str]) -> list[str]:
    """Names of the first Conv and/or the last Gemm/MatMul node of the graph."""
    import onnx

    nodes = onnx.load(str(source), load_external_data=False).graph.node
    names = []
    if "first" in keep:
        names.append(next(n.name for n in nodes if n.op_type == "Conv"))
    if "last" in keep:
        names.append([n.name for n in nodes if n.op_type in ("Gemm", "MatMul")][-1])
    return names


def folded(source: Path, out: Path) -> Path:
    """The graph with each BatchNormalization folded into the convolution before it (onnxruntime's
    basic graph optimisation): the convolutions then carry biases that bias correction can adjust."""
    import onnx
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.optimized_model_filepath = str(out)
    ort.InferenceSession(str(source), opts, providers=["CPUExecutionProvider"])
    model = onnx.load(str(out))
    used = {n.domain for n in model.graph.node}
    kept = [o for o in model.opset_import if o.domain in used | {""}]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    onnx.save(model, str(out))
    return out


def quantize(source: Path, inputs: list[np.ndarray], out: Path, *, fast_bias_correction: bool,
             keep_float: set[str], preset: str) -> str:
    import nncf
    import onnx

    model = onnx.load(str(source))
    input_name = model.graph.input[0].name
    dataset = nncf.Dataset(inputs, lambda x: {input_name: x})
    ignored = float_layers(source, keep_float)
    quantized = nncf.quantize(
        model, dataset, subset_size=len(inputs), target_device=nncf.TargetDevice.CPU,
        preset=nncf.QuantizationPreset.MIXED if preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE,
        fast_bias_correction=fast_bias_correction,
        ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None)
    onnx.save(quantized, str(out))
    digest = sha256(out)
    print(f"sface: {out} ({out.stat().st_size / 2**20:.1f} MiB) sha256 {digest}; float layers: {ignored or 'none'}")
    return digest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calibration", choices=("lfw-outside-pairs", "people-a"), default="lfw-outside-pairs")
    ap.add_argument("--lfw", type=int, default=None,
                    help="LFW people, one photo each (default 300 outside pairs / 400 people A)")
    ap.add_argument("--cfp", type=int, default=250, help="CFP people A, one frontal + one profile photo each")
    ap.add_argument("--masked-every", type=int, default=4, help="every n-th photo gets a synthetic mask (0: none)")
    ap.add_argument("--no-fast-bias-correction", action="store_true")
    ap.add_argument("--keep-float", default="", help="comma-separated: first (conv) and/or last (fc) stay float")
    ap.add_argument("--preset", choices=("performance", "mixed"), default="performance")
    ap.add_argument("--fold-bn", action="store_true", help="fold BatchNormalization into the convolutions first")
    ap.add_argument("--out", type=Path, default=OUT / "sface_int8.onnx")
    args = ap.parse_args()
    engine = Engine(runtime="openvino")
    if args.calibration == "people-a":
        photos = calibration_photos(args.lfw or 400, args.cfp)
        inputs = calibration_crops(engine, photos, args.masked_every)
    else:
        photos = lfw_outside_pairs(args.lfw or 300)
        inputs = detector_crops(engine, photos, args.masked_every)
    print(f"calibration ({args.calibration}): {len(photos)} photos, {len(inputs)} SFace crops")
    source = engine.embedder.spec.onnx()
    if args.fold_bn:
        source = folded(source, args.out.with_suffix(".folded.onnx"))
    quantize(source, inputs, args.out, fast_bias_correction=not args.no_fast_bias_correction,
             keep_float={k for k in args.keep_float.split(",") if k}, preset=args.preset)


if __name__ == "__main__":
    main()
