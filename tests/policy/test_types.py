"""Column types come from the policy, never from the values.

DuckDB's CSV sniffer would type members.age DOUBLE because one member's age is 45.5,
and the type is visible for free (Describe, explain, \\d). A CSV column must declare its
type; a value that does not fit is a load error naming the file, the line and the column.
Parquet and DuckDB files have their own schema, which a declared type must match.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from dpproxy.engine import DuckDBEngine
from dpproxy.errors import PolicyError
from dpproxy.policy import load_policies
from dpproxy.policy.catalog import Catalog
from dpproxy.policy.model import ColumnType
from tests.conftest import ROOT, SAMPLE, write_policies
from tests.synthetic import MEMBERS, write_dataset
from tests.synthetic import policies as parquet_policies

EVENTS = {
    "id": "bigint",
    "code": "text",
    "day": "date",
    "at": "timestamp",
    "flag": "boolean",
    "score": "double",
    "small": "smallint",
}
GOOD = {
    "id": "1",
    "code": "007",
    "day": "2024-01-31",
    "at": "2024-01-31 23:59:59",
    "flag": "true",
    "score": "2.5",
    "small": "12",
}


def _schema(directory: Path) -> dict[str, dict[str, str]]:
    engine = DuckDBEngine(load_policies(directory))
    try:
        return {t: dict(c) for t, c in engine.schema.items()}
    finally:
        engine.close()


def _events(tmp_path: Path, rows: list[dict[str, str]], types: dict[str, Any] = EVENTS) -> Path:
    """The sample products plus a public CSV table ``events`` with these rows."""
    directory = write_policies(tmp_path / "p", tables={"members": None, "purchases": None})
    data = tmp_path / "events.csv"
    with data.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(EVENTS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    columns = {
        name: {"role": "dimension"} | ({"type": kind} if kind is not None else {})
        for name, kind in types.items()
    }
    policy = {"table": "events", "source": {"csv": str(data)}, "public": True, "columns": columns}
    (directory / "events.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    return directory


def _members_csv(tmp_path: Path, line: int, column: str, value: str) -> Path:
    """The sample members with one value changed (``line`` counts the header as 1)."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("purchases.csv", "products.csv"):
        (data / name).write_bytes((SAMPLE / name).read_bytes())
    with (SAMPLE / "members.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    rows[line - 2][column] = value
    with (data / "members.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return write_policies(tmp_path / "p", data=data)


def test_a_fractional_age_is_a_load_error_not_a_double_column(tmp_path: Path) -> None:
    directory = _members_csv(tmp_path, 13, "age", "45.5")
    with pytest.raises(PolicyError) as error:
        _schema(directory)
    assert str(error.value) == (
        "members.csv: line 13, column age: '45.5' is not a valid BIGINT "
        "(the policy declares type bigint)"
    )


def test_the_first_bad_row_is_reported(tmp_path: Path) -> None:
    rows = [GOOD, {**GOOD, "score": "high"}, {**GOOD, "id": "x"}]
    with pytest.raises(PolicyError, match=r"events.csv: line 3, column score: 'high' is not"):
        _schema(_events(tmp_path, rows))


@pytest.mark.parametrize(
    ("column", "value", "sql"),
    [
        ("day", "2024-02-30", "DATE"),
        ("day", "2024-01-31 12:00:00", "DATE"),  # DuckDB would drop the time
        ("day", "31/01/2024", "DATE"),
        ("at", "2024-01-31 25:00:00", "TIMESTAMP"),
        ("at", "2024-01-31 12:00:00+02", "TIMESTAMP"),  # DuckDB would drop the offset
        ("at", "yesterday", "TIMESTAMP"),
        ("flag", "yes", "BOOLEAN"),
        ("flag", "2", "BOOLEAN"),
        ("id", "1e3", "BIGINT"),  # DuckDB would read 1000
        ("id", "0x10", "BIGINT"),
        ("id", "99999999999999999999", "BIGINT"),
        ("small", "40000", "SMALLINT"),
        ("score", "1e400", "DOUBLE"),  # an overflow, not an infinity
        ("score", "1,5", "DOUBLE"),
    ],
)
def test_a_value_that_does_not_fit_names_file_line_and_column(
    tmp_path: Path, column: str, value: str, sql: str
) -> None:
    rows = [GOOD, GOOD, {**GOOD, column: value}]
    with pytest.raises(PolicyError) as error:
        _schema(_events(tmp_path, rows))
    assert str(error.value).startswith(
        f"events.csv: line 4, column {column}: {value!r} is not a valid {sql}"
    )


def test_typed_csv_values_load_with_their_declared_types(tmp_path: Path) -> None:
    rows = [
        GOOD,
        {**GOOD, "score": "nan", "flag": "F", "at": "2024-01-31T08:00:00.5", "id": " -4 "},
        {**GOOD, "score": "-Infinity", "at": "2024-02-01", "code": "", "day": ""},
    ]
    directory = _events(tmp_path, rows)
    assert _schema(directory)["events"] == {
        "id": "BIGINT",
        "code": "VARCHAR",
        "day": "DATE",
        "at": "TIMESTAMP",
        "flag": "BOOLEAN",
        "score": "DOUBLE",
        "small": "SMALLINT",
    }
    engine = DuckDBEngine(load_policies(directory))
    try:
        raw = engine.raw_connection_for_tests()
        sql = 'SELECT id, code, day IS NULL, flag, CAST("at" AS VARCHAR) FROM events ORDER BY rowid'
        got = raw.execute(sql).fetchall()
    finally:
        engine.close()
    assert got == [
        (1, "007", False, True, "2024-01-31 23:59:59"),
        (-4, "007", False, False, "2024-01-31 08:00:00.5"),
        (1, None, True, True, "2024-02-01 00:00:00"),  # empty fields are NULL
    ]


def test_a_declared_text_column_of_digits_stays_text(tmp_path: Path) -> None:
    rows = [{**GOOD, "code": str(i)} for i in range(20)]
    schema = _schema(_events(tmp_path, rows))
    assert schema["events"]["code"] == "VARCHAR"


def test_the_catalog_type_is_the_declared_one(tmp_path: Path) -> None:
    rows = [{**GOOD, "score": str(i)} for i in range(20)]  # would sniff as BIGINT
    directory = _events(tmp_path, rows)
    policies = load_policies(directory)
    engine = DuckDBEngine(policies)
    try:
        catalog = Catalog.build(policies, engine.schema)
    finally:
        engine.close()
    assert catalog.tables["events"].columns["score"].sql_type == "DOUBLE"
    assert catalog.tables["events"].columns["code"].sql_type == "VARCHAR"


def test_a_csv_column_the_policy_leaves_out_stays_text_and_hidden(tmp_path: Path) -> None:
    directory = write_policies(tmp_path / "p")
    path = directory / "members.yaml"
    policy = yaml.safe_load(path.read_text())
    del policy["columns"]["age"]
    path.write_text(yaml.safe_dump(policy))
    assert _schema(directory)["members"]["age"] == "VARCHAR"


def test_a_csv_column_without_a_type_is_a_policy_error(tmp_path: Path) -> None:
    types: dict[str, Any] = {**EVENTS, "day": None}
    with pytest.raises(PolicyError) as error:
        load_policies(_events(tmp_path, [GOOD], types))
    assert str(error.value) == (
        "events.yaml: columns.day.type: required for a CSV source "
        "(DuckDB would infer the type from the values)"
    )


def test_type_names_are_a_closed_set_in_any_case(tmp_path: Path) -> None:
    upper = {name: kind.upper() for name, kind in EVENTS.items()}
    assert _schema(_events(tmp_path / "a", [GOOD], upper))["events"]["id"] == "BIGINT"
    with pytest.raises(PolicyError, match=r"events.yaml: columns.id.type: Input should be"):
        load_policies(_events(tmp_path / "b", [GOOD], {**EVENTS, "id": "int"}))


def test_every_type_name_maps_to_a_duckdb_type() -> None:
    con = duckdb.connect()
    try:
        for declared in ColumnType:
            con.execute(f"CREATE OR REPLACE TABLE t (x {declared.sql})")
            got = con.execute("SELECT data_type FROM information_schema.columns").fetchone()
            assert got == (declared.sql,)
    finally:
        con.close()


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ({"type": "text", "role": "measure", "bounds": [0, 1]}, "a measure must be numeric"),
        ({"type": "date", "role": "dimension", "public_values": ["2024-13-01"]},
         "public_values: '2024-13-01' does not fit the type date"),
        ({"type": "smallint", "role": "dimension", "public_values": [1, 40000]},
         "public_values: 40000 does not fit the type smallint"),
        ({"type": "boolean", "role": "dimension", "public_values": ["true"]},
         "public_values: 'true' does not fit the type boolean"),
    ],
)  # fmt: skip
def test_declared_types_constrain_roles_and_public_values(
    tmp_path: Path, column: dict[str, Any], message: str
) -> None:
    directory = _events(tmp_path, [GOOD])
    path = directory / "events.yaml"
    policy = yaml.safe_load(path.read_text())
    policy["columns"]["day"] = column
    path.write_text(yaml.safe_dump(policy))
    with pytest.raises(PolicyError, match=f"events.yaml: columns.day: .*{message}"):
        load_policies(directory)


