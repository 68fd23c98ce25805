"""The Ed25519 key that signs audit checkpoints.

The key comes from ``FACTMARK_AUDIT_SIGNING_KEY`` (base64 of the 32 raw private-key bytes) or,
when that is unset, from the file ``<data_dir>/audit-signing-key``, generated on first use with
mode 0600 and reused afterwards. A production deployment with several hosts should set the
variable, so every server signs with the same key.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from factmark.settings import Settings

log = logging.getLogger(__name__)

KEY_FILE_NAME = "audit-signing-key"


class SigningKeyError(ValueError):
    """The configured signing key cannot be used."""


def key_file(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE_NAME


def _parse(raw: str, source: str) -> Ed25519PrivateKey:
    try:
        data = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SigningKeyError(f"{source} is not valid base64") from None
    if len(data) != 32:
        raise SigningKeyError(f"{source} must hold 32 bytes (an Ed25519 seed), not {len(data)}")
    return Ed25519PrivateKey.from_private_bytes(data)


def encode_private_key(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(raw).decode()


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _create_key_file(path: Path) -> None:
    """Write a new key to ``path`` unless one is there; safe when several processes race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(encode_private_key(Ed25519PrivateKey.generate()) + "\n")
        try:
            os.link(temporary, path)  # atomic, and fails when another process won the race
        except FileExistsError:
            return
        log.warning(
            "generated a new audit signing key in %s; set FACTMARK_AUDIT_SIGNING_KEY to keep "
            "checkpoints verifiable when the data directory is lost or servers are added",
            path,
        )
    finally:
        temporary.unlink(missing_ok=True)


def load_signing_key(settings: Settings, *, create: bool = True) -> Ed25519PrivateKey | None:
    """The configured private key; generated into the data directory when ``create`` allows."""
    if settings.audit_signing_key:
        return _parse(settings.audit_signing_key, "FACTMARK_AUDIT_SIGNING_KEY")
    path = key_file(settings)
    if not path.exists():
        if not create:
            return None
        _create_key_file(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("the audit signing key %s is readable by others (mode %o)", path, mode)
    return _parse(path.read_text(), str(path))


def load_public_key(settings: Settings) -> Ed25519PublicKey | None:
    """The public half of the configured key, without ever creating one (for verification)."""
    key = load_signing_key(settings, create=False)
    return key.public_key() if key is not None else None
