"""Masks put on faces to measure and fit masked recognition. Two kinds, both placed from the 5
landmarks and seeded (the same image and seed always get the same mask): polygons drawn over the
lower face (as NIST FRVT Part 6A does; quick, for tests) and realistic masks, real mask cut-outs
warped onto the face (MaskTheFace's method; what the shipped mask handling is fitted on)."""
from __future__ import annotations

import zlib

import cv2
import numpy as np

from ..types import Face

COLOURS = {  # BGR
    "surgical-blue": (219, 191, 143), "white": (236, 236, 236), "black": (35, 35, 35),
    "grey": (128, 128, 128), "navy": (90, 40, 20), "red": (40, 40, 170),
}
SHAPES = ("surgical", "cloth", "n95")


def _frame(face: Face) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin between the eyes, unit 'right' (image-left eye -> image-right eye) and 'down' vectors,
    and the eye distance, so mask shapes are defined in face coordinates and follow head roll."""
    lm = face.landmarks.astype(np.float64)
    right = lm[1] - lm[0]
    d = float(np.linalg.norm(right)) or 1.0
    right /= d
    down = np.array([-right[1], right[0]])
    return (lm[0] + lm[1]) / 2, right, down, d


def mask_polygon(face: Face, shape: str) -> np.ndarray:
    """The mask outline as an (N, 2) int32 polygon in image coordinates."""
    o, r, dn, d = _frame(face)
    mouth_y = float(((face.landmarks[3] + face.landmarks[4]) / 2 - o) @ dn)
    # In eye-distance units below the eye line: nose tip ~0.6, mouth ~1.15; masks start on the bridge.
    top = 0.3 * d
    chin = mouth_y + 0.8 * d
    if shape == "surgical":
        pts = [(-0.85, top), (0.85, top), (1.05, mouth_y), (0.8, chin), (-0.8, chin), (-1.05, mouth_y)]
    elif shape == "n95":   # an ellipse over nose, mouth and chin
        cy, ry = (top + chin) / 2, (chin - top) / 2
        pts = [(0.95 * np.sin(t), (cy - ry * np.cos(t)) / d) for t in np.linspace(0, 2 * np.pi, 24, endpoint=False)]
        pts = [(x, y * d) for x, y in pts]
    else:  # cloth: rounded, reaching a little higher on the nose
        pts = [(-0.7, top), (0.0, top - 0.1 * d), (0.7, top), (1.05, mouth_y),
               (0.6, chin + 0.05 * d), (0.0, chin + 0.15 * d), (-0.6, chin + 0.05 * d), (-1.05, mouth_y)]
    poly = [o + (x * d) * r + y * dn for x, y in pts]
    return np.round(np.array(poly)).astype(np.int32)


def draw_mask(image: np.ndarray, face: Face, *, shape: str = "surgical", colour: str = "surgical-blue") -> np.ndarray:
    out = image.copy()
    poly = mask_polygon(face, shape)
    cv2.fillPoly(out, [poly], COLOURS[colour], lineType=cv2.LINE_AA)
    o, r, dn, d = _frame(face)
    shade = tuple(int(c * 0.8) for c in COLOURS[colour])
    if shape == "surgical":                       # pleats
        for k in (0.9, 1.2, 1.5):
            a = o + (-0.8 * d) * r + (k * d) * dn
            b = o + (0.8 * d) * r + (k * d) * dn
            cv2.line(out, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), shade, max(1, int(d / 30)), cv2.LINE_AA)
    # Straps towards the ears.
    for side in (-1, 1):
        a = o + (side * 1.0 * d) * r + (0.6 * d) * dn
        b = o + (side * 1.45 * d) * r + (0.15 * d) * dn
        cv2.line(out, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), shade, max(1, int(d / 20)), cv2.LINE_AA)
    return out


def mask_drawn(key: str, seed: int = 0) -> tuple[str, str]:
    """The (shape, colour) that synthetic_mask draws for this key and seed."""
    h = zlib.crc32(f"{seed}:{key}".encode())
    return SHAPES[h % len(SHAPES)], list(COLOURS)[(h // 7) % len(COLOURS)]


def synthetic_mask(image: np.ndarray, face: Face, key: str, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Draw the mask that (key, seed) picks; returns the image and what was drawn."""
    shape, colour = mask_drawn(key, seed)
    return draw_mask(image, face, shape=shape, colour=colour), {"shape": shape, "colour": colour}


