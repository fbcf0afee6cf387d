"""WeChat's message signatures and AES message encryption (safe and compatible modes).

Pure functions over bytes, with ``cryptography`` (already one of Odoo's own dependencies) for AES. Any
failure to decrypt raises :class:`DecryptError` without saying why in detail: the caller refuses the
request (403) whatever the reason, and a padding oracle gets no finer answer than "refused".
"""
import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

#: WeChat pads to 32 bytes (not AES's 16): PKCS#7 with a block size of 32
PAD_BLOCK = 32
RANDOM_BYTES = 16
KEY_CHARS = 43


class DecryptError(ValueError):
    """An ``Encrypt`` value that does not decrypt to a message of the expected app id."""


def signature(*parts):
    """WeChat's signature: SHA-1 hex of the parts sorted and joined (token, timestamp, nonce[, Encrypt])."""
    return hashlib.sha1("".join(sorted(str(part) for part in parts)).encode()).hexdigest()


def signature_matches(given, *parts):
    """Constant-time check of a signature given in a request against the parts it must cover."""
    if not isinstance(given, str) or not given or not all(isinstance(part, str) for part in parts):
        return False
    return hmac.compare_digest(signature(*parts).encode(), given.strip().lower().encode("ascii", "replace"))


def aes_key(encoding_aes_key):
    """The 32-byte key of a 43-character EncodingAESKey; ValueError for anything else."""
    if not isinstance(encoding_aes_key, str) or len(encoding_aes_key) != KEY_CHARS:
        raise ValueError("the EncodingAESKey must have 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the EncodingAESKey is not base64") from None
    if len(key) != 32:
        raise ValueError("the EncodingAESKey does not give a 32-byte key")
    return key


def _cipher(key):
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]), backend=default_backend())


def encrypt(key, message, app_id, random_prefix=None):
    """The base64 ``Encrypt`` value of ``message`` (bytes or str) for ``app_id``."""
    message = message.encode() if isinstance(message, str) else bytes(message)
    prefix = os.urandom(RANDOM_BYTES) if random_prefix is None else bytes(random_prefix)
    if len(prefix) != RANDOM_BYTES:
        raise ValueError("the random prefix must have 16 bytes")
    plain = prefix + struct.pack(">I", len(message)) + message + app_id.encode()
    pad = PAD_BLOCK - len(plain) % PAD_BLOCK
    plain += bytes([pad]) * pad
    encryptor = _cipher(key).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def decrypt(key, encrypted, app_id):
    """The message (bytes) inside an ``Encrypt`` value; DecryptError unless it is well formed and for
    ``app_id``."""
    try:
        data = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise DecryptError("not base64") from None
    if not data or len(data) % 16:
        raise DecryptError("not whole AES blocks")
    decryptor = _cipher(key).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= PAD_BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise DecryptError("bad padding")
    plain = plain[:-pad]
    if len(plain) < RANDOM_BYTES + 4:
        raise DecryptError("too short")
    (length,) = struct.unpack(">I", plain[RANDOM_BYTES:RANDOM_BYTES + 4])
    start = RANDOM_BYTES + 4
    if start + length > len(plain):
        raise DecryptError("length beyond the message")
    message, trailing_id = plain[start:start + length], plain[start + length:]
    if not isinstance(app_id, str) or not app_id or not hmac.compare_digest(trailing_id, app_id.encode()):
        raise DecryptError("not for our app id")
    return message
