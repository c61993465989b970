"""Golden fixtures for the checker: >= 60 accepted and >= 60 rejected queries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dpproxy.check import check
from dpproxy.errors import DPProxyError, QueryRejected
from dpproxy.parse import parse
from dpproxy.policy.catalog import Catalog

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "check"
ACCEPTED: list[dict[str, Any]] = yaml.safe_load((FIXTURES / "accepted.yaml").read_text())
REJECTED: list[dict[str, Any]] = yaml.safe_load((FIXTURES / "rejected.yaml").read_text())


def test_fixture_counts() -> None:
    assert len(ACCEPTED) >= 60
    assert len(REJECTED) >= 60


@pytest.mark.parametrize("case", ACCEPTED, ids=[c["sql"][:60] for c in ACCEPTED])
def test_accepted(case: dict[str, Any], catalog: Catalog) -> None:
    query = check(parse(case["sql"]), catalog)
    assert [a.kind.value for a in query.aggregates] == case["aggregates"]
    assert len(query.keys) == case["keys"]
    if "public" in case:
        assert all(k.public_values is not None for k in query.keys) == case["public"]


@pytest.mark.parametrize("case", REJECTED, ids=[c["sql"][:60] for c in REJECTED])
def test_rejected(case: dict[str, Any], catalog: Catalog) -> None:
    with pytest.raises(DPProxyError) as error:
        check(parse(case["sql"]), catalog)
    assert error.value.sqlstate == case["sqlstate"], str(error.value)
    text = str(error.value) + (error.value.detail or "")
    assert case["message"] in text


def test_all_violations_are_reported(catalog: Catalog) -> None:
    sql = "SELECT MAX(annual_spend), loyalty_number, nosuch FROM members WHERE random() > 1"
    with pytest.raises(QueryRejected) as error:
        check(parse(sql), catalog)
    reasons = " | ".join(str(v) for v in error.value.violations)
    assert "MAX is not allowed" in reasons
    assert "random functions are not allowed" in reasons
    assert "column 'nosuch' does not exist" in reasons
    assert "privacy unit column" in reasons
    assert error.value.detail is not None


def test_violation_points_at_the_construct(catalog: Catalog) -> None:
    sql = "SELECT city,\n       MAX(annual_spend)\nFROM members GROUP BY city"
    with pytest.raises(QueryRejected) as error:
        check(parse(sql), catalog)
    first = error.value.violations[0]
    assert (first.line, first.col) == (2, 8)
    assert first.construct == "MAX(annual_spend)"
    assert error.value.position == sql.index("MAX") + 1
