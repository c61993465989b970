"""Broken clients close only their own connection; Describe never charges; limits,
cancellation, timeouts, TLS and a graceful SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dpproxy.proxy import Proxy
from tests.conftest import ROOT
from tests.server.conftest import Running, server_policies, start_server
from tests.server.wire import RawClient, error_code, frame


def works(running: Running) -> None:
    with psycopg.connect(running.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT current_schema()").fetchone() == ("public",)


@pytest.mark.parametrize(
    ("after_login", "data", "sqlstate"),
    [
        (False, struct.pack("!I", 0x7FFFFFFF), "08P01"),  # absurd startup length
        (False, struct.pack("!II", 8, 1234 << 16), "0A000"),  # unknown protocol version
        (True, b"Q" + struct.pack("!I", 0x7FFFFFF0), "54000"),  # absurd message length
        (True, frame(b"Y", b"what"), "08P01"),  # unknown message type
        (True, frame(b"B", b"\x00\x00\x00\x00\x00\x09"), "08P01"),  # truncated Bind
        (True, frame(b"Q", b"no terminator"), "08P01"),
    ],
)
def test_malformed_input_closes_only_that_connection(
    running: Running, after_login: bool, data: bytes, sqlstate: str
) -> None:
    bystander = RawClient(running.host, running.port)
    bystander.login()
    client = RawClient(running.host, running.port)
    if after_login:
        client.login()
    client.send(data)
    messages = client.until_closed()
    client.close()
    assert [m[0] for m in messages] == [b"E"]
    assert error_code(messages[0][1]) == sqlstate
    bystander.send(frame(b"Q", b"SELECT version()\x00"))
    assert [m[0] for m in bystander.until_ready()] == [b"T", b"D", b"C", b"Z"]
    bystander.close()
    works(running)


def test_truncated_message_then_hang_up(running: Running) -> None:
    client = RawClient(running.host, running.port)
    client.login()
    client.send(b"Q" + struct.pack("!I", 100) + b"SELECT")
    client.close()
    works(running)


def test_describe_neither_executes_nor_charges(running: Running) -> None:
    client = RawClient(running.host, running.port)
    client.login()
    before = running.spent()
    sql = b"SELECT city, COUNT(*) AS n, AVG(annual_spend) FROM members WHERE age > $1 GROUP BY 1"
    client.send(
        frame(b"P", b"s\x00" + sql + b"\x00" + struct.pack("!H", 0))
        + frame(b"D", b"Ss\x00")
        + frame(b"B", b"p\x00s\x00" + struct.pack("!HHi", 0, 1, 2) + b"40" + struct.pack("!H", 0))
        + frame(b"D", b"Pp\x00")
        + frame(b"S", b"")
    )
    kinds = [m[0] for m in client.until_ready()]
    assert kinds == [b"1", b"t", b"T", b"2", b"T", b"Z"]
    assert running.spent() == before
    client.send(frame(b"E", b"p\x00" + struct.pack("!i", 2)) + frame(b"S", b""))
    got = client.until_ready()
    assert [m[0] for m in got] == [b"N", b"D", b"D", b"s", b"Z"]  # two rows, suspended
    assert running.spent() == pytest.approx(before + 0.5)
    client.send(frame(b"E", b"p\x00" + struct.pack("!i", 0)) + frame(b"S", b""))
    rest = client.until_ready()
    assert rest[-2][0] == b"C" and rest[-2][1].startswith(b"SELECT ")  # the same answer's rows
    assert all(m[0] == b"D" for m in rest[:-2])
    assert running.spent() == pytest.approx(before + 0.5)  # the portal ran once
    client.send(frame(b"C", b"Pp\x00") + frame(b"C", b"Ss\x00") + frame(b"S", b""))
    assert [m[0] for m in client.until_ready()] == [b"3", b"3", b"Z"]
    client.close()


def test_connection_limit(tmp_path: Path) -> None:
    directory = server_policies(tmp_path / "p", server={"max_connections": 2})
    with contextlib.contextmanager(start_server)(directory) as running:
        first = psycopg.connect(running.dsn())
        second = psycopg.connect(running.dsn())
        with pytest.raises(psycopg.OperationalError, match="too many clients"):
            psycopg.connect(running.dsn())
        first.close()
        time.sleep(0.2)
        third = psycopg.connect(running.dsn())
        second.close()
        third.close()


@pytest.fixture
def slow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    """A server whose engine runs a slow query in place of each rewritten one, so there
    is something to cancel (the real cursor, token and interrupt paths are used)."""
    with contextlib.contextmanager(start_server)(server_policies(tmp_path / "p")) as running:
        original = running.proxy.engine.prepare
        slow_sql = "SELECT sum(a.range * 7 % 13) FROM range(20000000000) a"
        monkeypatch.setattr(running.proxy.engine, "prepare", lambda sql: original(slow_sql))
        yield running


def test_cancel_request_interrupts_the_query(slow: Running) -> None:
    with psycopg.connect(slow.dsn(), autocommit=True) as conn:
        timer = threading.Timer(0.5, conn.cancel_safe)
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled, match="due to user request"):
            conn.execute("SELECT COUNT(*) FROM members")
        assert time.monotonic() - started < 5
        assert slow.spent() == pytest.approx(0.5)  # the interrupted query keeps its charge
        assert conn.execute("SHOW dpproxy.epsilon").fetchone() == ("0.5",)


def test_statement_timeout(slow: Running) -> None:
    with psycopg.connect(slow.dsn(), autocommit=True) as conn:
        conn.execute("SET statement_timeout = '300ms'")
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            conn.execute("SELECT COUNT(*) FROM members")


def test_tls(tmp_path: Path) -> None:
    key, cert = tmp_path / "p" / "key.pem", tmp_path / "p" / "cert.pem"
    (tmp_path / "p").mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)  # fmt: skip
    tls = {"certificate": "cert.pem", "key": "key.pem", "mode": "require"}
    directory = server_policies(tmp_path / "p", server={"tls": tls})
    with contextlib.contextmanager(start_server)(directory) as running:
        with psycopg.connect(running.dsn(sslmode="require"), autocommit=True) as conn:
            assert conn.pgconn.ssl_in_use
            assert conn.execute("SELECT COUNT(*) FROM members").fetchone() is not None
        with pytest.raises(psycopg.OperationalError, match="accepts TLS connections only"):
            psycopg.connect(running.dsn(sslmode="disable"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sigterm_shuts_down_gracefully(tmp_path: Path) -> None:
    directory = server_policies(tmp_path / "p")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dpproxy.cli", "serve", "--policies", str(directory),
         "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "no server"
                time.sleep(0.2)
        dsn = f"host=127.0.0.1 port={port} user=alice password=alice-secret dbname=dpproxy"
        conn = psycopg.connect(dsn, autocommit=True)
        conn.execute("SELECT COUNT(*) FROM members WHERE age > 30")
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
        assert "dpproxy stopped" in output
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT COUNT(*) FROM members")
        conn.close()
    finally:
        if process.poll() is None:
            process.kill()
    proxy = Proxy(directory)  # the ledger is consistent and holds the one charge
    try:
        assert sum(line.epsilon_spent for line in proxy.budget_lines("alice")) == 0.5
    finally:
        proxy.close()
