"""Convert the two MiniFASNet anti-spoofing checkpoints (Silent-Face-Anti-Spoofing, Minivision,
Apache-2.0) to ONNX once, check the ONNX outputs against PyTorch's, and write the files faceprint
ships: src/faceprint/models/minifasnet_*.onnx, MINIFASNET_LICENSE, MINIFASNET_NOTICE, and the
reference outputs tests/minifasnet_reference.json (crops of the upstream samples and PyTorch's
logits for them, so the tests check every faceprint runtime against PyTorch without torch).

torch is needed here only, never by faceprint. In a throw-away environment:

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch onnx onnxruntime opencv-python-headless
    /tmp/torchvenv/bin/python scripts/convert_minifasnet.py [--src ../shared/models/minifasnet]

The network is written out below from the architecture of upstream's src/model_lib/MiniFASNet.py
(same layer names, so the checkpoints load with strict=True). Upstream's recipe, followed by
faceprint.stages.liveness: a square-ish crop of `scale` x the detector's box (shifted inside the
image, shrunk when it does not fit), resized to 80x80, BGR float 0..255 without normalisation,
softmax over 3 classes of which class 1 is "live"; the two models' softmaxes are summed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "faceprint" / "models"
REFERENCE = ROOT / "tests" / "minifasnet_reference.json"

# Channel plan of upstream's pruned networks ('1.8M' for V1/V1SE, '1.8M_' for V2): 49 widths.
KEEP = {
    "V1": [32, 32, 103, 103, 64, 13, 13, 64, 26, 26, 64, 13, 13, 64, 52, 52, 64, 231, 231, 128,
           154, 154, 128, 52, 52, 128, 26, 26, 128, 52, 52, 128, 26, 26, 128, 26, 26, 128, 308, 308,
           128, 26, 26, 128, 26, 26, 128, 512, 512],
    "V2": [32, 32, 103, 103, 64, 13, 13, 64, 13, 13, 64, 13, 13, 64, 13, 13, 64, 231, 231, 128,
           231, 231, 128, 52, 52, 128, 26, 26, 128, 77, 77, 128, 26, 26, 128, 26, 26, 128, 308, 308,
           128, 26, 26, 128, 26, 26, 128, 512, 512],
}
# checkpoint file -> (faceprint model name, channel plan, squeeze-excitation blocks, crop scale)
MODELS = {
    "2.7_80x80_MiniFASNetV2.pth": ("minifasnet_v2", "V2", False, 2.7),
    "4_0_0_80x80_MiniFASNetV1SE.pth": ("minifasnet_v1se", "V1", True, 4.0),
}
SAMPLES = {"image_F1.jpg": "attack", "image_F2.jpg": "attack", "image_T1.jpg": "live"}
SIZE = 80


class ConvBlock(nn.Module):
    def __init__(self, cin, cout, kernel=1, stride=1, padding=0, groups=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        if act:
            self.prelu = nn.PReLU(cout)
        self.act = act

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.prelu(x) if self.act else x


class SqueezeExcite(nn.Module):
    def __init__(self, channels, reduction=4):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels // reduction)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        w = x.mean(dim=(2, 3), keepdim=True)
        w = torch.sigmoid(self.bn2(self.fc2(torch.relu(self.bn1(self.fc1(w))))))
        return x * w


class DepthWise(nn.Module):
    """1x1 expand (PReLU) -> 3x3 depthwise (PReLU) -> 1x1 project; residual blocks add the input,
    after an optional squeeze-excitation of the projection."""

    def __init__(self, widths, stride, residual, se=False):
        super().__init__()
        cin, mid, mid2, cout = widths
        self.conv = ConvBlock(cin, mid)
        self.conv_dw = ConvBlock(mid, mid2, 3, stride, 1, groups=mid)
        self.project = ConvBlock(mid2, cout, act=False)
        self.residual = residual
        if se:
            self.se_module = SqueezeExcite(cout)
        self.se = se

    def forward(self, x):
        y = self.project(self.conv_dw(self.conv(x)))
        if not self.residual:
            return y
        return x + (self.se_module(y) if self.se else y)


class Stage(nn.Module):
    """Residual blocks; with squeeze-excitation the last block of the stage carries it."""

    def __init__(self, keep, start, blocks, se):
        super().__init__()
        self.model = nn.Sequential(*[
            DepthWise((keep[start + 3 * i], keep[start + 3 * i + 1], keep[start + 3 * i + 2],
                       keep[start + 3 * i + 3]), 1, True, se and i == blocks - 1)
            for i in range(blocks)])

    def forward(self, x):
        return self.model(x)


class MiniFASNet(nn.Module):
    """80x80 BGR -> 3 logits (class 1: live). Layer names match upstream's state dicts."""

    def __init__(self, keep, se, embedding=128, classes=3, conv6_kernel=(5, 5)):
        super().__init__()
        k = keep
        self.conv1 = ConvBlock(3, k[0], 3, 2, 1)
        self.conv2_dw = ConvBlock(k[0], k[1], 3, 1, 1, groups=k[1])
        self.conv_23 = DepthWise((k[1], k[2], k[3], k[4]), 2, False)
        self.conv_3 = Stage(k, 4, 4, se)
        self.conv_34 = DepthWise((k[16], k[17], k[18], k[19]), 2, False)
        self.conv_4 = Stage(k, 19, 6, se)
        self.conv_45 = DepthWise((k[37], k[38], k[39], k[40]), 2, False)
        self.conv_5 = Stage(k, 40, 2, se)
        self.conv_6_sep = ConvBlock(k[46], k[47])
        self.conv_6_dw = ConvBlock(k[47], k[48], conv6_kernel, groups=k[48], act=False)
        self.linear = nn.Linear(512, embedding, bias=False)
        self.bn = nn.BatchNorm1d(embedding)
        self.prob = nn.Linear(embedding, classes, bias=False)

    def forward(self, x):
        for layer in (self.conv1, self.conv2_dw, self.conv_23, self.conv_3, self.conv_34, self.conv_4,
                      self.conv_45, self.conv_5, self.conv_6_sep, self.conv_6_dw):
            x = layer(x)
        return self.prob(self.bn(self.linear(torch.flatten(x, 1))))


