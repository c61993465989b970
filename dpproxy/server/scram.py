"""SCRAM-SHA-256 (RFC 5802, RFC 7677), server side, from stored verifiers only.

A verifier holds the salt, the iteration count, StoredKey and ServerKey, in PostgreSQL's
``pg_authid`` format ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``, so
a password never reaches dpproxy's disk. ``make_verifier`` (behind ``dpproxy passwd``)
creates one; ``ScramExchange`` runs the two round trips of one authentication. Channel
binding is not offered (no ``-PLUS`` mechanism), so clients send the ``n`` or ``y``
GS2 flag.

>>> verifier = make_verifier("pencil", salt=b"0123456789abcdef", iterations=4096)
>>> Verifier.parse(verifier).iterations
4096
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass

MECHANISM = "SCRAM-SHA-256"
ITERATIONS = 4096  # PostgreSQL's default scram_iterations


class ScramError(Exception):
    """Authentication failed or the client broke the SCRAM exchange."""


@dataclass(frozen=True)
class Verifier:
    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """Read ``SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>``."""
        try:
            mechanism, params, keys = text.split("$")
            iterations, salt = params.split(":")
            stored, server = keys.split(":")
            verifier = cls(
                int(iterations),
                base64.b64decode(salt, validate=True),
                base64.b64decode(stored, validate=True),
                base64.b64decode(server, validate=True),
            )
        except ValueError:
            raise ScramError("malformed SCRAM verifier") from None
        if mechanism != MECHANISM or verifier.iterations < 1:
            raise ScramError("malformed SCRAM verifier")
        if len(verifier.stored_key) != 32 or len(verifier.server_key) != 32:
            raise ScramError("malformed SCRAM verifier")
        return verifier

    def __str__(self) -> str:
        b64 = _b64
        return (
            f"{MECHANISM}${self.iterations}:{b64(self.salt)}$"
            f"{b64(self.stored_key)}:{b64(self.server_key)}"
        )


def make_verifier(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """A verifier for ``password``: what goes into ``analysts.<name>.scram``."""
    salt = secrets.token_bytes(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", _normalize(password), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    server_key = _hmac(salted, b"Server Key")
    return str(Verifier(iterations, salt, hashlib.sha256(client_key).digest(), server_key))


def mock_verifier(user: str, server_secret: bytes) -> Verifier:
    """A stable verifier nobody knows the password of, for unknown users: the exchange
    then runs to the end and fails exactly as a wrong password does (no user probing)."""
    seed = _hmac(server_secret, user.encode("utf-8"))
    return Verifier(ITERATIONS, seed[:16], _hmac(seed, b"stored"), _hmac(seed, b"server"))


class ScramExchange:
    """One SCRAM-SHA-256 authentication: ``first`` then ``final``, each returning the
    server's message; ``final`` raises ``ScramError`` when the proof is wrong."""

    def __init__(self, verifier: Verifier, *, server_nonce: str | None = None) -> None:
        self.verifier = verifier
        self._server_nonce = server_nonce or base64.b64encode(secrets.token_bytes(18)).decode()
        self._client_first_bare = ""
        self._server_first = ""
        self._gs2_header = ""
        self._nonce = ""

    def first(self, client_first: bytes) -> bytes:
        text = _ascii(client_first)
        flag, authzid, bare = _split_gs2(text)
        if flag.startswith("p"):
            raise ScramError("channel binding is not supported")
        if flag not in ("n", "y") or authzid:
            raise ScramError("malformed SCRAM client-first-message")
        attributes = _attributes(bare)
        if "m" in attributes or "r" not in attributes or "n" not in attributes:
            raise ScramError("malformed SCRAM client-first-message")
        client_nonce = attributes["r"]
        if not client_nonce or "," in client_nonce:
            raise ScramError("malformed SCRAM nonce")
        self._gs2_header = f"{flag},{authzid},"
        self._client_first_bare = bare
        self._nonce = client_nonce + self._server_nonce
        v = self.verifier
        self._server_first = f"r={self._nonce},s={_b64(v.salt)},i={v.iterations}"
        return self._server_first.encode("ascii")

    def final(self, client_final: bytes) -> bytes:
        if not self._server_first:
            raise ScramError("SCRAM client-final-message before client-first-message")
        text = _ascii(client_final)
        without_proof, sep, proof_attr = text.rpartition(",p=")
        if not sep:
            raise ScramError("malformed SCRAM client-final-message")
        attributes = _attributes(without_proof)
        binding = base64.b64encode(self._gs2_header.encode("ascii")).decode()
        if attributes.get("c") != binding:
            raise ScramError("SCRAM channel binding data does not match")
        if attributes.get("r") != self._nonce:
            raise ScramError("SCRAM nonce does not match")
        try:
            proof = base64.b64decode(proof_attr, validate=True)
        except ValueError:
            raise ScramError("malformed SCRAM proof") from None
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        client_signature = _hmac(self.verifier.stored_key, auth_message)
        if len(proof) != len(client_signature):
            raise ScramError("password authentication failed")
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), self.verifier.stored_key):
            raise ScramError("password authentication failed")
        server_signature = _hmac(self.verifier.server_key, auth_message)
        return b"v=" + base64.b64encode(server_signature)


def _split_gs2(text: str) -> tuple[str, str, str]:
    parts = text.split(",", 2)
    if len(parts) != 3:
        raise ScramError("malformed SCRAM client-first-message")
    flag, authzid, bare = parts
    return flag, authzid, bare


def _attributes(text: str) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or len(name) != 1 or name in attributes:
            raise ScramError("malformed SCRAM attribute")
        attributes[name] = value
    return attributes


def _ascii(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScramError("SCRAM message is not valid UTF-8") from None


def _normalize(password: str) -> bytes:
    """SASLprep in the common case: ASCII passwords are used as they are, others are
    NFKC-normalised (libpq does the same for passwords SASLprep accepts)."""
    if password.isascii():
        return password.encode("ascii")
    return unicodedata.normalize("NFKC", password).encode("utf-8")


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
