"""The sans-IO state machine, driven with bytes only: startup, SCRAM, TLS negotiation,
skipping after an extended-query error, cancel requests."""

from __future__ import annotations

import struct

import pytest

from dpproxy.server import codec
from dpproxy.server.codec import ProtocolViolation
from dpproxy.server.messages import Bind, ErrorResponse, Parse, Query, Sync
from dpproxy.server.protocol import (
    Authenticated,
    Cancel,
    Goodbye,
    Phase,
    ProtocolSettings,
    ServerProtocol,
    TLSRequested,
)
from dpproxy.server.scram import Verifier, make_verifier
from tests.server.test_scram import client_final_for

VERIFIER = Verifier.parse(make_verifier("pencil"))


def startup(**params: str) -> bytes:
    body = struct.pack("!I", codec.PROTOCOL_3)
    body += b"".join(k.encode() + b"\x00" + v.encode() + b"\x00" for k, v in params.items())
    body += b"\x00"
    return struct.pack("!I", len(body) + 4) + body


def frame(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def messages(data: bytes) -> list[tuple[bytes, bytes]]:
    out, reader = [], codec.FrameReader(1 << 20)
    reader.feed(data)
    while (item := reader.next_frame()) is not None:
        out.append(item)
    return out


def scram_protocol() -> ServerProtocol:
    return ServerProtocol(ProtocolSettings(verifier_for={"alice": VERIFIER}.get))


def authenticate(proto: ServerProtocol, user: str, password: str) -> object:
    proto.receive_data(startup(user=user, database="db"))
    assert proto.next_event() is None
    [(kind, body)] = messages(proto.data_to_send())
    assert kind == b"R" and body.startswith(struct.pack("!i", 10)) and b"SCRAM-SHA-256" in body
    bare = "n=,r=clientnonce"
    initial = b"SCRAM-SHA-256\x00" + struct.pack("!i", len(bare) + 3) + b"n,," + bare.encode()
    proto.receive_data(frame(b"p", initial))
    assert proto.next_event() is None
    [(kind, body)] = messages(proto.data_to_send())
    assert body[:4] == struct.pack("!i", 11)
    proto.receive_data(frame(b"p", client_final_for(password, bare, body[4:])))
    return proto.next_event()


def test_scram_success() -> None:
    proto = scram_protocol()
    event = authenticate(proto, "alice", "pencil")
    assert event == Authenticated("alice", {"user": "alice", "database": "db"})
    kinds = [k for k, _ in messages(proto.data_to_send())]
    assert kinds == [b"R", b"R"]  # SASLFinal, then AuthenticationOk
    assert proto.phase is Phase.READY


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("mallory", "pencil")])
def test_scram_failure_looks_the_same_for_unknown_users(user: str, password: str) -> None:
    proto = scram_protocol()
    assert isinstance(authenticate(proto, user, password), Goodbye)
    [(kind, body)] = messages(proto.data_to_send())
    assert kind == b"E" and b"C28P01\x00" in body
    assert f'password authentication failed for user "{user}"'.encode() in body


def test_tls_and_gssenc_negotiation() -> None:
    proto = ServerProtocol(ProtocolSettings(trust=True))
    proto.receive_data(struct.pack("!II", 8, codec.GSSENC_REQUEST))
    proto.receive_data(struct.pack("!II", 8, codec.SSL_REQUEST))
    assert proto.next_event() == TLSRequested()
    proto.answer_tls(False)
    assert proto.data_to_send() == b"NN"
    proto.receive_data(startup(user="alice"))
    assert isinstance(proto.next_event(), Authenticated)


def test_tls_refuses_bytes_sent_before_the_handshake() -> None:
    proto = ServerProtocol(ProtocolSettings(trust=True, tls_available=True))
    proto.receive_data(struct.pack("!II", 8, codec.SSL_REQUEST) + startup(user="alice"))
    assert proto.next_event() == TLSRequested()
    with pytest.raises(ProtocolViolation, match="unencrypted data after SSL request"):
        proto.answer_tls(True)


def test_tls_required() -> None:
    proto = ServerProtocol(ProtocolSettings(trust=True, tls_required=True))
    proto.receive_data(startup(user="alice"))
    assert isinstance(proto.next_event(), Goodbye)
    assert b"accepts TLS connections only" in proto.data_to_send()


def test_cancel_request() -> None:
    proto = ServerProtocol(ProtocolSettings(trust=True))
    proto.receive_data(struct.pack("!IIii", 16, codec.CANCEL_REQUEST, 7, 9))
    assert proto.next_event() == Cancel(7, 9)
    assert proto.next_event() is None


def test_messages_are_skipped_after_an_extended_query_error_until_sync() -> None:
    proto = ServerProtocol(ProtocolSettings(trust=True))
    proto.receive_data(startup(user="alice"))
    assert isinstance(proto.next_event(), Authenticated)
    proto.data_to_send()
    parse = frame(b"P", b"\x00SELECT 1\x00\x00\x00")
    bind = frame(b"B", b"\x00\x00\x00\x00\x00\x00\x00\x00")
    proto.receive_data(parse + bind + frame(b"S", b"") + frame(b"Q", b"SELECT 2\x00"))
    assert proto.next_event() == Parse("", "SELECT 1", ())
    proto.send(ErrorResponse("ERROR", "42601", "syntax error"))
    assert proto.next_event() == Sync()  # the Bind was dropped
    assert proto.next_event() == Query("SELECT 2")
    proto.send(ErrorResponse("ERROR", "42601", "syntax error"))  # simple query: no skipping
    proto.receive_data(bind)
    assert proto.next_event() == Bind("", "", (), (), ())


def test_no_user_and_garbage_before_auth() -> None:
    proto = ServerProtocol(ProtocolSettings(trust=True))
    proto.receive_data(startup(database="db"))
    with pytest.raises(ProtocolViolation, match="no PostgreSQL user name"):
        proto.next_event()
    proto = scram_protocol()
    proto.receive_data(startup(user="alice") + frame(b"Q", b"SELECT 1\x00"))
    with pytest.raises(ProtocolViolation, match="expected SASL response"):
        proto.next_event()
