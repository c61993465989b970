"""The codec: frames, decoding of every frontend message, encoding, malformed input."""

from __future__ import annotations

import struct

import pytest

from dpproxy.server import codec
from dpproxy.server.codec import FrameReader, ProtocolViolation
from dpproxy.server.messages import (
    AuthenticationSASL,
    Bind,
    CancelRequest,
    Close,
    CommandComplete,
    DataRow,
    Describe,
    ErrorResponse,
    Execute,
    FieldDescription,
    NoticeResponse,
    ParameterDescription,
    Parse,
    Query,
    RowDescription,
    SSLRequest,
    StartupMessage,
    Sync,
)


def frame(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def startup(body: bytes) -> bytes:
    return struct.pack("!I", len(body) + 4) + body


def decode(data: bytes) -> object:
    reader = FrameReader(max_message=1 << 20)
    reader.feed(data)
    got = reader.next_frame()
    assert got is not None
    return codec.decode_frontend(*got)


def test_startup_packets() -> None:
    body = struct.pack("!I", codec.PROTOCOL_3) + b"user\x00alice\x00database\x00db\x00\x00"
    assert codec.decode_startup(body) == StartupMessage(
        codec.PROTOCOL_3, {"user": "alice", "database": "db"}
    )
    assert codec.decode_startup(struct.pack("!I", codec.SSL_REQUEST)) == SSLRequest()
    cancel = struct.pack("!Iii", codec.CANCEL_REQUEST, 1234, -5)
    assert codec.decode_startup(cancel) == CancelRequest(1234, -5)
    with pytest.raises(ProtocolViolation, match="unsupported frontend protocol 2.0"):
        codec.decode_startup(struct.pack("!I", 2 << 16))


def test_frontend_messages() -> None:
    assert decode(frame(b"Q", b"SELECT 1\x00")) == Query("SELECT 1")
    parse = b"s1\x00SELECT $1\x00" + struct.pack("!Hi", 1, 23)
    assert decode(frame(b"P", parse)) == Parse("s1", "SELECT $1", (23,))
    bind = (b"p\x00s1\x00" + struct.pack("!HH", 1, 1) + struct.pack("!H", 2)
            + struct.pack("!i", 4) + b"\x00\x00\x00\x07" + struct.pack("!i", -1)
            + struct.pack("!HH", 1, 1))  # fmt: skip
    assert decode(frame(b"B", bind)) == Bind("p", "s1", (1,), (b"\x00\x00\x00\x07", None), (1,))
    assert decode(frame(b"D", b"Pp\x00")) == Describe("P", "p")
    assert decode(frame(b"E", b"p\x00" + struct.pack("!i", 10))) == Execute("p", 10)
    assert decode(frame(b"C", b"Ss1\x00")) == Close("S", "s1")
    assert decode(frame(b"S", b"")) == Sync()


def test_reader_waits_for_whole_frames() -> None:
    data = frame(b"Q", b"SELECT 1\x00") + frame(b"S", b"")
    reader = FrameReader(max_message=1024)
    got = []
    for byte in data:  # one byte at a time
        reader.feed(bytes([byte]))
        while (item := reader.next_frame()) is not None:
            got.append(codec.decode_frontend(*item))
    assert got == [Query("SELECT 1"), Sync()]
    assert reader.pending == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (frame(b"Q", b"SELECT 1"), "unterminated string"),
        (frame(b"Q", b"SELECT 1\x00extra"), "trailing bytes"),
        (frame(b"E", b"p\x00\x00"), "truncated Execute"),
        (frame(b"D", b"Xp\x00"), "invalid Describe kind"),
        (frame(b"B", b"\x00\x00" + struct.pack("!HH", 0, 1) + struct.pack("!i", 99)), "truncated"),
        (frame(b"B", b"\x00\x00" + struct.pack("!HH", 0, 1) + struct.pack("!i", -7)),
         "invalid parameter length"),
        (frame(b"Z", b""), "invalid frontend message type 90"),
        (frame(b"Q", b"\xff\xfe\x00"), "invalid byte sequence"),
    ],
)  # fmt: skip
def test_malformed_messages(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolViolation, match=message):
        decode(data)


def test_absurd_lengths_are_refused_before_buffering() -> None:
    reader = FrameReader(max_message=1024)
    reader.feed(b"Q" + struct.pack("!I", 2**31))
    with pytest.raises(ProtocolViolation, match="exceeds the limit") as error:
        reader.next_frame()
    assert error.value.sqlstate == "54000"
    reader = FrameReader(max_message=1024)
    reader.feed(b"Q" + struct.pack("!I", 3))
    with pytest.raises(ProtocolViolation, match="invalid message length"):
        reader.next_frame()
    reader = FrameReader(max_message=1024)
    reader.feed(struct.pack("!I", 100_000))
    with pytest.raises(ProtocolViolation, match="invalid length of startup packet"):
        reader.next_startup()


def test_encoding() -> None:
    assert codec.encode(CommandComplete("SELECT 3")) == frame(b"C", b"SELECT 3\x00")
    assert codec.encode(DataRow((b"ab", None))) == frame(
        b"D", struct.pack("!H", 2) + struct.pack("!i", 2) + b"ab" + struct.pack("!i", -1)
    )
    field = FieldDescription("n", 20, 8, -1, 1)
    assert codec.encode(RowDescription((field,))) == frame(
        b"T", struct.pack("!H", 1) + b"n\x00" + struct.pack("!IhIhih", 0, 0, 20, 8, -1, 1)
    )
    assert codec.encode(ParameterDescription((25, 20))) == frame(
        b"t", struct.pack("!HII", 2, 25, 20)
    )
    assert codec.encode(AuthenticationSASL(("SCRAM-SHA-256",))) == frame(
        b"R", struct.pack("!i", 10) + b"SCRAM-SHA-256\x00\x00"
    )
    error = codec.encode(ErrorResponse("ERROR", "42501", "no", "why", position=8))
    assert error == frame(b"E", b"SERROR\x00VERROR\x00C42501\x00Mno\x00Dwhy\x00P8\x00\x00")
    notice = codec.encode(NoticeResponse("NOTICE", "00000", "charged"))
    assert notice == frame(b"N", b"SNOTICE\x00VNOTICE\x00C00000\x00Mcharged\x00\x00")
