"""SCRAM-SHA-256 server side: the RFC 7677 test vector, wrong proofs, malformed input."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from dpproxy.server.scram import ScramError, ScramExchange, Verifier, make_verifier, mock_verifier

# RFC 7677, section 3
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
SERVER_FIRST = (b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")  # fmt: skip
CLIENT_FINAL = (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")  # fmt: skip
SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def exchange(password: str = "pencil") -> ScramExchange:
    verifier = Verifier.parse(make_verifier(password, salt=SALT, iterations=4096))
    return ScramExchange(verifier, server_nonce=SERVER_NONCE)


def test_rfc7677_vector() -> None:
    scram = exchange()
    assert scram.first(CLIENT_FIRST) == SERVER_FIRST
    assert scram.final(CLIENT_FINAL) == SERVER_FINAL


def test_wrong_password_fails() -> None:
    scram = exchange("not pencil")
    scram.first(CLIENT_FIRST)
    with pytest.raises(ScramError, match="password authentication failed"):
        scram.final(CLIENT_FINAL)


def test_verifier_round_trip_and_no_password_inside() -> None:
    text = make_verifier("pencil", salt=SALT)
    assert str(Verifier.parse(text)) == text
    assert "pencil" not in text
    assert make_verifier("pencil") != make_verifier("pencil")  # fresh salt each time
    for bad in ("plain", "SCRAM-SHA-256$4096:abc$def:ghi", "MD5$1:AAAA$AAAA:AAAA"):
        with pytest.raises(ScramError):
            Verifier.parse(bad)


@pytest.mark.parametrize(
    "client_first",
    [b"p=tls-server-end-point,,n=,r=abc", b"n,a=admin,n=,r=abc", b"n,,r=abc", b"garbage",
     b"n,,n=,r=", b"\xff\xfe"],
)  # fmt: skip
def test_malformed_client_first(client_first: bytes) -> None:
    with pytest.raises(ScramError):
        exchange().first(client_first)


def test_tampered_final_messages() -> None:
    for final in (
        CLIENT_FINAL.replace(b"c=biws", b"c=eSws"),  # channel binding flag changed
        CLIENT_FINAL.replace(b"r=rOpr", b"r=xOpr"),  # nonce changed
        CLIENT_FINAL.split(b",p=")[0],  # no proof
        CLIENT_FINAL[:-8] + b"AAAAAAA=",  # proof changed
    ):
        scram = exchange()
        scram.first(CLIENT_FIRST)
        with pytest.raises(ScramError):
            scram.final(final)


def test_mock_verifier_is_stable_and_unguessable() -> None:
    secret = b"s" * 32
    assert mock_verifier("eve", secret) == mock_verifier("eve", secret)
    assert mock_verifier("eve", secret) != mock_verifier("eve", b"t" * 32)


def client_final_for(password: str, client_first_bare: str, server_first: bytes) -> bytes:
    """A client's side of the exchange (for the protocol tests)."""
    attributes = dict(item.split("=", 1) for item in server_first.decode().split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attributes["s"]),
                                 int(attributes["i"]))  # fmt: skip
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={attributes['r']}"
    message = f"{client_first_bare},{server_first.decode()},{without_proof}".encode()
    signature = hmac.new(stored, message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
