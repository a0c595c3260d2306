"""Encryption at rest for a gallery's templates: AES-256-GCM over every template vector in the store
(associated data: the template id, so a ciphertext cannot be moved to another row) and over every
index file written to disk. The store records only that it is encrypted and a key check value
(an HMAC of a constant, which reveals nothing about the key), never the key."""
from __future__ import annotations

import hashlib
import hmac
import os
import struct
from pathlib import Path

from ..errors import GalleryError, GalleryKeyError

KEY_BYTES = 32
NONCE_BYTES = 12
ALGORITHM = "aes-256-gcm"


def load_key(path: str | Path) -> bytes:
    """Read a key file: 32 raw bytes, or 64 hexadecimal characters (surrounding whitespace ignored)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise GalleryKeyError(f"cannot read the encryption key file {path}: {exc.strerror or exc}") from None
    if len(raw) == KEY_BYTES:
        return raw
    text = raw.strip()
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    raise GalleryKeyError(f"encryption key file {path} must hold 32 raw bytes or 64 hex characters "
                          f"(it holds {len(raw)} bytes); make one with: head -c 32 /dev/urandom > {path}")


def key_check_value(key: bytes) -> str:
    return hmac.new(key, b"faceprint gallery key check", hashlib.sha256).hexdigest()[:32]


class Cipher:
    """Seals and opens byte strings bound to an integer (a template id or a chunk number)."""

    def __init__(self, key: bytes):
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError:
            raise GalleryError("encrypted galleries need the cryptography package: pip install cryptography") from None
        if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
            raise GalleryKeyError(f"an encryption key is {KEY_BYTES} bytes; got "
                                  f"{len(key) if isinstance(key, (bytes, bytearray)) else type(key).__name__}")
        self._aead = AESGCM(bytes(key))
        self.check = key_check_value(bytes(key))

    def seal(self, bound: int, data: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, struct.pack("<q", bound))

    def open(self, bound: int, blob: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag
        blob = bytes(blob)
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], struct.pack("<q", bound))
        except InvalidTag:
            raise GalleryKeyError(f"encrypted data for id {bound} does not authenticate under this key "
                                  "(wrong key, or the data was altered)") from None


def check_key(meta: dict[str, str], key: bytes | None, where: str) -> Cipher | None:
    """The Cipher for a gallery whose meta is `meta`, refusing a missing, wrong or unexpected key."""
    encrypted = meta.get("encryption")
    if encrypted and key is None:
        raise GalleryKeyError(f"gallery {where} is encrypted; give its key (--encryption-key-file or "
                              "FACEPRINT_ENCRYPTION_KEY_FILE; encryption_key= in Python)")
    if not encrypted and key is not None:
        raise GalleryKeyError(f"gallery {where} is not encrypted; to encrypt it, run "
                              f"`faceprint gallery rekey --gallery {where} --new-key-file KEY` (Gallery.rekey)")
    if not encrypted:
        return None
    cipher = Cipher(key)
    if not hmac.compare_digest(cipher.check, meta.get("key_check", "")):
        raise GalleryKeyError(f"wrong encryption key for gallery {where} (its key check value does not match); "
                              "nothing was read or changed")
    return cipher
