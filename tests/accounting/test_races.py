"""Concurrent queries from 32 threads and from 8 processes racing for the last units of
a budget never spend more than the budget together."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from dpproxy.errors import BudgetExhausted
from dpproxy.proxy import Proxy
from tests.conftest import ROOT, write_policies

COST = 50_000_000_000  # epsilon 0.05 in ledger units
BUDGET = 1_000_000_000_000  # bob's epsilon 1.0


def _drain(proxy: Proxy) -> None:
    """Spend bob's budget down to its last 0.1 (two more queries of 0.05)."""
    proxy.session("bob").query("SELECT COUNT(*) FROM members", epsilon=0.9)


def test_32_threads_never_overspend(tmp_path: Path) -> None:
    proxy = Proxy(write_policies(tmp_path / "p", config={"cache": False}))
    try:
        _drain(proxy)
        outcomes: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(32)

        def worker(i: int) -> None:
            session = proxy.session("bob")
            start.wait()
            try:
                session.query(f"SELECT COUNT(*) FROM members WHERE age > {i}", epsilon=0.05)
                result = "ok"
            except BudgetExhausted:
                result = "exhausted"
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("ok") == 2
        assert outcomes.count("exhausted") == 30
        total = proxy.ledger.spent("member", "bob").epsilon
        assert total == 900_000_000_000 + 2 * COST == BUDGET
    finally:
        proxy.close()


SCRIPT = """
import sys, dpproxy
from dpproxy.errors import BudgetExhausted
proxy = dpproxy.Proxy(sys.argv[1])
session = proxy.session("bob")
ok = 0
for i in range(6):
    try:
        session.query(f"SELECT COUNT(*) FROM members WHERE age > {sys.argv[2]}{i}", epsilon=0.05)
        ok += 1
    except BudgetExhausted:
        pass
print(ok)
"""


def test_8_processes_never_overspend(tmp_path: Path) -> None:
    directory = write_policies(tmp_path / "p", config={"cache": False})
    proxy = Proxy(directory)
    try:
        proxy.session("bob").query("SELECT COUNT(*) FROM members", epsilon=0.7)
        processes = [
            subprocess.Popen([sys.executable, "-c", SCRIPT, str(directory), str(p)],
                             stdout=subprocess.PIPE, text=True, cwd=ROOT)
            for p in range(8)
        ]  # fmt: skip
        successes = 0
        for process in processes:
            out, _ = process.communicate(timeout=120)
            assert process.returncode == 0
            successes += int(out.strip())
        assert successes == 6  # 0.3 left, 0.05 each
        total = proxy.ledger.spent("member", "bob").epsilon
        assert total == 700_000_000_000 + successes * COST == BUDGET
        assert proxy.ledger.verify_audit().ok
    finally:
        proxy.close()