def mask_transform(seed: int = 0):
    """An image transform for runner.image_templates: draw a seeded synthetic mask on the face the
    pipeline would pick (found on the clean image); images without a face pass unchanged."""
    def transform(engine, img: np.ndarray, path) -> np.ndarray:
        from ..engine import pick_face
        faces = engine.detector.detect([img])[0]
        if not faces:
            return img
        return synthetic_mask(img, faces[pick_face(faces, img.shape, "center")], path.name, seed)[0]
    return transform


# -- Realistic masks: real mask cut-outs warped onto the face --------------------------------------
# The cut-outs, their anchor table (masks.cfg) and the fabric textures come from MaskTheFace
# (Anwar and Raychowdhury, 2020; MIT licence, Copyright (c) 2020 Aqeel Anwar: keep its LICENSE
# with anything derived). Each cut-out has six anchors (top-left, nose bridge, top-right, bottom-
# left, chin, bottom-right); a homography puts them on the matching face points, estimated here
# from the 5 landmarks (MaskTheFace reads them off 68 landmarks).
MASK_KINDS = ("surgical", "n95", "kn95", "cloth", "gas")
_TEMPLATES = {"surgical": ("surgical", "surgical_blue", "surgical_green"), "n95": ("N95",),
              "kn95": ("KN95",), "cloth": ("cloth",), "gas": ("gas",)}
# Face points in eye distances from the eye midpoint (x: towards the image-right eye, y: down),
# for a frontal face; measured on the ArcFace 112x112 reference (nose tip 0.57, mouth 1.16, chin ~1.75).
_FACE_POINTS = {"a": (-1.15, 0.62), "b": (0.0, 0.32), "c": (1.15, 0.62),
                "d": (-0.98, 1.28), "e": (0.0, 1.78), "f": (0.98, 1.28)}
TURNED_AT = 0.25      # nose offset (eye distances) from which the turned cut-outs (_left / _right) are used


def read_mask_table(root) -> dict[str, tuple[str, np.ndarray]]:
    """{template name: (png path, (6, 2) anchors a..f)} from a MaskTheFace masks.cfg in `root`."""
    import configparser
    from pathlib import Path

    root = Path(root)
    cfg = configparser.ConfigParser()
    if not cfg.read(root / "masks.cfg"):
        from ..errors import FaceprintError
        raise FaceprintError(f"{root / 'masks.cfg'} not found; pass the MaskTheFace masks folder "
                             "(masks.cfg, templates/, textures/)")
    out = {}
    for name in cfg.sections():
        if "template" in cfg[name]:
            pts = np.array([[float(v) for v in cfg[name][f"mask_{k}"].split(",")] for k in "abcdef"])
            out[name] = (str(root / "templates" / Path(cfg[name]["template"]).name), pts)
    return out


def _face_anchors(face: Face) -> tuple[np.ndarray, float]:
    """The six face points in image coordinates, and the nose offset (eye distances, + = the nose
    towards the image-right eye: the head turned to the image right)."""
    o, r, dn, d = _frame(face)
    lm = face.landmarks.astype(np.float64)
    nose = (lm[2] - o) @ r / d
    mouth_y = float(((lm[3] + lm[4]) / 2 - o) @ dn) / d
    vscale = float(np.clip(mouth_y / 1.16, 0.7, 1.5))          # long faces, and faces tilted up/down
    turn = float(np.clip(nose, -0.8, 0.8))
    pts = []
    for key in "abcdef":
        x, y = _FACE_POINTS[key]
        # The half of the face the head turns away from shrinks, the other half widens.
        x = nose * (0.5 if key == "b" else 1.0) + x * (1 - turn * np.sign(x))
        pts.append(o + (x * d) * r + (y * vscale * d) * dn)
    return np.array(pts), nose


