"""Policies: valid ones load; typos, contradictions and mismatches with the data are
errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dpproxy.errors import PolicyError
from dpproxy.policy import load_policies
from dpproxy.policy.catalog import type_kind
from dpproxy.policy.explain import describe
from dpproxy.proxy import Proxy
from tests.conftest import POLICIES, write_policies


def test_sample_policies_load() -> None:
    policies = load_policies(POLICIES)
    assert set(policies.tables) == {"members", "purchases", "products"}
    assert policies.tables["members"].privacy_domain == "member"
    assert policies.tables["purchases"].privacy_domain == "member"
    assert policies.tables["products"].privacy_domain is None
    assert len(policies.version) == 64


def test_describe_explains_every_table() -> None:
    report = describe(POLICIES)
    assert report["ok"]
    text = report["text"]
    assert "table members: privacy unit loyalty_number (domain member)" in text
    assert "annual_spend DOUBLE: measure bounds [0, 20000]" in text
    assert "table products: public" in text


def _members(tmp_path: Path, change: dict[str, Any]) -> Path:
    directory = write_policies(tmp_path / "p")
    path = directory / "members.yaml"
    policy = yaml.safe_load(path.read_text())
    for key, value in change.items():
        target = policy
        *parents, last = key.split(".")
        for part in parents:
            target = target[part]
        if value is None:
            del target[last]
        else:
            target[last] = value
    path.write_text(yaml.safe_dump(policy))
    return directory


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"columns.age.uper": 3}, "members.yaml: columns.age.uper: Extra inputs are not permitted"),
        ({"max_rows_per_unt": 3}, "members.yaml: max_rows_per_unt: Extra inputs"),
        ({"columns.age.bounds": [100, 18]}, "lower bound 100.0 exceeds upper bound 18.0"),
        ({"columns.annual_spend.bounds": None}, "a measure needs bounds"),
        ({"columns.city.bounds": [0, 1]}, "only a measure has bounds"),
        ({"columns.city.role": ["hidden", "dimension"]}, "'hidden' cannot be combined"),
        ({"columns.city.role": "dimension_"}, "columns.city.role.0: Input should be"),
        ({"public": True}, "exactly one of privacy_unit"),
        ({"privacy_unit": "nosuch"}, "column 'nosuch' is not in columns"),
        ({"privacy_unit": None}, "is required (found none)"),
        ({"privacy_unit": None, "row_level": True}, "role privacy_unit needs privacy_unit"),
        ({"max_rows_per_unit": 0}, "max_rows_per_unit: Input should be greater than or equal to 1"),
        ({"max_groups_per_unit": None}, "max_groups_per_unit: required for a protected table"),
        ({"columns.city.public_values": []}, "public_values: the list is empty"),
        ({"columns.annual_spend.public_values": [1]}, "only a dimension has public values"),
        ({"columns.gender.public_values": ["F", "F"]}, "a value is listed twice"),
        ({"aggregates": ["count", "median"]}, "aggregates.1: Input should be"),
        ({"columns.age.bounds": [0, 1.0e300]}, "magnitude above 2**50"),
    ],
)
def test_invalid_table_policy(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as error:
        load_policies(_members(tmp_path, change))
    assert message in str(error.value)


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    directory = write_policies(tmp_path / "p")
    path = directory / "members.yaml"
    path.write_text(path.read_text() + "\nmin_group_size: 3\nmin_group_size: 4\n")
    with pytest.raises(
        PolicyError, match="members.yaml: invalid YAML: duplicate key 'min_group_size'"
    ):
        load_policies(directory)


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    directory = write_policies(tmp_path / "p", config={"acounting": "pure"})
    with pytest.raises(PolicyError, match="dpproxy.yaml: acounting: Extra inputs"):
        load_policies(directory)
    directory = write_policies(
        tmp_path / "q", config={"queries": {"default_epsilon": 3.0, "max_epsilon": 1.0}}
    )
    with pytest.raises(PolicyError, match="queries: default_epsilon: exceeds max_epsilon"):
        load_policies(directory)
    directory = write_policies(
        tmp_path / "r", config={"global_budgets": {"nosuch": {"epsilon": 1}}}
    )
    with pytest.raises(PolicyError, match="global_budgets.nosuch: no table has privacy domain"):
        load_policies(directory)


def test_table_defined_twice(tmp_path: Path) -> None:
    directory = write_policies(tmp_path / "p")
    (directory / "members_again.yaml").write_text((directory / "members.yaml").read_text())
    with pytest.raises(PolicyError, match="'members' is already defined in members.yaml"):
        load_policies(directory)


def test_missing_source_file(tmp_path: Path) -> None:
    directory = _members(tmp_path, {"source": {"csv": "nowhere.csv"}})
    with pytest.raises(PolicyError, match="members.yaml: source: no file at"):
        load_policies(directory)


def test_policy_column_missing_from_data(tmp_path: Path) -> None:
    directory = _members(tmp_path, {"columns.shoe_size": {"type": "bigint", "role": "dimension"}})
    with pytest.raises(PolicyError, match="columns.shoe_size: the data has no such column"):
        Proxy(directory)


def test_measure_must_be_numeric(tmp_path: Path) -> None:
    city = {"type": "text", "role": "measure", "bounds": [0, 1]}
    with pytest.raises(
        PolicyError, match="columns.city: type: a measure must be numeric, not text"
    ):
        load_policies(_members(tmp_path, {"columns.city": city}))


def test_public_values_must_fit_the_type(tmp_path: Path) -> None:
    age = {"type": "bigint", "role": "dimension", "public_values": ["x"]}
    with pytest.raises(
        PolicyError, match=r"columns.age: public_values: 'x' does not fit the type bigint"
    ):
        load_policies(_members(tmp_path, {"columns.age": age}))


def test_unlisted_data_column_is_hidden(tmp_path: Path) -> None:
    directory = _members(tmp_path, {"columns.gender": None})
    proxy = Proxy(directory)
    try:
        column = proxy.catalog.tables["members"].columns["gender"]
        assert [r.value for r in column.roles] == ["hidden"]
    finally:
        proxy.close()


def test_row_level_tables_cannot_share_a_domain(tmp_path: Path) -> None:
    directory = write_policies(
        tmp_path / "p",
        tables={"purchases": {"privacy_unit": None, "row_level": True, "domain": "member",
                              "columns": {"product": {"type": "text", "role": "dimension"},
                                          "amount": {"type": "double", "role": "measure",
                                                     "bounds": [0, 100]}}}},
    )  # fmt: skip
    with pytest.raises(PolicyError, match="row-level tables cannot share privacy domain 'member'"):
        load_policies(directory)


@pytest.mark.parametrize(
    ("sql_type", "kind"),
    [("BIGINT", "integer"), ("DECIMAL(10,2)", "float"), ("DOUBLE", "float"), ("VARCHAR", "text"),
     ("DATE", "date"), ("TIMESTAMP WITH TIME ZONE", "timestamp"), ("BLOB", "other")],
)  # fmt: skip
def test_type_kind(sql_type: str, kind: str) -> None:
    assert type_kind(sql_type) == kind