def load(path: Path, plan: str, se: bool) -> MiniFASNet:
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    net = MiniFASNet(KEEP[plan], se)
    net.load_state_dict(state, strict=True)
    return net.eval()


def upstream_box(w: int, h: int, box, scale: float) -> tuple[int, int, int, int]:
    """Upstream's CropImage._get_new_box: (x0, y0, x1, y1), inclusive."""
    bx, by, bw, bh = box
    scale = min((h - 1) / bh, (w - 1) / bw, scale)
    cx, cy = bx + bw / 2, by + bh / 2
    x0, y0, x1, y1 = cx - bw * scale / 2, cy - bh * scale / 2, cx + bw * scale / 2, cy + bh * scale / 2
    if x0 < 0:
        x1, x0 = x1 - x0, 0
    if y0 < 0:
        y1, y0 = y1 - y0, 0
    if x1 > w - 1:
        x0, x1 = x0 - (x1 - w + 1), w - 1
    if y1 > h - 1:
        y0, y1 = y0 - (y1 - h + 1), h - 1
    return int(x0), int(y0), int(x1), int(y1)


def sample_crops(src: Path, scale: float) -> dict[str, tuple[list[int], np.ndarray]]:
    """Upstream crops of the sample photos around the largest face OpenCV's Haar cascade finds (any
    box will do for comparing two runtimes on the same input; the Haar box is close to upstream's)."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    out = {}
    for name in SAMPLES:
        img = cv2.imread(str(src / name))
        faces = cascade.detectMultiScale(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), 1.1, 5, minSize=(60, 60))
        box = max(faces, key=lambda b: b[2] * b[3])
        x0, y0, x1, y1 = upstream_box(img.shape[1], img.shape[0], [int(v) for v in box], scale)
        crop = cv2.resize(img[y0:y1 + 1, x0:x1 + 1], (SIZE, SIZE))
        out[name] = ([x0, y0, x1, y1], crop)
    return out


def to_input(crops: list[np.ndarray]) -> np.ndarray:
    return np.stack([c.transpose(2, 0, 1) for c in crops]).astype(np.float32)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def export(net: nn.Module, target: Path) -> None:
    dummy = torch.zeros(1, 3, SIZE, SIZE)
    torch.onnx.export(net, (dummy,), str(target), input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13,
                      do_constant_folding=True, dynamo=False)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert(src: Path) -> dict:
    import onnx
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    reference, fused = {"samples": {}, "models": {}}, {}
    for ckpt, (name, plan, se, scale) in MODELS.items():
        net = load(src / ckpt, plan, se)
        target = OUT / f"{name}.onnx"
        export(net, target)
        onnx.checker.check_model(onnx.load(str(target)))
        crops = sample_crops(src, scale)
        x = np.concatenate([to_input([c for _, c in crops.values()]),
                            rng.uniform(0, 255, (4, 3, SIZE, SIZE)).astype(np.float32)])
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        got = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        diff = float(np.abs(ref - got).max())
        pdiff = float(np.abs(softmax(ref) - softmax(got)).max())
        print(f"{name}: max |logit diff| {diff:.2e}, max |softmax diff| {pdiff:.2e} over {len(x)} inputs")
        if pdiff > 1e-4:
            raise SystemExit(f"{name}: ONNX and PyTorch disagree ({pdiff:.2e})")
        reference["models"][name] = {"scale": scale, "sha256": sha256(target), "source": ckpt,
                                     "source_sha256": sha256(src / ckpt), "max_logit_diff": diff}
        for i, (img, (box, _)) in enumerate(crops.items()):
            entry = reference["samples"].setdefault(img, {"truth": SAMPLES[img]})
            entry[name] = {"crop": box, "logits": [round(float(v), 6) for v in ref[i]]}
            fused[img] = fused.get(img, 0) + softmax(ref[i:i + 1])[0]
    for img, p in fused.items():
        label = int(np.argmax(p))
        print(f"{img} ({SAMPLES[img]}): summed softmax {np.round(p, 3).tolist()} -> "
              f"{'live' if label == 1 else 'attack'} (upstream: class 1 = live)")
        reference["samples"][img]["fused_live"] = round(float(p[1] / 2), 6)
    return reference


NOTICE = """MiniFASNet liveness models shipped with faceprint
====================================================