def _parquet(tmp_path: Path, **types: str) -> Path:
    data = write_dataset(tmp_path / "data", [(1, "Salem", "Single", "College", "Male", 30, 1.5)],
                         [], member_columns={**MEMBERS, **types})  # fmt: skip
    return data


def test_a_parquet_type_that_differs_from_the_declared_one_is_an_error(tmp_path: Path) -> None:
    directory = parquet_policies(tmp_path / "p", _parquet(tmp_path, age="DOUBLE"))
    with pytest.raises(PolicyError) as error:
        _schema(directory)
    assert str(error.value) == (
        "members.parquet: column age: the file has type DOUBLE, the policy declares "
        "bigint (BIGINT), and only a lossless widening is cast"
    )


def test_a_lossless_parquet_widening_is_cast(tmp_path: Path) -> None:
    data = _parquet(tmp_path, age="SMALLINT", loyalty_number="INTEGER", annual_spend="FLOAT")
    schema = _schema(parquet_policies(tmp_path / "p", data))
    assert (schema["members"]["age"], schema["members"]["loyalty_number"]) == ("BIGINT", "BIGINT")
    assert schema["members"]["annual_spend"] == "DOUBLE"


def test_a_parquet_file_without_declared_types_keeps_its_own(tmp_path: Path) -> None:
    sample = yaml.safe_load((ROOT / "policies" / "members.yaml").read_text())
    untyped = {
        name: {k: v for k, v in column.items() if k != "type"}
        for name, column in sample["columns"].items()
    }
    data = _parquet(tmp_path, age="INTEGER", annual_spend="DECIMAL(10,2)")
    directory = parquet_policies(tmp_path / "p", data, tables={"members": {"columns": untyped}})
    schema = _schema(directory)
    assert schema["members"]["age"] == "INTEGER"
    assert schema["members"]["annual_spend"] == "DECIMAL(10,2)"


