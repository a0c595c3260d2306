"""Decode and validate images: paths, bytes or numpy arrays in, BGR uint8 (H, W, 3) out.

Pillow reads the header first so that byte and pixel limits are enforced before any pixel is
decoded (a 50,000-pixel-wide PNG is refused without allocating it). EXIF orientation is applied,
and gray, RGBA, palette and 16-bit images are brought to 8-bit BGR.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageDecodeError, ImageTooLargeError
from .util import sha256

ImageInput = Union[str, Path, bytes, bytearray, memoryview, np.ndarray]

# Pillow's own bomb check warns or raises with a message about "DOS attacks"; ours is clearer.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 40 * 1024 * 1024
    max_side: int = 8192
    max_pixels: int = 40_000_000


DEFAULT_LIMITS = Limits()


def describe(source: ImageInput) -> str:
    """A short name for messages: the path, or what kind of in-memory input it was."""
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, np.ndarray):
        return f"array {source.shape}"
    return f"{len(source)} bytes of image data"


def _check_size(width: int, height: int, name: str, limits: Limits) -> None:
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"{name}: image is {width}x{height}, limit is {limits.max_side} px per side and "
            f"{limits.max_pixels / 1e6:.0f} megapixels; downscale it first")


def load_image(source: ImageInput, *, rgb: bool = False, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """Return a BGR uint8 (H, W, 3) array.

    Arrays are taken as BGR (OpenCV's order) unless rgb=True; 2-D arrays are gray, 4-channel
    arrays have their alpha dropped, 16-bit and float arrays are rescaled to 8 bits.
    """
    return decode(source, rgb=rgb, limits=limits)[0]


def decode(source: ImageInput, *, rgb: bool = False, limits: Limits = DEFAULT_LIMITS) -> tuple[np.ndarray, str | None]:
    """load_image() plus the SHA-256 (hex) of the encoded bytes: the photo's identity, used to
    recognise a re-submitted photo and in audit records. None for arrays (no encoded form)."""
    if isinstance(source, np.ndarray):
        return _from_array(source, rgb=rgb, limits=limits), None
    if not isinstance(source, (str, Path, bytes, bytearray, memoryview)):
        raise ImageDecodeError(f"cannot read an image from a {type(source).__name__}; give one photo as a path, "
                               "its bytes or a decoded array (one call per photo)")
    name = describe(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            raise ImageDecodeError(f"{name}: is a directory, not an image file")
        if not path.is_file():
            raise ImageDecodeError(f"{name}: no such file (or a broken link)")
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ImageTooLargeError(
                f"{name}: file is {size / 2**20:.1f} MiB, limit is {limits.max_bytes / 2**20:.0f} MiB")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageDecodeError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    else:
        data = bytes(source)
        if len(data) > limits.max_bytes:
            raise ImageTooLargeError(
                f"{name}: limit is {limits.max_bytes / 2**20:.0f} MiB of image data")
    if not data:
        raise ImageDecodeError(f"{name}: file is empty; pass a JPEG, PNG, BMP, TIFF, WebP or PGM image")
    return _decode(data, name, limits), sha256(data)


def _decode(data: bytes, name: str, limits: Limits) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            _check_size(img.width, img.height, name, limits)
            img.load()
            img = ImageOps.exif_transpose(img)
            return _pil_to_bgr(img)
    except ImageTooLargeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError(
            f"{name}: not a recognised image format; pass a JPEG, PNG, BMP, TIFF, WebP or PGM image") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageDecodeError(f"{name}: image data is damaged or truncated ({exc}); re-export the file") from None


def _pil_to_bgr(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img)
        return _from_array(arr, rgb=False, limits=DEFAULT_LIMITS)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        # Transparent pixels become white rather than whatever colour hides under the alpha.
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    # cvtColor: the same pixels as a reversed-channel copy in numpy, 4x quicker.
    return cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2BGR)


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ImageDecodeError("image array contains NaN or infinite values")
    hi = float(arr.max()) if arr.size else 0.0
    if np.issubdtype(arr.dtype, np.floating) and hi <= 1.0:
        arr = arr * 255.0
    elif hi > 255:
        arr = arr * (255.0 / (65535.0 if hi <= 65535 else hi))
    return np.clip(arr + 0.5, 0, 255).astype(np.uint8)


def _from_array(arr: np.ndarray, *, rgb: bool, limits: Limits) -> np.ndarray:
    name = describe(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or arr.size == 0:
        raise ImageDecodeError(f"{name}: expected an (H, W), (H, W, 3) or (H, W, 4) image array")
    _check_size(arr.shape[1], arr.shape[0], name, limits)
    arr = _to_uint8(arr)
    if arr.ndim == 2:
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    arr = arr[:, :, :3]
    if rgb:
        arr = arr[:, :, ::-1]
    return np.ascontiguousarray(arr)