minifasnet_v2.onnx    from 2.7_80x80_MiniFASNetV2.pth   (SHA-256 {v2_src})
minifasnet_v1se.onnx  from 4_0_0_80x80_MiniFASNetV1SE.pth (SHA-256 {v1_src})

Source: Silent-Face-Anti-Spoofing, Copyright Minivision (https://github.com/minivision-ai/
Silent-Face-Anti-Spoofing), resources/anti_spoof_models/, licensed under the Apache License 2.0
(MINIFASNET_LICENSE beside this file).

Changes: the PyTorch checkpoints were converted to ONNX (opset 13, batch axis made dynamic, the
2-D batch normalisations folded into the convolutions) by faceprint's scripts/convert_minifasnet.py
(torch {torch}), with the network re-declared from the published architecture. The
weights are otherwise unchanged: the ONNX outputs match PyTorch's to {diff:.1e} (largest logit
difference on the upstream sample images and random inputs). The graph outputs the 3 logits
(softmax not included; class 1 is "live").
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=ROOT.parent / "shared" / "models" / "minifasnet")
    args = ap.parse_args()
    reference = convert(args.src)
    (OUT / "MINIFASNET_LICENSE").write_text((args.src / "LICENSE").read_text())
    models = reference["models"]
    (OUT / "MINIFASNET_NOTICE").write_text(NOTICE.format(
        v2_src=models["minifasnet_v2"]["source_sha256"], v1_src=models["minifasnet_v1se"]["source_sha256"],
        diff=max(m["max_logit_diff"] for m in models.values()), torch=torch.__version__))
    REFERENCE.write_text(json.dumps(reference, indent=1) + "\n")
    for name, m in models.items():
        print(f"{name}.onnx sha256 {m['sha256']}")
    print(f"wrote {OUT}/minifasnet_*.onnx, MINIFASNET_LICENSE, MINIFASNET_NOTICE and {REFERENCE}")


if __name__ == "__main__":
    main()
