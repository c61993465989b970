"""Bytes to messages and back, with precompiled ``struct`` packers. No IO.

``FrameReader`` cuts a byte stream into startup packets (length-prefixed, no type byte)
and then typed frames, refusing absurd lengths before buffering them. ``decode_*`` turn
a frame's payload into a message from ``messages``; ``encode`` turns a backend message
into bytes. Every malformed input raises ``ProtocolViolation``, which closes only the
connection it came from.

>>> encode(ReadyForQuery("I"))
b'Z\\x00\\x00\\x00\\x05I'
>>> reader = FrameReader(max_message=1024)
>>> reader.feed(b'Q\\x00\\x00\\x00\\x0dSELECT 1\\x00')
>>> decode_frontend(*reader.next_frame())
Query(sql='SELECT 1')
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from dpproxy.server.messages import (
    AuthenticationOk,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    Backend,
    BackendKeyData,
    Bind,
    BindComplete,
    CancelRequest,
    Close,
    CloseComplete,
    CommandComplete,
    CopyMessage,
    DataRow,
    Describe,
    EmptyQueryResponse,
    ErrorResponse,
    Execute,
    Flush,
    Frontend,
    FunctionCall,
    GSSENCRequest,
    NoData,
    NoticeResponse,
    ParameterDescription,
    ParameterStatus,
    Parse,
    ParseComplete,
    PortalSuspended,
    Query,
    ReadyForQuery,
    RowDescription,
    SASLInitialResponse,
    SASLResponse,
    SSLRequest,
    StartupMessage,
    Sync,
    Terminate,
)
from dpproxy.sqlstate import SQLState

PROTOCOL_3 = 196608  # 3.0
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
MAX_STARTUP_PACKET = 10_000  # as PostgreSQL's MAX_STARTUP_PACKET_LENGTH
MAX_PARAMETERS = 65_535

_INT16 = struct.Struct("!h")
_UINT16 = struct.Struct("!H")
_INT32 = struct.Struct("!i")
_UINT32 = struct.Struct("!I")
_HEADER = struct.Struct("!cI")  # type byte, length (counting itself)
_STARTUP_HEADER = struct.Struct("!II")  # length, protocol code
_CANCEL = struct.Struct("!ii")
_KEY_DATA = struct.Struct("!cIii")
_READY = struct.Struct("!cIc")
_AUTH = struct.Struct("!cIi")
_FIELD = struct.Struct("!IhIhih")  # table oid, column number, type oid, size, modifier, format
_EMPTY = {
    AuthenticationOk: b"R\x00\x00\x00\x08\x00\x00\x00\x00",
    EmptyQueryResponse: b"I\x00\x00\x00\x04",
    ParseComplete: b"1\x00\x00\x00\x04",
    BindComplete: b"2\x00\x00\x00\x04",
    CloseComplete: b"3\x00\x00\x00\x04",
    NoData: b"n\x00\x00\x00\x04",
    PortalSuspended: b"s\x00\x00\x00\x04",
}


class ProtocolViolation(Exception):
    """The peer broke the protocol; the connection is answered with an error and closed."""

    def __init__(self, message: str, sqlstate: str = SQLState.PROTOCOL_VIOLATION) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate


class FrameReader:
    """Accumulates bytes and yields complete packets; never buffers past a length limit."""

    def __init__(self, max_message: int) -> None:
        self.max_message = max_message
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def pending(self) -> int:
        """Bytes received but not yet returned as a packet."""
        return len(self._buffer)

    def next_startup(self) -> bytes | None:
        """The payload of one startup-phase packet (after its length), or None if partial."""
        if len(self._buffer) < 4:
            return None
        (length,) = _INT32.unpack_from(self._buffer)
        if not 8 <= length <= MAX_STARTUP_PACKET:
            raise ProtocolViolation(f"invalid length of startup packet: {length}")
        if len(self._buffer) < length:
            return None
        payload = bytes(self._buffer[4:length])
        del self._buffer[:length]
        return payload

    def next_frame(self) -> tuple[bytes, bytes] | None:
        """One typed message ``(type byte, payload)``, or None if it is not complete yet."""
        if len(self._buffer) < 5:
            return None
        kind, length = _HEADER.unpack_from(self._buffer)
        if length < 4:
            raise ProtocolViolation(f"invalid message length {length}")
        if length > self.max_message:
            raise ProtocolViolation(
                f"message of {length} bytes exceeds the limit of {self.max_message}",
                SQLState.PROGRAM_LIMIT_EXCEEDED,
            )
        if len(self._buffer) < length + 1:
            return None
        payload = bytes(self._buffer[5 : length + 1])
        del self._buffer[: length + 1]
        return kind, payload


class _Payload:
    """A cursor over one message payload; reading past its end is a protocol violation."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolViolation(f"truncated {self.what} message")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int16(self) -> int:
        return int(_INT16.unpack(self._take(2))[0])

    def count(self) -> int:
        return int(_UINT16.unpack(self._take(2))[0])

    def int32(self) -> int:
        return int(_INT32.unpack(self._take(4))[0])

    def byte(self) -> str:
        return self._take(1).decode("latin-1")

    def raw(self, n: int) -> bytes:
        return self._take(n)

    def cstring(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise ProtocolViolation(f"unterminated string in {self.what} message")
        raw = self.data[self.pos : end]
        self.pos = end + 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolViolation(
                "invalid byte sequence for encoding UTF8", SQLState.CHARACTER_NOT_IN_REPERTOIRE
            ) from None

    def done(self) -> None:
        if self.pos != len(self.data):
            raise ProtocolViolation(f"{self.what} message has trailing bytes")


def decode_startup(payload: bytes) -> StartupMessage | SSLRequest | GSSENCRequest | CancelRequest:
    """A startup-phase packet: its payload starts with the protocol or request code."""
    body = _Payload(payload, "startup")
    code = body.int32() & 0xFFFFFFFF
    if code == SSL_REQUEST:
        body.done()
        return SSLRequest()
    if code == GSSENC_REQUEST:
        body.done()
        return GSSENCRequest()
    if code == CANCEL_REQUEST:
        pid, secret = _CANCEL.unpack(body.raw(8))
        body.done()
        return CancelRequest(pid, secret)
    if code >> 16 != 3:
        raise ProtocolViolation(
            f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: server supports 3.0",
            SQLState.FEATURE_NOT_SUPPORTED,
        )
    parameters: dict[str, str] = {}
    while True:
        name = body.cstring()
        if not name:
            break
        parameters[name] = body.cstring()
    body.done()
    return StartupMessage(code, parameters)


def decode_sasl_initial(payload: bytes) -> SASLInitialResponse:
    body = _Payload(payload, "SASLInitialResponse")
    mechanism = body.cstring()
    length = body.int32()
    data = b"" if length == -1 else body.raw(length)
    body.done()
    return SASLInitialResponse(mechanism, data)


def decode_sasl_response(payload: bytes) -> SASLResponse:
    return SASLResponse(payload)


def decode_frontend(kind: bytes, payload: bytes) -> Frontend:
    """One typed frontend message (after authentication)."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise ProtocolViolation(f"invalid frontend message type {kind[0]}")
    body = _Payload(payload, _NAMES[kind])
    message = decoder(body)
    body.done()
    return message


def _query(body: _Payload) -> Frontend:
    return Query(body.cstring())


def _parse(body: _Payload) -> Frontend:
    name, sql = body.cstring(), body.cstring()
    types = tuple(body.int32() & 0xFFFFFFFF for _ in range(body.count()))
    return Parse(name, sql, types)


def _bind(body: _Payload) -> Frontend:
    portal, statement = body.cstring(), body.cstring()
    formats = tuple(body.int16() for _ in range(body.count()))
    params: list[bytes | None] = []
    for _ in range(body.count()):
        length = body.int32()
        if length < -1:
            raise ProtocolViolation(f"invalid parameter length {length}")
        params.append(None if length == -1 else body.raw(length))
    results = tuple(body.int16() for _ in range(body.count()))
    if any(f not in (0, 1) for f in formats + results):
        raise ProtocolViolation("invalid format code in Bind message")
    return Bind(portal, statement, formats, tuple(params), results)


def _describe(body: _Payload) -> Frontend:
    kind = body.byte()
    if kind not in ("S", "P"):
        raise ProtocolViolation(f"invalid Describe kind {kind!r}")
    return Describe(kind, body.cstring())


def _execute(body: _Payload) -> Frontend:
    return Execute(body.cstring(), body.int32())


def _close(body: _Payload) -> Frontend:
    kind = body.byte()
    if kind not in ("S", "P"):
        raise ProtocolViolation(f"invalid Close kind {kind!r}")
    return Close(kind, body.cstring())


def _copy(kind: str) -> Callable[[_Payload], Frontend]:
    def decode(body: _Payload) -> Frontend:
        body.pos = len(body.data)
        return CopyMessage(kind)

    return decode


def _function_call(body: _Payload) -> Frontend:
    body.pos = len(body.data)
    return FunctionCall()


_DECODERS: dict[bytes, Callable[[_Payload], Frontend]] = {
    b"Q": _query,
    b"P": _parse,
    b"B": _bind,
    b"D": _describe,
    b"E": _execute,
    b"C": _close,
    b"S": lambda body: Sync(),
    b"H": lambda body: Flush(),
    b"X": lambda body: Terminate(),
    b"d": _copy("CopyData"),
    b"c": _copy("CopyDone"),
    b"f": _copy("CopyFail"),
    b"F": _function_call,
}
_NAMES = {b"Q": "Query", b"P": "Parse", b"B": "Bind", b"D": "Describe", b"E": "Execute",
          b"C": "Close", b"S": "Sync", b"H": "Flush", b"X": "Terminate", b"d": "CopyData",
          b"c": "CopyDone", b"f": "CopyFail", b"F": "FunctionCall"}  # fmt: skip


# ---------------------------------------------------------------------------------------
# Encoding


def _frame(kind: bytes, body: bytes) -> bytes:
    return _HEADER.pack(kind, len(body) + 4) + body


def _cstr(text: str) -> bytes:
    return text.encode("utf-8").replace(b"\x00", b"") + b"\x00"


def _fields(message: ErrorResponse | NoticeResponse) -> bytes:
    parts = [b"S", _cstr(message.severity), b"V", _cstr(message.severity)]
    parts += [b"C", _cstr(message.sqlstate), b"M", _cstr(message.message)]
    if message.detail:
        parts += [b"D", _cstr(message.detail)]
    if isinstance(message, ErrorResponse):
        if message.hint:
            parts += [b"H", _cstr(message.hint)]
        if message.position is not None:
            parts += [b"P", _cstr(str(message.position))]
    return b"".join(parts) + b"\x00"


def encode(message: Backend) -> bytes:
    """One backend message as bytes on the wire."""
    fixed = _EMPTY.get(type(message))
    if fixed is not None:
        return fixed
    match message:
        case DataRow(values):
            parts = [_UINT16.pack(len(values))]
            for value in values:
                if value is None:
                    parts.append(_INT32.pack(-1))
                else:
                    parts += [_INT32.pack(len(value)), value]
            return _frame(b"D", b"".join(parts))
        case RowDescription(fields):
            parts = [_UINT16.pack(len(fields))]
            for f in fields:
                parts.append(_cstr(f.name))
                parts.append(
                    _FIELD.pack(
                        f.table_oid,
                        f.column_number,
                        f.type_oid,
                        f.type_size,
                        f.type_modifier,
                        f.format,
                    )
                )
            return _frame(b"T", b"".join(parts))
        case CommandComplete(tag):
            return _frame(b"C", _cstr(tag))
        case ReadyForQuery(status):
            return _READY.pack(b"Z", 5, status.encode("ascii"))
        case ErrorResponse() | NoticeResponse():
            kind = b"E" if isinstance(message, ErrorResponse) else b"N"
            return _frame(kind, _fields(message))
        case ParameterStatus(name, value):
            return _frame(b"S", _cstr(name) + _cstr(value))
        case ParameterDescription(oids):
            return _frame(b"t", _UINT16.pack(len(oids)) + b"".join(_UINT32.pack(o) for o in oids))
        case BackendKeyData(pid, secret):
            return _KEY_DATA.pack(b"K", 12, pid, secret)
        case AuthenticationSASL(mechanisms):
            body = b"".join(_cstr(m) for m in mechanisms) + b"\x00"
            return _frame(b"R", _INT32.pack(10) + body)
        case AuthenticationSASLContinue(data):
            return _frame(b"R", _INT32.pack(11) + data)
        case AuthenticationSASLFinal(data):
            return _frame(b"R", _INT32.pack(12) + data)
    raise TypeError(f"cannot encode {type(message).__name__}")
