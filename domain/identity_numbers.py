"""Chinese resident identity numbers (居民身份证号码, GB 11643-1999): validation, masking, encryption at rest.

Rules:

1. A number is 18 characters: 17 digits and a check character (a digit or `X`, lower-case `x` accepted and stored
   upper-case); characters 7–14 are a real birth date (YYYYMMDD) between 1900 and today; the check character is
   ISO 7064 MOD 11-2 over the first 17 digits with the weights `WEIGHTS`.
2. Masked, a number keeps its first 3 and last 4 characters: `110***********1234`. Only the masked form is ever
   answered or exported; the number itself only to an admin who gives a reason (audited, `domain.key_persons`).
3. At rest a number is AES-256-GCM ciphertext (a fresh 96-bit nonce each time, the record's id as associated data
   so a ciphertext copied onto another record does not decrypt), and a keyed digest (HMAC-SHA256 with a key
   derived from the same secret by HKDF) that finds the same person registered twice without decrypting.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import uuid
from datetime import UTC, date, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.errors import InvalidInput

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
PATTERN = re.compile(r"^[0-9]{17}[0-9X]$")
FORMAT_VERSION = b"\x01"
NONCE_BYTES = 12


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    return CHECK_CHARACTERS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def validate(value: str, *, field: str = "id_number", today: date | None = None) -> str:
    """The number, upper-cased, when it is a valid 18-character identity number (rules above); else 422 naming
    `field`."""
    number = (value or "").strip().upper()
    if not PATTERN.match(number):
        raise InvalidInput("an identity number is 18 characters: 17 digits, then a digit or X", field=field)
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        born = None
    if born is None or not date(1900, 1, 1) <= born <= (today or datetime.now(UTC).date()):
        raise InvalidInput("characters 7–14 of an identity number are the birth date (YYYYMMDD)", field=field)
    if check_character(number[:17]) != number[17]:
        raise InvalidInput("the identity number's check character does not match (a typing error?)", field=field)
    return number


def mask(number: str) -> str:
    """`110105194912310021` → `110***********0021`."""
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


class IdentityCipher:
    """Encrypts, decrypts and digests identity numbers with one 32-byte secret."""

    def __init__(self, secret: bytes):
        if len(secret) != 32:
            raise ValueError("the identity-number key is 32 bytes")
        self._aead = AESGCM(secret)
        self._mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                             info=b"huxiao identity-number digest").derive(secret)

    def encrypt(self, number: str, *, record_id: uuid.UUID) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT_VERSION + nonce + self._aead.encrypt(nonce, number.encode(), record_id.bytes)

    def decrypt(self, blob: bytes, *, record_id: uuid.UUID) -> str:
        blob = bytes(blob)
        if blob[:1] != FORMAT_VERSION:
            raise ValueError("unknown identity-number ciphertext format")
        nonce, sealed = blob[1:1 + NONCE_BYTES], blob[1 + NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, sealed, record_id.bytes).decode()
        except InvalidTag as exc:
            raise ValueError("the identity number does not decrypt with this key (was the key changed?)") from exc

    def digest(self, number: str) -> bytes:
        return hmac.new(self._mac_key, number.encode(), hashlib.sha256).digest()


_ciphers: dict[bytes, IdentityCipher] = {}


def cipher_for(secret: bytes) -> IdentityCipher:
    """One cipher per key per process (deriving the digest key costs a little)."""
    found = _ciphers.get(secret)
    if found is None:
        found = _ciphers[secret] = IdentityCipher(secret)
    return found
