"""Signed checkpoints of the log as C2SP signed notes (tlog-checkpoint, signed-note), Ed25519.

A checkpoint is a small text an outside party can keep (discipline inspection, the higher-level
bureau)::

    envtrust.local/record            <- origin: which log
    1024                             <- tree size
    q2Ea...Vw=                       <- base64 root hash (RFC 9162 MTH of the first 1024 leaves)
                                     <- blank line ends the body
    — envtrust.local/record Ab3x...  <- em dash, key name, base64(4-byte key id || signature)

The signature covers the body bytes. The key id is the first 4 bytes of
SHA-256(name || "\\n" || 0x01 || public key), and a verifier key is written
``name+hex(key id)+base64(0x01 || public key)`` (the note verifier-key form), so any signed-note
tool can check our checkpoints. This module needs only ``cryptography``, not the app.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519_ALGORITHM = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # em dash and a space


class CheckpointError(ValueError):
    """A checkpoint or key that cannot be read, or whose signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint's body: which log, how many leaves, and their root."""

    origin: str
    tree_size: int
    root_hash: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root_hash).decode()}\n"


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 note key."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519_ALGORITHM + public_key).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def verifier_key_text(name: str, key: Ed25519PublicKey) -> str:
    """``name+keyid+base64(0x01||pub)``: the public key as handed to an outside party."""
    raw = _raw_public(key)
    return f"{name}+{key_id(name, raw).hex()}+{base64.b64encode(ED25519_ALGORITHM + raw).decode()}"


def parse_verifier_key(text: str) -> tuple[str, Ed25519PublicKey]:
    """(name, public key) from :func:`verifier_key_text`'s form; refuses a mismatching key id."""
    try:
        name, kid, blob = text.strip().split("+", 2)  # base64 may hold "+", names may not
        raw = base64.b64decode(blob, validate=True)
    except ValueError as exc:
        raise CheckpointError(f"not a verifier key (name+keyid+base64): {exc}") from None
    if raw[:1] != ED25519_ALGORITHM or len(raw) != 33:
        raise CheckpointError("verifier key is not an Ed25519 key")
    if key_id(name, raw[1:]).hex() != kid:
        raise CheckpointError("verifier key id does not match the key")
    return name, Ed25519PublicKey.from_public_bytes(raw[1:])


def create_signing_key(path: Path, name: str) -> bool:
    """Create an Ed25519 key at ``path`` (mode 0600) and its verifier key at ``path.pub``.

    Returns False (and changes nothing) when the key exists: a key is never replaced silently,
    because every checkpoint signed with the old one would stop verifying.
    """
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public_key_path(path).write_text(verifier_key_text(name, key.public_key()) + "\n", encoding="utf-8")
    return True


def public_key_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".pub")


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The private key at ``path`` (a clear error when it is missing or not Ed25519)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise CheckpointError(f"no signing key at {path}; create it with `envtrust init`") from None
    except ValueError as exc:
        raise CheckpointError(f"{path} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path} is not an Ed25519 key")
    return key


def sign_checkpoint(checkpoint: Checkpoint, key: Ed25519PrivateKey, name: str) -> str:
    """The signed note text of ``checkpoint``."""
    body = checkpoint.body()
    signature = key.sign(body.encode())
    blob = base64.b64encode(key_id(name, _raw_public(key.public_key())) + signature).decode()
    return f"{body}\n{SIGNATURE_PREFIX}{name} {blob}\n"


def open_checkpoint(note: str, name: str, key: Ed25519PublicKey) -> Checkpoint:
    """Parse a signed note and check its signature by ``key``; raise :class:`CheckpointError`."""
    body, sep, signatures = note.partition("\n\n")
    if not sep:
        raise CheckpointError("not a signed note (no blank line after the body)")
    body += "\n"
    lines = body.split("\n")[:-1]
    if len(lines) < 3:
        raise CheckpointError("checkpoint body needs origin, tree size and root hash")
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
    except ValueError as exc:
        raise CheckpointError(f"bad tree size or root hash: {exc}") from None
    if size < 0 or len(root) != 32:
        raise CheckpointError("bad tree size or root hash length")
    wanted = key_id(name, _raw_public(key))
    for line in signatures.splitlines():
        if not line.startswith(SIGNATURE_PREFIX):
            continue
        signer, _, blob_text = line[len(SIGNATURE_PREFIX):].rpartition(" ")
        try:
            blob = base64.b64decode(blob_text, validate=True)
        except ValueError:
            continue
        if signer != name or blob[:4] != wanted:
            continue
        try:
            key.verify(blob[4:], body.encode())
        except InvalidSignature:
            raise CheckpointError(f"the signature of {name} on this checkpoint is wrong") from None
        return Checkpoint(lines[0], size, root)
    raise CheckpointError(f"no signature by {name} (key id {wanted.hex()}) on this checkpoint")
