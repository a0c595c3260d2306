"""Int8 SFace by NNCF post-training quantisation (the file shipped as models/sface_int8.onnx).

    .venv/bin/pip install 'faceprint[quantize]'      # nncf, for this script only
    .venv/bin/python scripts/quantize_int8.py [--photos 300] [--models sface] [--out DIR]

Calibration photos: LFW people who appear in no pair of pairs.txt (view 2, the 10 folds every LFW
figure is reported on), one photo each, chosen by a fixed seed; one SFace crop in four carries a
synthetic mask (so activation ranges cover masked faces too). No CFP photo is used: CFP-FF/FP are
evaluation sets. Inputs are exactly what the runtime feeds each network (SFace: the aligned 112x112
RGB crop; YuNet: the photo zero-padded to a multiple of 32), taken from the fp32 pipeline.
The output is an ONNX QDQ graph (int8 per-channel weights, int8 activations) that OpenVINO and
onnxruntime run with int8 kernels; put its SHA-256 into models/manifest.json ("sface-int8"). Licence:
the source model's (Apache-2.0), notice in models/LICENSE-int8.txt. `--models yunet` quantises the
detector too; it is not shipped: int8 YuNet ran slower than f32 YuNet (README, "Speed per CPU class").
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from faceprint.engine import Engine, pick_face  # noqa: E402
from faceprint.evaluate.masks import synthetic_mask  # noqa: E402
from faceprint.evaluate.protocols import identity_folders, lfw_pairs  # noqa: E402
from faceprint.util import sha256  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "src" / "faceprint" / "models"
TARGETS = {"sface": "sface_int8.onnx", "yunet": "yunet_int8.onnx"}


def calibration_photos(lfw: Path, n: int, seed: int = 0) -> list[Path]:
    """One photo each of n LFW people who are in no view-2 pair."""
    in_pairs = {p.parent.name for pr in lfw_pairs(lfw) for p in (pr.a, pr.b)}
    people = identity_folders(lfw / "lfw-deepfunneled")
    outside = sorted(name for name in people if name not in in_pairs)
    rng = random.Random(seed)
    return [rng.choice(people[name]) for name in rng.sample(outside, min(n, len(outside)))]


def calibration_inputs(engine: Engine, photos: list[Path]) -> dict[str, list[np.ndarray]]:
    """The network inputs the fp32 pipeline builds for these photos: YuNet blobs and SFace blobs."""
    yunet, sface = [], []
    emb = engine.embedder
    for i, path in enumerate(photos):
        img = engine.load(path)
        h, w = img.shape[:2]
        pad_h, pad_w = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((1, 3, pad_h, pad_w), np.float32)
        blob[0, :, :h, :w] = img.transpose(2, 0, 1)
        yunet.append(blob)
        faces = engine.detector.detect_one(img)
        if not faces:
            continue
        face = faces[pick_face(faces, img.shape)]
        if i % 4 == 3:
            img = synthetic_mask(img, face, path.name)[0]
        crop = emb.crops(img, [face])[0]
        sface.append(np.ascontiguousarray(crop[:, :, ::-1].transpose(2, 0, 1)[None], np.float32))
    return {"yunet": yunet, "sface": sface}


def quantize(name: str, source: Path, inputs: list[np.ndarray], out: Path) -> str:
    import nncf
    import onnx

    model = onnx.load(str(source))
    input_name = model.graph.input[0].name
    dataset = nncf.Dataset(inputs, lambda x: {input_name: x})
    quantized = nncf.quantize(model, dataset, subset_size=len(inputs), preset=nncf.QuantizationPreset.PERFORMANCE,
                              target_device=nncf.TargetDevice.CPU)
    onnx.save(quantized, str(out))
    digest = sha256(out)
    print(f"{name}: {out} ({out.stat().st_size / 2**20:.1f} MiB) sha256 {digest}")
    return digest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=300, help="calibration photos (LFW people outside view 2)")
    ap.add_argument("--models", default="sface", help="sface and/or yunet, comma-separated")
    ap.add_argument("--data", type=Path, default=DATA / "lfw")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    engine = Engine(runtime="openvino")
    photos = calibration_photos(args.data, args.photos)
    inputs = calibration_inputs(engine, photos)
    print(f"calibration: {len(photos)} LFW photos of people outside view 2; {len(inputs['sface'])} SFace crops")
    sources = {"sface": engine.embedder.spec.onnx(), "yunet": engine.detector.spec.onnx(dynamic_hw=True)}
    for name in args.models.split(","):
        quantize(name, sources[name], inputs[name], args.out / TARGETS[name])


if __name__ == "__main__":
    main()
