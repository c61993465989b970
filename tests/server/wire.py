"""A minimal raw PostgreSQL client for tests that send what real clients never would."""

from __future__ import annotations

import socket
import struct

from dpproxy.server import codec
from tests.server.conftest import PASSWORDS
from tests.server.test_scram import client_final_for


def frame(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def startup_packet(**params: str) -> bytes:
    body = struct.pack("!I", codec.PROTOCOL_3)
    body += b"".join(k.encode() + b"\x00" + v.encode() + b"\x00" for k, v in params.items())
    return struct.pack("!I", len(body) + 5) + body + b"\x00"


class RawClient:
    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self._buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> tuple[bytes, bytes] | None:
        """One backend message, or None when the server closed the connection."""
        while True:
            if len(self._buffer) >= 5:
                kind, length = struct.unpack("!cI", self._buffer[:5])
                if len(self._buffer) >= length + 1:
                    body = self._buffer[5 : length + 1]
                    self._buffer = self._buffer[length + 1 :]
                    return kind, body
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self._buffer += chunk

    def until_ready(self) -> list[tuple[bytes, bytes]]:
        got = []
        while (message := self.read()) is not None:
            got.append(message)
            if message[0] == b"Z":
                return got
        raise ConnectionError(f"closed before ReadyForQuery: {got}")

    def until_closed(self) -> list[tuple[bytes, bytes]]:
        got = []
        while (message := self.read()) is not None:
            got.append(message)
        return got

    def login(self, user: str = "alice") -> list[tuple[bytes, bytes]]:
        self.send(startup_packet(user=user, database="dpproxy"))
        kind, body = self.read() or (b"", b"")
        assert kind == b"R" and body[:4] == struct.pack("!i", 10), (kind, body)
        bare = "n=,r=rawclientnonce"
        first = b"n,," + bare.encode()
        self.send(frame(b"p", b"SCRAM-SHA-256\x00" + struct.pack("!i", len(first)) + first))
        kind, body = self.read() or (b"", b"")
        assert kind == b"R" and body[:4] == struct.pack("!i", 11), (kind, body)
        self.send(frame(b"p", client_final_for(PASSWORDS[user], bare, body[4:])))
        return self.until_ready()

    def close(self) -> None:
        self.sock.close()


def error_code(body: bytes) -> str:
    fields = dict((f[:1], f[1:]) for f in body.split(b"\x00") if f)
    return fields[b"C"].decode()
