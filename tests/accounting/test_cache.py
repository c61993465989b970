"""Free replays: an identical query returns the identical noisy answer at no cost, even
after a restart; a trivially different one gets fresh noise and is charged."""

from __future__ import annotations

from pathlib import Path

from dpproxy.proxy import Proxy
from tests.conftest import write_policies

SQL = "SELECT city, COUNT(*) AS n, AVG(annual_spend) FROM members GROUP BY city"


def test_replay_after_restart_is_identical_and_free(tmp_path: Path) -> None:
    directory = write_policies(tmp_path / "p")
    first_proxy = Proxy(directory)
    try:
        first = first_proxy.session("bob").query(SQL, epsilon=0.5)
    finally:
        first_proxy.close()
    assert not first.cache_hit and first.epsilon == 0.5
    second_proxy = Proxy(directory)
    try:
        session = second_proxy.session("bob")
        again = session.query(SQL.lower().replace("members", "MEMBERS"), epsilon=0.5)
        assert again.cache_hit
        assert again.rows == first.rows and again.columns == first.columns
        assert again.accuracy == first.accuracy
        assert again.epsilon == 0 and again.delta == 0
        assert again.budget_remaining == first.budget_remaining
        assert second_proxy.ledger.spent("member", "bob").epsilon == 500_000_000_000
    finally:
        second_proxy.close()


def test_trivially_different_queries_are_charged(tmp_path: Path) -> None:
    proxy = Proxy(write_policies(tmp_path / "p"))
    try:
        session = proxy.session("alice")
        base = session.query("SELECT COUNT(*) FROM members WHERE age > 30", epsilon=0.5)
        for variant, epsilon in [
            ("SELECT COUNT(*) FROM members WHERE age > 30.0", 0.5),
            ("SELECT COUNT(*) FROM members WHERE age > 30 AND 1 = 1", 0.5),
            ("SELECT COUNT(*) FROM members WHERE age > 30", 0.6),
            ("SELECT COUNT(*) AS c FROM members WHERE age > 30", 0.5),
        ]:
            result = session.query(variant, epsilon=epsilon)
            assert not result.cache_hit and result.epsilon == epsilon
        assert not base.cache_hit
        assert proxy.ledger.spent("member", "alice").epsilon == 2_600_000_000_000
    finally:
        proxy.close()


def test_cache_is_per_analyst_and_can_be_switched_off(tmp_path: Path) -> None:
    proxy = Proxy(write_policies(tmp_path / "p"))
    try:
        proxy.session("alice").query(SQL, epsilon=0.5)
        assert not proxy.session("bob").query(SQL, epsilon=0.5).cache_hit
    finally:
        proxy.close()
    off = Proxy(write_policies(tmp_path / "q", config={"cache": False}))
    try:
        session = off.session("alice")
        a = session.query(SQL, epsilon=0.5)
        b = session.query(SQL, epsilon=0.5)
        assert not b.cache_hit and b.epsilon == 0.5
        assert a.rows != b.rows  # fresh noise (the chance of equal answers is negligible)
        assert off.ledger.spent("member", "alice").epsilon == 1_000_000_000_000
    finally:
        off.close()


def test_policy_change_invalidates(tmp_path: Path) -> None:
    directory = write_policies(tmp_path / "p")
    proxy = Proxy(directory)
    try:
        proxy.session("alice").query(SQL, epsilon=0.5)
    finally:
        proxy.close()
    path = directory / "members.yaml"
    path.write_text(path.read_text().replace("min_group_size: 10", "min_group_size: 11"))
    changed = Proxy(directory)
    try:
        assert not changed.session("alice").query(SQL, epsilon=0.5).cache_hit
    finally:
        changed.close()
