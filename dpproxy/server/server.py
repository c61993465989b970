"""The asyncio server: accepts connections and moves bytes, nothing else.

Each connection feeds its bytes to a sans-IO ``ServerProtocol`` and hands the messages
it yields to that connection's ``Backend``: a message that may reach the DP pipeline
runs in the pool of ``server.workers`` engine threads (the DP engine blocks); a free
statement (catalog, SET, SHOW...) in the small pool of ``server.free_workers`` threads,
where catalog SQL is interrupted after ``server.free_timeout_seconds``; bookkeeping
(Sync, Close) on the event loop. So free statements, however many, never hold a DP
query's thread.

A connection must authenticate within ``server.authentication_timeout_seconds``; until
then it counts against ``server.max_authenticating``, and only afterwards against
``server.max_connections``, so idle sockets cannot lock analysts out. A CancelRequest
interrupts the query of the session whose key it carries. A broken message closes only
its own connection. SIGTERM stops accepting, interrupts running queries (their charges
are already in the ledger), tells every client, waits for the workers and closes the
ledger.

>>> # asyncio.run(Server(Proxy("policies/")).serve())
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import ssl
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from dpproxy.errors import DPProxyError
from dpproxy.policy.model import TLSMode
from dpproxy.proxy import Proxy
from dpproxy.server import chatter
from dpproxy.server.backend import Backend, Lane
from dpproxy.server.catalog import CatalogEngine
from dpproxy.server.codec import ProtocolViolation, encode
from dpproxy.server.messages import Backend as BackendMessage
from dpproxy.server.messages import ErrorResponse, Frontend, Parse, Query
from dpproxy.server.protocol import (
    Authenticated,
    Cancel,
    Goodbye,
    ProtocolSettings,
    ServerProtocol,
    TLSRequested,
)
from dpproxy.server.scram import ScramError, Verifier
from dpproxy.sqlstate import SQLState

log = logging.getLogger("dpproxy.server")
READ_SIZE = 65_536
TOO_MANY = "sorry, too many clients already"
T = TypeVar("T")


@dataclass(eq=False)
class _Connection:
    writer: asyncio.StreamWriter
    protocol: ServerProtocol
    deadline: float  # loop time by which it must have authenticated
    backend: Backend | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Server:
    """``dpproxy serve``: a PostgreSQL wire endpoint in front of one ``Proxy``."""

    def __init__(self, proxy: Proxy, *, host: str | None = None, port: int | None = None) -> None:
        self.proxy = proxy
        self.policy = proxy.policies.config.server
        self.host = host or self.policy.host
        self.port = self.policy.port if port is None else port
        self.catalog = CatalogEngine(proxy.catalog, self.policy.free_timeout_seconds)
        self._pool = ThreadPoolExecutor(self.policy.workers, thread_name_prefix="dpproxy-worker")
        self._free_pool = ThreadPoolExecutor(
            self.policy.free_workers, thread_name_prefix="dpproxy-free"
        )
        self._ssl = self._ssl_context()
        self._verifiers = self._load_verifiers()
        self._settings = ProtocolSettings(
            max_message=self.policy.max_message_bytes,
            trust=self.policy.authentication == "trust",
            tls_available=self._ssl is not None,
            tls_required=self.policy.tls is not None and self.policy.tls.mode is TLSMode.REQUIRE,
            verifier_for=self._verifiers.get,
        )
        self._connections: set[_Connection] = set()  # accepted, authenticated or not
        self._authenticating: set[_Connection] = set()
        self._sessions: dict[int, _Connection] = {}  # authenticated, by process id
        self._tasks: set[asyncio.Task[None]] = set()  # every client connection, refused ones too
        self._server: asyncio.Server | None = None
        self._stopping = asyncio.Event()

    def _ssl_context(self) -> ssl.SSLContext | None:
        tls = self.policy.tls
        if tls is None or tls.mode is TLSMode.DISABLE:
            return None
        base = self.proxy.policies.directory
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(base / tls.certificate, base / tls.key)
        return context

    def _load_verifiers(self) -> dict[str, Verifier]:
        verifiers = {}
        for name, analyst in self.proxy.policies.config.analysts.items():
            if analyst.scram is None:
                continue
            try:
                verifiers[name] = Verifier.parse(analyst.scram)
            except ScramError:
                raise DPProxyError(f"dpproxy.yaml: analysts.{name}.scram: {analyst.scram[:14]}"
                                   "... is not a SCRAM-SHA-256 verifier") from None  # fmt: skip
        return verifiers

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve_client, self.host, self.port)
        sockets = self._server.sockets or ()
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("dpproxy listening on %s:%d", self.host, self.port)

    async def serve(self) -> None:
        """Run until SIGTERM or SIGINT, then shut down gracefully."""
        await self.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        try:
            await self._stopping.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self.stop()

    def request_stop(self) -> None:
        self._stopping.set()

    async def stopped(self) -> None:
        """Wait until ``request_stop`` (or a signal) asks the server to stop."""
        await self._stopping.wait()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        reason = "terminating connection due to administrator command"
        for connection in list(self._connections):
            if connection.backend is not None:
                connection.backend.cancel(reason)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._pool.shutdown, True)  # running queries end
        await loop.run_in_executor(None, self._free_pool.shutdown, True)
        for connection in list(self._connections):
            with contextlib.suppress(ConnectionError, RuntimeError):
                connection.writer.write(
                    encode(ErrorResponse("FATAL", SQLState.ADMIN_SHUTDOWN, reason))
                )
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.catalog.close()
        self.proxy.close()
        log.info("dpproxy stopped")

    # -- one connection -------------------------------------------------------------

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        deadline = asyncio.get_running_loop().time() + self.policy.authentication_timeout_seconds
        connection = _Connection(writer, ServerProtocol(self._settings), deadline)
        connection.task = asyncio.current_task()
        if connection.task is not None:
            self._tasks.add(connection.task)
            connection.task.add_done_callback(self._tasks.discard)
        if len(self._authenticating) >= self.policy.max_authenticating or self._stopping.is_set():
            connection.protocol.refuse_startup(
                ErrorResponse("FATAL", SQLState.TOO_MANY_CONNECTIONS, TOO_MANY)
            )
        else:
            self._connections.add(connection)
            self._authenticating.add(connection)
        try:
            await self._converse(reader, connection)
        except ProtocolViolation as violation:
            log.info("closing connection: protocol violation: %s", violation.message)
            connection.protocol.fail(violation)
            writer.write(connection.protocol.data_to_send())
        except TimeoutError:
            if connection.backend is None:  # as PostgreSQL's authentication_timeout
                connection.protocol.fail(
                    ErrorResponse(
                        "FATAL", SQLState.QUERY_CANCELED, "canceling authentication due to timeout"
                    )
                )
                with contextlib.suppress(ConnectionError, RuntimeError, OSError):
                    writer.write(connection.protocol.data_to_send())
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        except RuntimeError:  # the worker pool is shut down: the server is stopping
            if not self._stopping.is_set():
                raise
        finally:
            self._connections.discard(connection)
            self._authenticating.discard(connection)
            if connection.backend is not None:
                self._sessions.pop(connection.backend.key[0], None)
            await _close(writer)

    async def _converse(self, reader: asyncio.StreamReader, connection: _Connection) -> None:
        proto, writer = connection.protocol, connection.writer
        while True:
            data = await self._in_time(connection, reader.read(READ_SIZE))
            if not data:
                return
            proto.receive_data(data)
            while (event := proto.next_event()) is not None:
                if isinstance(event, TLSRequested):
                    proto.answer_tls(self._ssl is not None)
                    writer.write(proto.data_to_send())
                    await self._in_time(connection, writer.drain())
                    if self._ssl is not None:
                        await self._in_time(connection, writer.start_tls(self._ssl))
                    continue
                if isinstance(event, Cancel):
                    self._cancel(event)
                    return
                if isinstance(event, Authenticated):
                    if not self._open_session(connection, event):
                        writer.write(proto.data_to_send())
                        return
                elif isinstance(event, Goodbye):
                    writer.write(proto.data_to_send())
                    return
                else:
                    assert connection.backend is not None  # messages come after Authenticated
                    proto.send(*await self._handle(connection.backend, _frontend(event)))
                writer.write(proto.data_to_send())
            writer.write(proto.data_to_send())
            await self._in_time(connection, writer.drain())

    async def _in_time(self, connection: _Connection, step: Awaitable[T]) -> T:
        """Await ``step``, before the authentication deadline if not authenticated yet."""
        if connection.backend is not None:
            return await step
        async with asyncio.timeout_at(connection.deadline):
            return await step

    async def _handle(self, backend: Backend, message: Frontend) -> list[BackendMessage]:
        """Run one message in its lane. Classifying SQL parses it, which is the engine
        threads' work (a DP query must not wait for a free thread to be classified)."""
        loop = asyncio.get_running_loop()
        if isinstance(message, Query | Parse):
            lane = await loop.run_in_executor(self._pool, backend.lane, message)
        else:
            lane = backend.lane(message)
        if lane is Lane.LOOP:
            return backend.handle(message)
        pool = self._pool if lane is Lane.ENGINE else self._free_pool
        return await loop.run_in_executor(pool, backend.handle, message)

    def _open_session(self, connection: _Connection, event: Authenticated) -> bool:
        self._authenticating.discard(connection)
        if len(self._sessions) >= self.policy.max_connections:
            connection.protocol.fail(
                ErrorResponse("FATAL", SQLState.TOO_MANY_CONNECTIONS, TOO_MANY)
            )
            return False
        database = event.parameters.get("database") or event.user
        key = (secrets.randbelow(2**31 - 1) + 1, secrets.randbelow(2**31 - 1) + 1)
        while key[0] in self._sessions:
            key = (secrets.randbelow(2**31 - 1) + 1, key[1])
        try:
            backend = Backend(self.proxy, self.catalog, event.user, database, key)
        except DPProxyError:
            connection.protocol.fail(
                ErrorResponse(
                    "FATAL",
                    SQLState.INVALID_AUTHORIZATION_SPECIFICATION,
                    f'role "{event.user}" does not exist',
                )
            )
            return False
        try:
            chatter.apply_startup_options(event.parameters.get("options", ""), backend.state)
        except DPProxyError as exc:
            connection.protocol.fail(ErrorResponse("FATAL", exc.sqlstate, exc.message))
            return False
        connection.backend = backend
        self._sessions[key[0]] = connection
        connection.protocol.send(*backend.startup())
        log.info("session %d opened for analyst %s", key[0], event.user)
        return True

    def _cancel(self, request: Cancel) -> None:
        target = self._sessions.get(request.process_id)
        if target is None or target.backend is None:
            return
        if secrets.compare_digest(
            request.secret_key.to_bytes(4, "big", signed=True),
            target.backend.key[1].to_bytes(4, "big", signed=True),
        ):
            target.backend.cancel()


async def _close(writer: asyncio.StreamWriter) -> None:
    """Flush and close; the transport must be closed before the loop may stop."""
    with contextlib.suppress(ConnectionError, RuntimeError, OSError, asyncio.CancelledError):
        await writer.drain()
    writer.close()
    with contextlib.suppress(ConnectionError, RuntimeError, OSError, asyncio.CancelledError):
        await writer.wait_closed()


def _frontend(event: object) -> Frontend:
    return event  # type: ignore[return-value]
