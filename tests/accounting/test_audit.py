"""The audit trail records every decision, never result values, and detects tampering:
an edited, removed or reordered entry, or entries cut off the end."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dpproxy.errors import BudgetExhausted, QueryRejected
from dpproxy.proxy import Proxy
from tests.conftest import ROOT, write_policies


@pytest.fixture
def audited(tmp_path: Path) -> Iterator[Path]:
    """A policy directory whose ledger holds a mix of decisions."""
    directory = write_policies(tmp_path / "p")
    proxy = Proxy(directory)
    try:
        bob = proxy.session("bob")
        bob.query("SELECT city, COUNT(*) FROM members GROUP BY city", epsilon=0.5)
        bob.query("SELECT city, COUNT(*) FROM members GROUP BY city", epsilon=0.5)  # cached
        with pytest.raises(QueryRejected):
            bob.query("SELECT * FROM members")
        bob.explain("SELECT AVG(age) FROM members")
        bob.query("SELECT AVG(age) FROM members", epsilon=0.25)
        with pytest.raises(BudgetExhausted):
            bob.query("SELECT SUM(age) FROM members", epsilon=0.5)
    finally:
        proxy.close()
    yield directory


def _db(directory: Path) -> sqlite3.Connection:
    return sqlite3.connect(directory / "state" / "ledger.sqlite", isolation_level=None)


def test_every_decision_is_recorded(audited: Path) -> None:
    db = _db(audited)
    rows = db.execute("SELECT decision, sqlstate, epsilon, cache_hit, query FROM audit "
                      "ORDER BY seq").fetchall()  # fmt: skip
    db.close()
    assert [r[0] for r in rows] == ["accepted", "cached", "rejected", "explained", "accepted",
                                    "rejected"]  # fmt: skip
    assert [r[1] for r in rows] == [None, None, "42501", None, None, "53P01"]
    assert [r[2] for r in rows] == [500_000_000_000, 0, 0, 0, 250_000_000_000, 0]
    assert [r[3] for r in rows] == [0, 1, 0, 0, 0, 0]
    assert rows[0][4].startswith("rel:from:members:members")  # canonical, qualified
    assert rows[2][4] == "SELECT * FROM members"  # refused before checking: the raw text


def test_no_result_values_in_the_ledger(audited: Path) -> None:
    db = _db(audited)
    text = "\n".join(str(v) for row in db.execute("SELECT * FROM audit") for v in row)
    charges = "\n".join(str(v) for row in db.execute("SELECT * FROM charges") for v in row)
    db.close()
    assert "Springfield" not in text + charges  # a group key value of the answer


def test_verify_ok(audited: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "dpproxy.cli", "audit", "verify", "--policies",
                           str(audited), "--format", "json"], capture_output=True, text=True,
                          cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout) == {"ok": True, "entries": 6, "problems": []}


def test_append_only_triggers(audited: Path) -> None:
    db = _db(audited)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit SET epsilon = 0 WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit WHERE seq = 1")
    db.close()


def _tamper(directory: Path, *statements: str) -> list[str]:
    db = _db(directory)
    db.execute("DROP TRIGGER audit_no_update")  # an attacker with file access can do this
    db.execute("DROP TRIGGER audit_no_delete")
    for statement in statements:
        db.execute(statement)
    db.close()
    proxy = Proxy(directory)
    try:
        result = proxy.ledger.verify_audit()
    finally:
        proxy.close()
    assert not result.ok
    return list(result.problems)


def test_edited_entry_is_detected(audited: Path) -> None:
    problems = _tamper(audited, "UPDATE audit SET epsilon = 1 WHERE seq = 5")
    assert problems == ["entry 5: its content does not match its hash (edited)"]


def test_edited_query_text_is_detected(audited: Path) -> None:
    problems = _tamper(audited, "UPDATE audit SET query = 'SELECT 1' WHERE seq = 1")
    assert "entry 1: its content does not match its hash (edited)" in problems


def test_removed_entry_is_detected(audited: Path) -> None:
    problems = _tamper(audited, "DELETE FROM audit WHERE seq = 3")
    assert "entry 3: missing (next entry is 4)" in problems
    assert "entry 4: does not follow the entry before it" in problems


def test_reordered_entries_are_detected(audited: Path) -> None:
    problems = _tamper(
        audited,
        "UPDATE audit SET seq = 100 WHERE seq = 2",
        "UPDATE audit SET seq = 2 WHERE seq = 3",
        "UPDATE audit SET seq = 3 WHERE seq = 100",
    )
    assert any("does not follow" in p for p in problems)


def test_truncated_tail_is_detected(audited: Path) -> None:
    problems = _tamper(audited, "DELETE FROM audit WHERE seq >= 5")
    assert any(p.startswith("charge ") and "no audit entry" in p for p in problems)


def test_cli_exit_status_on_tampering(audited: Path) -> None:
    _tamper(audited, "UPDATE audit SET analyst = 'alice' WHERE seq = 1")
    done = subprocess.run([sys.executable, "-m", "dpproxy.cli", "audit", "verify", "--policies",
                           str(audited)], capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert done.returncode == 1
    assert "audit trail BROKEN" in done.stdout
