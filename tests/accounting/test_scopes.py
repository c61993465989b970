"""Budget scopes: zCDP accounting, per-domain budgets, global caps, refresh, warnings."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

import pytest

from dpproxy.errors import BudgetExhausted
from dpproxy.proxy import Proxy
from tests.conftest import write_policies


def test_zcdp_accounting(tmp_path: Path) -> None:
    config = {"accounting": "zcdp", "cache": False,
              "analysts": {"carol": {"budget": {"epsilon": 1.0, "delta": 1e-6}}}}  # fmt: skip
    proxy = Proxy(write_policies(tmp_path / "p", config=config))
    try:
        carol = proxy.session("carol")
        result = carol.query("SELECT education, COUNT(*) FROM members GROUP BY 1", epsilon=0.1)
        assert result.accuracy[1].mechanism == "discrete_gaussian"
        assert result.rho == pytest.approx(0.005)
        # rho limit for (1, 1e-6/2): (sqrt(ln 2e6 + 1) - sqrt(ln 2e6))^2 ~ 0.0167: three fit
        carol.query("SELECT COUNT(*) FROM members WHERE age > 20", epsilon=0.1)
        carol.query("SELECT COUNT(*) FROM members WHERE age > 21", epsilon=0.1)
        with pytest.raises(BudgetExhausted, match="needs rho 0.005"):
            carol.query("SELECT COUNT(*) FROM members WHERE age > 22", epsilon=0.1)
        line = carol.budget()[0]
        rho = 0.015
        assert line.epsilon_spent == pytest.approx(rho + 2 * math.sqrt(rho * math.log(2e6)))
        assert line.epsilon_spent <= 1.0
        # partition selection spends delta too, from the half of delta kept for it
        selected = carol.query("SELECT city, COUNT(*) FROM members GROUP BY city", epsilon=0.01)
        assert selected.delta == 1e-7
    finally:
        proxy.close()


def test_global_cap_across_analysts(tmp_path: Path) -> None:
    config = {"global_budgets": {"member": {"epsilon": 1.0, "delta": 1e-6}}, "cache": False}
    proxy = Proxy(write_policies(tmp_path / "p", config=config))
    try:
        proxy.session("alice").query("SELECT COUNT(*) FROM members", epsilon=0.6)
        with pytest.raises(BudgetExhausted, match=r"domain 'member' \(all analysts\)"):
            proxy.session("bob").query("SELECT COUNT(*) FROM members", epsilon=0.5)
        proxy.session("bob").query("SELECT COUNT(*) FROM members", epsilon=0.4)
    finally:
        proxy.close()


def test_per_domain_budget_overrides(tmp_path: Path) -> None:
    config = {"analysts": {"dave": {"budget": {"epsilon": 5.0},
                                    "domains": {"member": {"epsilon": 0.5}}}}}  # fmt: skip
    proxy = Proxy(write_policies(tmp_path / "p", config=config))
    try:
        with pytest.raises(BudgetExhausted, match="analyst 'dave' in domain 'member'"):
            proxy.session("dave").query("SELECT COUNT(*) FROM members", epsilon=0.6)
    finally:
        proxy.close()


def test_refresh_forgets_earlier_periods(tmp_path: Path) -> None:
    directory = write_policies(tmp_path / "p", config={"refresh": "daily", "cache": False})
    proxy = Proxy(directory)
    try:
        proxy.session("bob").query("SELECT COUNT(*) FROM members", epsilon=0.9)
        db = sqlite3.connect(directory / "state" / "ledger.sqlite")
        db.execute("UPDATE charges SET created_at = ?", (time.time() - 2 * 86_400,))
        db.commit()
        db.close()
        result = proxy.session("bob").query("SELECT COUNT(*) FROM members", epsilon=0.9)
        assert result.budget_remaining["epsilon"] == pytest.approx(0.1)
    finally:
        proxy.close()


def test_warnings_at_thresholds(tmp_path: Path) -> None:
    proxy = Proxy(write_policies(tmp_path / "p", config={"cache": False}))
    try:
        bob = proxy.session("bob")
        assert bob.query("SELECT COUNT(*) FROM members", epsilon=0.4).warnings == ()
        half = bob.query("SELECT COUNT(*) FROM members", epsilon=0.2).warnings
        assert half == ("50% of the epsilon budget of analyst 'bob' in domain 'member' is spent",)
        both = bob.query("SELECT COUNT(*) FROM members", epsilon=0.35).warnings
        assert [w.split("%")[0] for w in both] == ["90"]
    finally:
        proxy.close()


def test_budget_plot(tmp_path: Path) -> None:
    proxy = Proxy(write_policies(tmp_path / "p"))
    try:
        proxy.session("bob").query("SELECT COUNT(*) FROM members", epsilon=0.3)
        from dpproxy.accounting.plot import plot_spend

        path = tmp_path / "spend.png"
        assert plot_spend(proxy, path) == 1
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        proxy.close()
