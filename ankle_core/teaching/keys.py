"""Study codes and study keys: the key protects the owner's view and is never stored in clear.

A key is stretched with scrypt (Percival 2009; ``hashlib.scrypt``) under a random 16-byte
salt; the stored text names the parameters, so they can be raised later without breaking old
studies. Verification compares digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from ankle_core.errors import InvalidInputError

__all__ = ["MIN_KEY_LENGTH", "hash_key", "new_study_code", "verify_key"]

MIN_KEY_LENGTH = 12
_N, _R, _P = 2**14, 8, 1
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def new_study_code(length: int = 8) -> str:
    """A random study code readers type to join, e.g. ``"K7QD3MZA"``.

    Args:
        length: characters (from an alphabet without look-alike characters).

    Returns:
        The code.
    """
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


def _derive(key: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        key.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32
    )


def hash_key(key: str) -> str:
    """Hash a study key for storage.

    Args:
        key: the owner's key (at least :data:`MIN_KEY_LENGTH` characters).

    Returns:
        ``"scrypt$n$r$p$<salt hex>$<digest hex>"``.

    Raises:
        InvalidInputError: for a key that is too short.

    >>> stored = hash_key("correct horse")
    >>> stored.startswith("scrypt$"), "correct" in stored, verify_key("correct horse", stored)
    (True, False, True)
    """
    if len(key) < MIN_KEY_LENGTH:
        raise InvalidInputError(f"The study key needs at least {MIN_KEY_LENGTH} characters.")
    salt = secrets.token_bytes(16)
    digest = _derive(key, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_key(key: str, stored: str) -> bool:
    """Whether ``key`` matches a stored hash (constant-time comparison).

    Args:
        key: the key typed by whoever claims to own the study.
        stored: the output of :func:`hash_key`.

    Returns:
        True when it matches; False for a wrong key or a malformed stored hash.
    """
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = _derive(key, bytes.fromhex(salt_hex), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(digest, bytes.fromhex(digest_hex))