def _load_rgba(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 3 or img.shape[2] != 4:
        from ..errors import FaceprintError
        raise FaceprintError(f"{path} is not an RGBA PNG mask cut-out")
    return img


def _textured(rgba: np.ndarray, texture_path: str, rng: np.random.Generator) -> np.ndarray:
    """A cloth mask printed with a fabric texture: the texture tiled over the cut-out, modulated by
    the cut-out's own shading so that folds and seams stay visible."""
    tex = cv2.imread(texture_path, cv2.IMREAD_COLOR)
    if tex is None:
        return rgba
    h, w = rgba.shape[:2]
    scale = rng.uniform(0.3, 0.8) * w / max(tex.shape[1], 1)
    tex = cv2.resize(tex, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    reps = (h // max(tex.shape[0], 1) + 1, w // max(tex.shape[1], 1) + 1, 1)
    tiled = np.tile(tex, reps)[:h, :w].astype(np.float32)
    shade = cv2.cvtColor(rgba[..., :3], cv2.COLOR_BGR2GRAY).astype(np.float32)[..., None]
    shade = shade / max(float(np.percentile(shade[rgba[..., 3] > 0], 90)) if (rgba[..., 3] > 0).any() else 255.0, 1.0)
    out = rgba.copy()
    out[..., :3] = np.clip(tiled * np.clip(shade, 0.3, 1.1), 0, 255).astype(np.uint8)
    return out


def warp_mask(image: np.ndarray, face: Face, template: str, table: dict, *, texture: str | None = None,
              rng: np.random.Generator | None = None) -> np.ndarray:
    """The image with the named cut-out (a masks.cfg section) warped onto the face, its brightness
    matched to the face's."""
    rng = rng or np.random.default_rng(0)
    path, src = table[template]
    rgba = _load_rgba(path)
    if texture is not None:
        rgba = _textured(rgba, texture, rng)
    dst, _ = _face_anchors(face)
    hom, _ = cv2.findHomography(src.astype(np.float32), dst.astype(np.float32), 0)
    if hom is None:
        return image
    h, w = image.shape[:2]
    warped = cv2.warpPerspective(rgba, hom, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))
    alpha = warped[..., 3:].astype(np.float32) / 255.0
    # Lighting: the mask takes the face's brightness (upper face, between eyes and nose).
    o, _, dn, d = _frame(face)
    y0, x0 = int(max(o[1] - 0.2 * d, 0)), int(max(o[0] - 0.5 * d, 0))
    patch = image[y0:int(o[1] + 0.4 * d) + 1, x0:int(o[0] + 0.5 * d) + 1]
    light = float(np.clip(patch.mean() / 150.0, 0.45, 1.1)) if patch.size else 1.0
    out = image.astype(np.float32) * (1 - alpha) + warped[..., :3].astype(np.float32) * light * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


def realistic_drawn(key: str, seed: int, kind: str | None = None, textures: list[str] | None = None) -> dict:
    """What realistic_mask puts on for (key, seed): mask kind, cut-out family and texture."""
    h = zlib.crc32(f"real{seed}:{key}".encode())
    kind = kind or MASK_KINDS[h % len(MASK_KINDS)]
    family = _TEMPLATES[kind][(h // 5) % len(_TEMPLATES[kind])]
    texture = None
    if kind == "cloth" and textures and (h // 17) % 3:
        texture = textures[(h // 51) % len(textures)]      # two in three cloth masks printed
    return {"kind": kind, "template": family, "texture": texture, "rng": (h // 7) % 100_000}


def mask_textures(root) -> list[str]:
    from pathlib import Path
    return sorted(str(p) for p in (Path(root) / "textures").rglob("*") if p.suffix.lower() in (".png", ".jpg"))


def realistic_mask(image: np.ndarray, face: Face, key: str, table: dict, *, seed: int = 0, kind: str | None = None,
                   textures: list[str] | None = None) -> tuple[np.ndarray, dict]:
    """Warp the mask that (key, seed) picks onto the face (the turned cut-out where the head is turned)."""
    drawn = realistic_drawn(key, seed, kind, textures)
    _, nose = _face_anchors(face)
    template = drawn["template"]
    if abs(nose) >= TURNED_AT and f"{template}_left" in table:
        template += "_right" if nose > 0 else "_left"
    out = warp_mask(image, face, template, table, texture=drawn["texture"], rng=np.random.default_rng(drawn["rng"]))
    return out, {"kind": drawn["kind"], "template": template,
                 "texture": None if drawn["texture"] is None else drawn["texture"].rsplit("/", 2)[-2]}


def realistic_transform(root, seed: int = 0, kind: str | None = None):
    """An image transform for runner.image_templates: the seeded realistic mask on the face the
    pipeline would pick (found on the clean image); images without a face pass unchanged."""
    from pathlib import Path

    table, textures = read_mask_table(root), mask_textures(root)

    def transform(engine, img: np.ndarray, path) -> np.ndarray:
        from ..engine import pick_face
        faces = engine.detector.detect([img])[0]
        if not faces:
            return img
        face = faces[pick_face(faces, img.shape, "center")]
        key = "/".join(Path(path).parts[-3:])          # the same on every machine
        return realistic_mask(img, face, key, table, seed=seed, kind=kind, textures=textures)[0]
    return transform
