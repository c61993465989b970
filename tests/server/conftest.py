"""A real dpproxy server on loopback, on a free port, over a private copy of the policies.

``running`` starts one in a background thread (its own event loop); ``client_tools``
checks that the real clients the integration tests drive are installed, and fails
(never skips) when one is missing: ``make test`` installs them.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dpproxy.proxy import Proxy
from dpproxy.server.scram import make_verifier
from dpproxy.server.server import Server
from tests.conftest import write_policies

PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret"}
JDBC_JAR = Path("/usr/share/java/postgresql.jar")


def server_policies(directory: Path, **config: Any) -> Path:
    """Sample policies with SCRAM verifiers for alice and bob and a test server section."""
    analysts = {
        "alice": {"budget": {"epsilon": 1000.0, "delta": 0.5},
                  "scram": make_verifier(PASSWORDS["alice"], iterations=4096)},
        "bob": {"budget": {"epsilon": 1.0, "delta": 1.0e-6},
                "scram": make_verifier(PASSWORDS["bob"], iterations=4096)},
    }  # fmt: skip
    settings: dict[str, Any] = {"analysts": analysts, "server": {"port": 5433, "workers": 4}}
    settings.update(config)
    return write_policies(directory, settings)


@dataclass
class Running:
    host: str
    port: int
    proxy: Proxy
    server: Server
    loop: asyncio.AbstractEventLoop

    def dsn(self, user: str = "alice", **extra: str) -> str:
        parts = {"host": self.host, "port": str(self.port), "user": user,
                 "password": PASSWORDS.get(user, "x"), "dbname": "dpproxy", **extra}  # fmt: skip
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def spent(self, analyst: str = "alice") -> float:
        return sum(line.epsilon_spent for line in self.proxy.budget_lines(analyst))


def start_server(directory: Path) -> Iterator[Running]:
    proxy = Proxy(directory)
    server = Server(proxy, host="127.0.0.1", port=0)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_until_complete(server.stopped())  # until the test asks it to stop
        loop.run_until_complete(server.stop())
        loop.close()

    thread = threading.Thread(target=run, daemon=True, name="dpproxy-test-server")
    thread.start()
    assert started.wait(30), "server did not start"
    try:
        yield Running("127.0.0.1", server.port, proxy, server, loop)
    finally:
        loop.call_soon_threadsafe(server.request_stop)
        thread.join(60)
        assert not thread.is_alive(), "server did not stop"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One server per test module (its own state: budgets do not leak between modules)."""
    yield from start_server(server_policies(tmp_path_factory.mktemp("server")))


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make test`, which installs it")
    return path


def require_jdbc() -> Path:
    if not JDBC_JAR.exists():
        pytest.fail(f"{JDBC_JAR} is missing: run `make test` (Debian libpostgresql-jdbc-java)")
    return JDBC_JAR
