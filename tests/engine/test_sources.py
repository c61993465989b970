"""Sources read in place: views over Parquet and DuckDB files, the lockdown that still
lets them read, and the data version that follows the files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from dpproxy.engine import DuckDBEngine, EngineSettings
from dpproxy.errors import PolicyError
from dpproxy.policy import load_policies
from dpproxy.proxy import Proxy
from tests.conftest import write_policies
from tests.synthetic import PURCHASES, policies, write_dataset, write_table

MEMBER_ROWS = [(i, "Salem", "Single", "College", "Male", 30 + i % 40, 100.0) for i in range(200)]
COUNT = "SELECT COUNT(*) FROM purchases"


def _purchases(n: int, offset: int = 0) -> list[tuple[Any, ...]]:
    return [(offset + i % 200, "coffee", 2.5, "2024-01-01 10:00:00") for i in range(n)]


def _flat(tmp_path: Path, rows: int = 300) -> Path:
    """Sample policies over Parquet members and purchases."""
    data = write_dataset(tmp_path / "data", MEMBER_ROWS, _purchases(rows))
    return policies(tmp_path / "p", data)


def _folder(tmp_path: Path) -> Path:
    """Purchases as a hive-partitioned folder: year=2023 (100 rows), year=2024 (50)."""
    data = write_dataset(tmp_path / "data", MEMBER_ROWS, [])
    for year, n in ((2023, 100), (2024, 50)):
        (data / "purchases" / f"year={year}").mkdir(parents=True)
        write_table(
            data / "purchases" / f"year={year}" / "part-0.parquet", PURCHASES, _purchases(n)
        )
    directory = policies(tmp_path / "p", data)
    _edit(directory / "purchases.yaml", source={"parquet": f"{data}/purchases/",
          "hive_partitioning": True}, year={"type": "integer", "role": "dimension"})  # fmt: skip
    return directory


def _edit(path: Path, source: dict[str, Any] | None = None, **columns: Any) -> None:
    policy = yaml.safe_load(path.read_text())
    if source is not None:
        policy["source"] = source
    policy["columns"].update(columns)
    path.write_text(yaml.safe_dump(policy, sort_keys=False))


def _engine(directory: Path) -> DuckDBEngine:
    return DuckDBEngine(load_policies(directory))


def test_a_parquet_source_is_a_view_not_a_copy(tmp_path: Path) -> None:
    engine = _engine(_flat(tmp_path))
    try:
        raw = engine.raw_connection_for_tests()
        tables = "SELECT table_name, table_type FROM information_schema.tables"
        kinds = dict(raw.execute(f"{tables} WHERE table_catalog = current_database()").fetchall())
        stored = {
            row[0] for row in raw.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
        assert engine.execute(COUNT) == [(300,)]
    finally:
        engine.close()
    assert kinds["purchases"] == kinds["members"] == "VIEW"
    assert kinds["products"] == "BASE TABLE"  # CSV: checked, then kept in memory
    assert stored == {"products"}  # no copy of any Parquet row


def test_a_hive_partitioned_folder_is_read_with_declared_partition_types(tmp_path: Path) -> None:
    directory = _folder(tmp_path)
    engine = _engine(directory)
    try:
        assert engine.schema["purchases"]["year"] == "INTEGER"
        assert engine.schema["purchases"]["amount"] == "DOUBLE"
        by_year = "SELECT year, COUNT(*) FROM purchases GROUP BY year ORDER BY year"
        assert engine.execute(by_year) == [(2023, 100), (2024, 50)]
        before = engine.data_version
        assert engine.data_version == before  # stable while nothing changes
        folder = tmp_path / "data" / "purchases" / "year=2025"
        folder.mkdir()
        write_table(folder / "part-0.parquet", PURCHASES, _purchases(7))  # added after start
        assert engine.data_version != before
        assert engine.execute(by_year)[-1] == (2025, 7)
    finally:
        engine.close()


def test_a_partition_value_that_does_not_fit_its_declared_type_is_refused(tmp_path: Path) -> None:
    directory = _folder(tmp_path)
    folder = tmp_path / "data" / "purchases" / "year=20x4"
    folder.mkdir()
    write_table(folder / "part-0.parquet", PURCHASES, _purchases(1))
    with pytest.raises(PolicyError, match=r"purchases/year=20x4/part-0.parquet: partition year: "
                       r"'20x4' is not a valid INTEGER"):  # fmt: skip
        _engine(directory)


def test_files_of_one_folder_must_agree_on_types(tmp_path: Path) -> None:
    directory = _folder(tmp_path)
    odd = tmp_path / "data" / "purchases" / "year=2024" / "part-1.parquet"
    write_table(odd, {**PURCHASES, "amount": "FLOAT"}, _purchases(1))  # DuckDB would cast it
    with pytest.raises(
        PolicyError,
        match=r"purchases/year=2024/part-1.parquet: column amount: "
        "the file has type FLOAT, purchases/year=2024/part-0.parquet has DOUBLE",
    ):
        _engine(directory)  # fmt: skip


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"parquet": "purchases.parquet", "hive_partitioning": True}, "needs a folder"),
        ({"parquet": "purchases/*.parquet"}, "globs are not supported"),
        ({"delta": "purchases/"}, "Delta tables are not supported"),
    ],
)
def test_unsupported_source_forms_are_policy_errors(
    tmp_path: Path, source: dict[str, Any], message: str
) -> None:
    directory = _flat(tmp_path)
    _edit(directory / "purchases.yaml", source=source)
    with pytest.raises(PolicyError, match=f"purchases.yaml: source.*{message}"):
        load_policies(directory)


def test_the_lockdown_still_refuses_every_other_path(tmp_path: Path) -> None:
    directory = _folder(tmp_path)
    outside = write_table(tmp_path / "data" / "other.parquet", PURCHASES, _purchases(1))
    engine = _engine(directory)
    folder = tmp_path / "data" / "purchases"
    refused = [
        f"SELECT * FROM read_parquet('{outside}')",  # beside the sources
        f"SELECT * FROM read_parquet('{tmp_path / 'data' / 'products.csv'}')",  # CSV: loaded
        f"SELECT * FROM read_csv('{tmp_path / 'data' / 'products.csv'}')",
        f"SELECT * FROM read_parquet('{folder}/../other.parquet')",
        f"SELECT * FROM read_parquet('{folder}x/a.parquet')",  # a prefix, not the folder
        f"COPY (SELECT 1) TO '{tmp_path / 'data' / 'members.parquet'}'",  # over a source file
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        f"ATTACH '{tmp_path / 'new.db'}' AS other",
        f"SET allowed_directories = ['{tmp_path}/']",
        "SET enable_external_access = true",
    ]
    try:
        raw = engine.raw_connection_for_tests()
        assert engine.execute(COUNT) == [(150,)]  # the views still read
        assert engine.execute("SELECT COUNT(*) FROM members") == [(200,)]
        for sql in refused:
            with pytest.raises(duckdb.Error):
                raw.execute(sql)
    finally:
        engine.close()


def test_a_duckdb_file_is_attached_in_place_and_a_changed_file_is_refused(
    tmp_path: Path,
) -> None:
    shop = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(shop))
    con.execute("CREATE TABLE raw AS SELECT range AS loyalty_number, 'coffee' AS product, "
                "2.5::DOUBLE AS amount, TIMESTAMP '2024-01-01' AS ts FROM range(40)")  # fmt: skip
    con.close()
    source = {"duckdb": str(shop), "table": "raw"}
    directory = write_policies(tmp_path / "p", tables={"purchases": {"source": source}})
    engine = _engine(directory)
    try:
        raw = engine.raw_connection_for_tests()
        stored = raw.execute("SELECT database_name, table_name FROM duckdb_tables()").fetchall()
        assert ("memory", "purchases") not in stored
        assert engine.execute(COUNT) == [(40,)]
        version = engine.data_version
        os.utime(shop, ns=(1, 1))  # as a copy over it would
        with pytest.raises(PolicyError, match="shop.duckdb: the DuckDB file of table purchases "
                           "changed since dpproxy started"):  # fmt: skip
            assert engine.data_version != version
    finally:
        engine.close()


def test_a_rewritten_file_is_a_new_data_version_and_no_cached_answer_is_replayed(
    tmp_path: Path,
) -> None:
    directory = _flat(tmp_path)
    proxy = Proxy(directory)
    try:
        session = proxy.session("alice")
        first = session.query(COUNT, epsilon=40.0)
        assert session.query(COUNT, epsilon=40.0).cache_hit  # unchanged data: replayed
        version = proxy.engine.data_version
        write_table(tmp_path / "data" / "purchases.parquet", PURCHASES, _purchases(900))
        assert proxy.engine.data_version != version
        again = session.query(COUNT, epsilon=40.0)
    finally:
        proxy.close()
    assert not first.cache_hit and not again.cache_hit
    assert again.epsilon == 40.0  # a new answer, charged
    assert abs(again.rows[0][0] - 900) < 60  # over the new file (noise scale about 1)


def test_a_type_change_after_start_fails_closed_before_any_charge(tmp_path: Path) -> None:
    directory = _flat(tmp_path)
    proxy = Proxy(directory)
    try:
        session = proxy.session("alice")
        session.query(COUNT, epsilon=1.0)
        spent = proxy.budget_lines("alice")
        changed = {**PURCHASES, "amount": "VARCHAR"}
        write_table(tmp_path / "data" / "purchases.parquet", changed, [(1, "tea", "2.5", None)])
        for _ in range(2):  # refused on every query until the file matches again
            with pytest.raises(PolicyError) as error:
                session.query("SELECT SUM(amount) FROM purchases", epsilon=1.0)
            assert str(error.value) == (
                "purchases.parquet: column amount: the file has type VARCHAR, the policy "
                "declares double (DOUBLE), and only a lossless widening is cast"
            )
        assert proxy.budget_lines("alice") == spent
        write_table(tmp_path / "data" / "purchases.parquet", PURCHASES, _purchases(10))
        assert session.query(COUNT, epsilon=1.0).epsilon == 1.0
    finally:
        proxy.close()


def test_a_query_larger_than_the_memory_limit_spills_after_lockdown(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    settings = EngineSettings(threads=1, memory_limit="64MB", temp_directory=spill)
    engine = DuckDBEngine(load_policies(_flat(tmp_path)), settings)
    try:
        assert engine.setting("enable_external_access") is False
        distinct = "SELECT COUNT(*) FROM (SELECT DISTINCT range FROM range(6000000))"
        assert engine.execute(distinct) == [(6_000_000,)]  # a hash table over 64MB
        assert engine.setting("temp_directory") == str(spill)
    finally:
        engine.close()


def test_without_the_cache_a_type_change_still_never_runs(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", MEMBER_ROWS, _purchases(300))
    proxy = Proxy(policies(tmp_path / "p", data, config={"cache": False}))
    try:
        session = proxy.session("alice")
        total = "SELECT SUM(amount) FROM purchases"
        assert session.query(total, epsilon=1.0).rows  # the guard folds away
        changed = {**PURCHASES, "amount": "VARCHAR"}  # '2.5' would cast to 2.5 silently
        write_table(data / "purchases.parquet", changed, [(1, "tea", "2.5", None)] * 50)
        spent = proxy.budget_lines("alice")
        with pytest.raises(PolicyError, match="the file has type VARCHAR"):
            session.query(total, epsilon=1.0)  # refused before the charge, cache or not
        assert proxy.budget_lines("alice") == spent
    finally:
        proxy.close()
