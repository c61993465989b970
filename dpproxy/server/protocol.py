"""The connection state machine, sans IO: startup, TLS negotiation, SCRAM, then messages.

The asyncio server feeds received bytes in (``receive_data``), pulls events out
(``next_event``) and writes whatever ``data_to_send`` returns. Everything the protocol
decides on its own (answering GSSENCRequest, the SCRAM round trips, dropping messages
after an extended-query error until Sync) happens here, testable without a socket.

>>> proto = ServerProtocol(ProtocolSettings(trust=True))
>>> proto.receive_data(b"\\x00\\x00\\x00\\x14\\x00\\x03\\x00\\x00user\\x00alice\\x00\\x00")
>>> proto.next_event()
Authenticated(user='alice', parameters={'user': 'alice'})
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from dpproxy.server import codec
from dpproxy.server.codec import ProtocolViolation
from dpproxy.server.messages import (
    AuthenticationOk,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    Backend,
    Bind,
    CancelRequest,
    Close,
    Describe,
    ErrorResponse,
    Execute,
    Flush,
    Frontend,
    GSSENCRequest,
    Parse,
    SSLRequest,
    StartupMessage,
    Sync,
    Terminate,
)
from dpproxy.server.scram import MECHANISM, ScramError, ScramExchange, Verifier, mock_verifier
from dpproxy.sqlstate import SQLState


class Phase(Enum):
    STARTUP = "startup"
    SASL_FIRST = "sasl-first"
    SASL_FINAL = "sasl-final"
    READY = "ready"
    CLOSED = "closed"


@dataclass(frozen=True)
class TLSRequested:
    """The client asked for TLS: answer with ``answer_tls``, then upgrade if accepted."""


@dataclass(frozen=True)
class Cancel:
    """A CancelRequest arrived on this connection (which then closes)."""

    process_id: int
    secret_key: int


@dataclass(frozen=True)
class Authenticated:
    user: str
    parameters: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class Goodbye:
    """Close the connection once ``data_to_send`` is written."""

    reason: str


Event = TLSRequested | Cancel | Authenticated | Goodbye | Frontend
_EXTENDED = (Parse, Bind, Describe, Execute, Close, Flush)


@dataclass(frozen=True)
class ProtocolSettings:
    max_message: int = 4 * 1024 * 1024
    trust: bool = False  # no password: the startup packet's user is the analyst
    tls_available: bool = False
    tls_required: bool = False
    verifier_for: Callable[[str], Verifier | None] = lambda user: None
    mock_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))


class ServerProtocol:
    """One client connection from the first byte to the last."""

    def __init__(self, settings: ProtocolSettings) -> None:
        self.settings = settings
        self.phase = Phase.STARTUP
        self.tls = False
        self.user = ""
        self._reader = codec.FrameReader(settings.max_message)
        self._out = bytearray()
        self._startup: StartupMessage | None = None
        self._scram: ScramExchange | None = None
        self._known_user = False
        self._skipping = False  # after an extended-query error: drop messages until Sync
        self._last: Frontend | None = None
        self._tls_asked = False
        self._gss_asked = False
        self._refusal: ErrorResponse | None = None

    def refuse_startup(self, error: ErrorResponse) -> None:
        """Answer the startup packet with ``error`` (after TLS negotiation, as PostgreSQL
        does for "too many clients", so clients that ask for TLS first see the message)."""
        self._refusal = error

    def receive_data(self, data: bytes) -> None:
        self._reader.feed(data)

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def send(self, *messages: Backend) -> None:
        """Queue backend messages; an error during extended query starts skipping."""
        for message in messages:
            if isinstance(message, ErrorResponse) and isinstance(self._last, _EXTENDED):
                self._skipping = True
            self._out += codec.encode(message)

    def answer_tls(self, accept: bool) -> None:
        """Answer an SSLRequest. Bytes the client sent after it, before the handshake,
        would be unencrypted and are refused (they could be injected by a third party)."""
        if accept and self._reader.pending:
            raise ProtocolViolation("received unencrypted data after SSL request")
        self._out += b"S" if accept else b"N"
        self.tls = self.tls or accept

    def fail(self, error: ProtocolViolation | ErrorResponse) -> None:
        """Queue a FATAL error and stop reading: the connection is about to close."""
        if isinstance(error, ProtocolViolation):
            error = ErrorResponse("FATAL", error.sqlstate, error.message)
        self._out += codec.encode(error)
        self.phase = Phase.CLOSED

    def next_event(self) -> Event | None:
        """The next event, or None until more data arrives. Raises ProtocolViolation.

        A loop, never recursion: packets the protocol answers on its own (GSSENCRequest,
        SASL steps) and messages dropped after an error are consumed one after another,
        so no number of them can exhaust the stack.
        """
        while self.phase is not Phase.CLOSED:
            if self.phase is Phase.STARTUP:
                payload = self._reader.next_startup()
                if payload is None:
                    return None
                event = self._on_startup(codec.decode_startup(payload))
            else:
                frame = self._reader.next_frame()
                if frame is None:
                    return None
                if self.phase is Phase.READY:
                    event = self._on_message(*frame)
                else:
                    event = self._on_password(*frame)
            if event is not None:
                return event
        return None

    def _on_message(self, kind: bytes, payload: bytes) -> Event | None:
        message = codec.decode_frontend(kind, payload)
        if isinstance(message, Terminate):
            self.phase = Phase.CLOSED
            return Goodbye("client terminated the session")
        if self._skipping and not isinstance(message, Sync):
            return None
        if isinstance(message, Sync):
            self._skipping = False
        self._last = message
        return message

    def _on_startup(self, packet: object) -> Event | None:
        match packet:
            case SSLRequest():
                if self._tls_asked:
                    raise ProtocolViolation("a second SSLRequest")
                self._tls_asked = True
                return TLSRequested()
            case GSSENCRequest():
                if self._gss_asked:  # PostgreSQL, too, negotiates each encryption once
                    raise ProtocolViolation("a second GSSENCRequest")
                self._gss_asked = True
                self._out += b"N"
                return None
            case CancelRequest(pid, secret):
                self.phase = Phase.CLOSED
                return Cancel(pid, secret)
            case StartupMessage() as startup:
                return self._on_startup_message(startup)
        raise ProtocolViolation("unexpected startup packet")

    def _on_startup_message(self, startup: StartupMessage) -> Event | None:
        user = startup.parameters.get("user", "")
        if not user:
            raise ProtocolViolation(
                "no PostgreSQL user name specified in startup packet",
                SQLState.INVALID_AUTHORIZATION_SPECIFICATION,
            )
        if self._refusal is not None:
            self.fail(self._refusal)
            return Goodbye(self._refusal.message)
        if self.settings.tls_required and not self.tls:
            self.fail(
                ErrorResponse(
                    "FATAL",
                    SQLState.INVALID_AUTHORIZATION_SPECIFICATION,
                    "this server accepts TLS connections only",
                )
            )
            return Goodbye("TLS required")
        self._startup = startup
        self.user = user
        if self.settings.trust:
            return self._authenticated()
        verifier = self.settings.verifier_for(user)
        self._known_user = verifier is not None
        if verifier is None:
            verifier = mock_verifier(user, self.settings.mock_secret)
        self._scram = ScramExchange(verifier)
        self.phase = Phase.SASL_FIRST
        self.send(AuthenticationSASL((MECHANISM,)))
        return None

    def _on_password(self, kind: bytes, payload: bytes) -> Event | None:
        if kind != b"p":
            raise ProtocolViolation(f"expected SASL response, got message type {kind[0]}")
        assert self._scram is not None  # set with the phase
        try:
            if self.phase is Phase.SASL_FIRST:
                initial = codec.decode_sasl_initial(payload)
                if initial.mechanism != MECHANISM:
                    raise ScramError("client selected an invalid SASL authentication mechanism")
                self.send(AuthenticationSASLContinue(self._scram.first(initial.data)))
                self.phase = Phase.SASL_FINAL
                return None
            final = self._scram.final(codec.decode_sasl_response(payload).data)
            if not self._known_user:
                raise ScramError("password authentication failed")
        except ScramError:
            self.fail(
                ErrorResponse(
                    "FATAL",
                    SQLState.INVALID_PASSWORD,
                    f'password authentication failed for user "{self.user}"',
                )
            )
            return Goodbye("authentication failed")
        self.send(AuthenticationSASLFinal(final))
        return self._authenticated()

    def _authenticated(self) -> Event:
        assert self._startup is not None
        self.send(AuthenticationOk())
        self.phase = Phase.READY
        return Authenticated(self.user, dict(self._startup.parameters))