def test_a_duckdb_source_is_checked_like_parquet(tmp_path: Path) -> None:
    shop = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(shop))
    try:
        con.execute(
            "CREATE TABLE members_raw AS SELECT 1::BIGINT AS loyalty_number, 'Salem' AS city, "
            "'Single' AS marital_status, 'College' AS education, 'Male' AS gender, "
            "30.5::DOUBLE AS age, 1.5::DOUBLE AS annual_spend"
        )
    finally:
        con.close()
    source = {"duckdb": str(shop), "table": "members_raw"}
    directory = write_policies(tmp_path / "p", tables={"members": {"source": source}})
    with pytest.raises(PolicyError, match=r"shop.duckdb \(table members_raw\): column age: the "
                       "file has type DOUBLE, the policy declares bigint"):  # fmt: skip
        _schema(directory)


def test_policy_check_reports_the_load_error(tmp_path: Path) -> None:
    directory = _members_csv(tmp_path, 13, "age", "45.5")
    done = subprocess.run([sys.executable, "-m", "dpproxy.cli", "policy", "check",
                           str(directory)], capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert done.returncode == 1
    assert "members.csv: line 13, column age: '45.5' is not a valid BIGINT" in done.stderr
    assert done.stdout == ""


def test_the_sample_schema_is_the_declared_one() -> None:
    schema = _schema(ROOT / "policies")
    assert set(schema) == {"members", "purchases", "products"}  # no staging table is left
    policies = load_policies(ROOT / "policies")
    for table, policy in policies.tables.items():
        for name, column in policy.columns.items():
            assert column.type is not None
            assert schema[table][name] == column.type.sql
