"""Wire limits against denial of service: free statements apart from DP queries, an
authentication deadline with its own cap, per-connection caps, and a protocol loop that
no stream of packets can make recurse. Limits are set small so each test runs fast."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dpproxy.server import codec
from dpproxy.server.codec import ProtocolViolation
from dpproxy.server.messages import ErrorResponse, Parse, Sync
from dpproxy.server.protocol import Authenticated, ProtocolSettings, ServerProtocol
from dpproxy.sqlstate import SQLState
from tests.server.conftest import Running, server_policies, start_server
from tests.server.wire import RawClient, error_code, frame, startup_packet

FREE_TIMEOUT = 1.5
AUTH_TIMEOUT = 1.0
MAX_QUERY = 500
GSSENC = struct.pack("!II", 8, codec.GSSENC_REQUEST)
# A catalog statement with no end in sight: an 8-way cross join of pg_type
_ALIASES = "abcdefgh"
SLOW_CATALOG = (
    "SELECT count(*) FROM " + ", ".join(f"pg_type {a}" for a in _ALIASES)
    + " WHERE " + " || ".join(f"{a}.typname" for a in _ALIASES) + " <> 'x'"
)  # fmt: skip


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    server = {"port": 5433, "workers": 2, "free_workers": 2,
              "free_timeout_seconds": FREE_TIMEOUT, "max_connections": 8,
              "max_authenticating": 4, "authentication_timeout_seconds": AUTH_TIMEOUT,
              "max_prepared_statements": 5, "max_portals": 3,
              "max_message_bytes": 8192}  # fmt: skip
    queries = {"timeout_seconds": 30, "max_query_length": MAX_QUERY}
    directory = server_policies(tmp_path_factory.mktemp("limits"), server=server, queries=queries)
    yield from start_server(directory)


def _parse(name: str, sql: str) -> bytes:
    return frame(b"P", name.encode() + b"\x00" + sql.encode() + b"\x00" + struct.pack("!H", 0))


def _bind(portal: str, statement: str) -> bytes:
    body = portal.encode() + b"\x00" + statement.encode() + b"\x00"
    return frame(b"B", body + struct.pack("!HHH", 0, 0, 0))


SYNC = frame(b"S", b"")


def _errors(messages: list[tuple[bytes, bytes]]) -> list[str]:
    return [error_code(body) for kind, body in messages if kind == b"E"]


# -- free statements ---------------------------------------------------------------


def test_slow_free_statements_leave_the_engine_workers_to_dp_queries(limited: Running) -> None:
    """Four slow catalog statements (twice the engine workers, twice the free pool) are
    cut at the free time limit with 57014, and a DP query answers meanwhile."""
    analyst = psycopg.connect(limited.dsn(), autocommit=True)
    analyst.execute("SELECT COUNT(*) FROM members")  # warm: the first query loads data
    slow = [psycopg.connect(limited.dsn(), autocommit=True) for _ in range(4)]
    outcomes: list[tuple[float, str]] = []
    start = time.monotonic()

    def run(conn: psycopg.Connection[tuple[object, ...]]) -> None:
        try:
            conn.execute(SLOW_CATALOG)
            outcomes.append((time.monotonic() - start, "finished"))
        except psycopg.Error as exc:
            outcomes.append((time.monotonic() - start, exc.sqlstate or ""))

    threads = [threading.Thread(target=run, args=(conn,)) for conn in slow]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # the slow statements are running or queued
    asked = time.monotonic()
    row = analyst.execute("SELECT COUNT(*) FROM members WHERE age > 30").fetchone()
    answered = time.monotonic()
    for thread in threads:
        thread.join(30)
    assert row is not None
    assert answered - asked < FREE_TIMEOUT - 0.3, answered - asked
    assert not [t for t, _ in outcomes if t < answered - start]  # none had ended yet
    assert [code for _, code in outcomes] == [SQLState.QUERY_CANCELED] * 4
    # two at a time on the free pool, each interrupted at its limit
    assert max(t for t, _ in outcomes) < 2 * FREE_TIMEOUT + 2.0, outcomes
    for conn in [analyst, *slow]:
        conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT generate_series(1, 100000000)",
        "SELECT count(*) FROM pg_catalog.generate_series(1, 100000000) AS s",
        "SELECT generate_series(1, relnatts * 1000000) FROM pg_class",
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t",
        "SELECT repeat('x', 100000000)",
        "SELECT lpad('x', relnatts) FROM pg_class",
        "SELECT repeat(repeat('x', 1000), 1000)",
    ],
)
def test_row_generators_are_refused_before_running(limited: Running, sql: str) -> None:
    with psycopg.connect(limited.dsn(), autocommit=True) as conn:
        started = time.monotonic()
        with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="bounds their cost"):
            conn.execute(sql)
        assert time.monotonic() - started < FREE_TIMEOUT  # refused, not timed out


def test_small_series_stay_available(limited: Running) -> None:
    """psql's ``\\d+`` counts along a catalog array; small constant series are fine too."""
    with psycopg.connect(limited.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM generate_series(1, 10) s").fetchone() == (10,)
        sql = "SELECT count(*) FROM pg_index, generate_series(0, array_upper(indkey, 1)) s"
        assert conn.execute(sql).fetchone() is not None


# -- unauthenticated connections ---------------------------------------------------


def _idle(running: Running, count: int) -> list[socket.socket]:
    return [
        socket.create_connection((running.host, running.port), timeout=10) for _ in range(count)
    ]


def test_authentication_deadline_closes_idle_and_slow_sockets(limited: Running) -> None:
    idle = RawClient(limited.host, limited.port)
    slow = RawClient(limited.host, limited.port)
    started = time.monotonic()
    packet = startup_packet(user="alice", database="dpproxy")
    for byte in packet[:8]:  # a startup packet one byte at a time, never finished
        slow.send(bytes([byte]))
        time.sleep(AUTH_TIMEOUT / 8)
    for client in (idle, slow):
        messages = client.until_closed()
        client.close()
        assert _errors(messages) == [SQLState.QUERY_CANCELED]
        assert b"authentication due to timeout" in messages[0][1]
    assert time.monotonic() - started < AUTH_TIMEOUT + 2.0


def test_idle_sockets_do_not_count_against_authenticated_sessions(limited: Running) -> None:
    """Sockets that never authenticate fill their own cap (53300 for one more), not
    max_connections: an analyst still logs in, and the cap empties at the deadline."""
    idle = _idle(limited, 3)
    time.sleep(0.2)  # accepted: they hold 3 of the 4 authenticating places
    with psycopg.connect(limited.dsn(), autocommit=True) as conn:  # the 4th place
        assert conn.execute("SELECT current_schema()").fetchone() == ("public",)
    idle += _idle(limited, 1)
    time.sleep(0.2)
    refused = RawClient(limited.host, limited.port)
    refused.send(startup_packet(user="alice", database="dpproxy"))
    messages = refused.until_closed()
    refused.close()
    assert _errors(messages) == [SQLState.TOO_MANY_CONNECTIONS]
    assert b"too many clients" in messages[0][1]
    time.sleep(AUTH_TIMEOUT + 0.5)  # the idle ones are closed by now
    for sock in idle:
        with contextlib.suppress(ConnectionError):
            while sock.recv(4096):
                pass
        sock.close()
    with psycopg.connect(limited.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_max_connections_counts_authenticated_sessions(tmp_path: Path) -> None:
    server = {"port": 5433, "max_connections": 1, "max_authenticating": 2,
              "authentication_timeout_seconds": 5}  # fmt: skip
    with contextlib.contextmanager(start_server)(
        server_policies(tmp_path / "p", server=server)
    ) as running:
        idle = _idle(running, 1)  # does not take the one session
        with psycopg.connect(running.dsn(), autocommit=True):
            with pytest.raises(psycopg.OperationalError, match="too many clients") as info:
                psycopg.connect(running.dsn())
            assert "53300" in str(info.value) or "too many" in str(info.value)
        for sock in idle:
            sock.close()


# -- per-connection caps -----------------------------------------------------------


def test_prepared_statement_cap(limited: Running) -> None:
    client = RawClient(limited.host, limited.port)
    client.login()
    client.send(b"".join(_parse(f"s{i}", "SELECT 1") for i in range(5)) + SYNC)
    assert _errors(client.until_ready()) == []
    client.send(_parse("s5", "SELECT 1") + SYNC)
    got = client.until_ready()
    assert _errors(got) == [SQLState.PROGRAM_LIMIT_EXCEEDED]
    assert b"too many prepared statements" in got[0][1]
    client.send(_parse("", "SELECT 2") + SYNC)  # the unnamed one replaces itself
    assert _errors(client.until_ready()) == [SQLState.PROGRAM_LIMIT_EXCEEDED]
    client.send(frame(b"C", b"Ss0\x00") + _parse("s5", "SELECT 1") + SYNC)
    assert [m[0] for m in client.until_ready()] == [b"3", b"1", b"Z"]
    client.close()


def test_portal_cap(limited: Running) -> None:
    client = RawClient(limited.host, limited.port)
    client.login()
    binds = b"".join(_bind(f"p{i}", "s") for i in range(3))
    client.send(_parse("s", "SELECT 1") + binds + SYNC)
    assert _errors(client.until_ready()) == []
    client.send(_bind("p3", "s") + SYNC)
    got = client.until_ready()
    assert _errors(got) == [SQLState.PROGRAM_LIMIT_EXCEEDED]
    assert b"too many portals" in got[0][1]
    client.send(frame(b"C", b"Pp0\x00") + _bind("p3", "s") + SYNC)
    assert [m[0] for m in client.until_ready()] == [b"3", b"2", b"Z"]
    client.close()


def test_max_query_length_is_checked_before_tokenizing(limited: Running) -> None:
    """Over max_query_length (an unterminated string, which the tokenizer would reject
    with 42601) is 54000 for Query and Parse, and the session goes on."""
    text = "SELECT '" + "x" * MAX_QUERY
    client = RawClient(limited.host, limited.port)
    client.login()
    client.send(frame(b"Q", text.encode() + b"\x00"))
    got = client.until_ready()
    assert [m[0] for m in got] == [b"E", b"Z"]
    assert _errors(got) == [SQLState.PROGRAM_LIMIT_EXCEEDED]
    client.send(_parse("long", text) + frame(b"D", b"Slong\x00") + SYNC)  # Describe skipped
    got = client.until_ready()
    assert [m[0] for m in got] == [b"E", b"Z"]
    assert _errors(got) == [SQLState.PROGRAM_LIMIT_EXCEEDED]
    client.send(frame(b"Q", b"SELECT 1\x00"))
    assert [m[0] for m in client.until_ready()] == [b"T", b"D", b"C", b"Z"]
    client.close()


def test_oversized_message_closes_the_connection(limited: Running) -> None:
    client = RawClient(limited.host, limited.port)
    client.login()
    client.send(frame(b"Q", b"SELECT 1 -- " + b"x" * 9000 + b"\x00"))
    messages = client.until_closed()
    client.close()
    assert _errors(messages) == [SQLState.PROGRAM_LIMIT_EXCEEDED]
    assert b"exceeds the limit of 8192" in messages[0][1]


# -- the protocol loop -------------------------------------------------------------


def test_many_gssenc_requests_end_cleanly(limited: Running) -> None:
    """PostgreSQL negotiates encryption once: the first GSSENCRequest is declined, the
    second is a protocol violation (08P01), however many follow."""
    client = RawClient(limited.host, limited.port)
    client.send(GSSENC * 5000)
    assert client.sock.recv(1) == b"N"
    messages = client.until_closed()
    client.close()
    assert _errors(messages) == [SQLState.PROTOCOL_VIOLATION]
    assert b"GSSENCRequest" in messages[0][1]


def test_the_state_machine_loops_over_packets_it_consumes() -> None:
    """Sans IO, far past the recursion limit: SASL steps after a declined GSSENCRequest,
    then 5,000 messages dropped after an extended-query error, then Sync."""
    proto = ServerProtocol(ProtocolSettings(trust=True))
    proto.receive_data(GSSENC + startup_packet(user="alice"))
    assert isinstance(proto.next_event(), Authenticated)
    assert proto.data_to_send().startswith(b"N")
    proto.receive_data(_parse("", "SELECT 1"))
    assert isinstance(proto.next_event(), Parse)
    proto.send(ErrorResponse("ERROR", SQLState.SYNTAX_ERROR, "boom"))
    proto.receive_data(_bind("", "") * 5000 + SYNC)
    assert isinstance(proto.next_event(), Sync)
    assert proto.next_event() is None

    flood = ServerProtocol(ProtocolSettings(trust=True))
    flood.receive_data(GSSENC * 10_000)
    with pytest.raises(ProtocolViolation, match="second GSSENCRequest"):
        flood.next_event()
