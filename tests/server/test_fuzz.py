"""Random and mutated protocol messages, a bounded number in bounded time; afterwards the
server still answers a well-formed client, and no worker is stuck."""

from __future__ import annotations

import logging
import random
import socket
import struct
import time

import psycopg
import pytest

from dpproxy.server import codec
from tests.server.conftest import Running
from tests.server.wire import RawClient, frame, startup_packet

ROUNDS = 250
TIME_LIMIT = 25.0  # seconds
SEED = 20261122

VALID = [
    frame(b"Q", b"SELECT COUNT(*) FROM members\x00"),
    frame(b"Q", b"SELECT relname FROM pg_class\x00"),
    frame(b"Q", b"SET dpproxy.epsilon = 0.1\x00"),
    frame(b"P", b"s\x00SELECT COUNT(*) FROM members WHERE age > $1\x00" + struct.pack("!H", 0)),
    frame(b"B", b"\x00s\x00" + struct.pack("!HHi", 0, 1, 2) + b"40" + struct.pack("!H", 0)),
    frame(b"D", b"S\x00"),
    frame(b"D", b"P\x00"),
    frame(b"E", b"\x00" + struct.pack("!i", 0)),
    frame(b"C", b"Ss\x00"),
    frame(b"H", b""),
    frame(b"S", b""),
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.4 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice < 0.6 and data:
            del data[rng.randrange(len(data)) :]
        elif choice < 0.8:
            data[rng.randrange(len(data) + 1) : 0] = rng.randbytes(rng.randint(1, 16))
        elif len(data) >= 5:
            struct.pack_into("!I", data, 1, rng.choice([0, 3, 4, 5, 2**31 - 1, 2**32 - 1]))
    return bytes(data)


def attack(running: Running, rng: random.Random) -> None:
    client = RawClient(running.host, running.port, timeout=5)
    try:
        if rng.random() < 0.25:  # before authentication
            packet = rng.choice(
                [startup_packet(user="alice"), struct.pack("!II", 8, codec.SSL_REQUEST)]
            )
            client.send(mutate(rng, packet) if rng.random() < 0.8 else rng.randbytes(64))
        else:
            client.login()
            messages = [rng.choice(VALID) for _ in range(rng.randint(1, 6))]
            stream = b"".join(mutate(rng, m) if rng.random() < 0.5 else m for m in messages)
            if rng.random() < 0.2:
                stream = rng.randbytes(rng.randint(1, 200))
            client.send(stream)
        client.sock.settimeout(0.1)
        try:
            while client.sock.recv(65536):
                pass
        except (TimeoutError, ConnectionError, OSError):
            pass
    except (ConnectionError, OSError, AssertionError):
        pass  # the server may close the connection at any point: that is the point
    finally:
        client.close()


def test_fuzz_then_a_good_client_is_served(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dpproxy.server")
    rng = random.Random(SEED)
    deadline = time.monotonic() + TIME_LIMIT
    rounds = 0
    while rounds < ROUNDS and time.monotonic() < deadline:
        attack(running, rng)
        rounds += 1
    assert rounds >= 50, f"only {rounds} rounds ran in {TIME_LIMIT} s"
    with psycopg.connect(running.dsn(), autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute("SELECT gender, COUNT(*) FROM members GROUP BY gender").fetchall()
        assert [r[0] for r in rows] == ["Female", "Male", "Other"]
    with socket.create_connection((running.host, running.port), timeout=5):
        pass
    internal = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert not internal, internal[0].getMessage()
    assert any("protocol violation" in r.getMessage() for r in caplog.records)
