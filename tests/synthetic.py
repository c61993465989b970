"""Small synthetic datasets with the sample schema, written as Parquet to a tmp dir.

The attack corpus, the property tests and the statistical privacy tests run the whole
pipeline hundreds of times; on a few hundred rows each run costs milliseconds. Parquet
keeps exact types, including NaN and infinite doubles. ``policies`` points copies of the
sample policies at such a dataset: their declared types (BIGINT, VARCHAR, DOUBLE,
TIMESTAMP) match ``MEMBERS`` and ``PURCHASES``; a file whose types differ needs column
overrides without ``type:`` (the file's types are then kept) or with matching types.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from tests.conftest import SAMPLE, write_policies

Row = tuple[Any, ...]

MEMBERS = {
    "loyalty_number": "BIGINT",
    "city": "VARCHAR",
    "marital_status": "VARCHAR",
    "education": "VARCHAR",
    "gender": "VARCHAR",
    "age": "BIGINT",
    "annual_spend": "DOUBLE",
}
PURCHASES = {
    "loyalty_number": "BIGINT",
    "product": "VARCHAR",
    "amount": "DOUBLE",
    "ts": "TIMESTAMP",
}


def write_table(path: Path, columns: dict[str, str], rows: Iterable[Row]) -> Path:
    """One Parquet file with exactly these column types."""
    con = duckdb.connect()
    try:
        spec = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
        con.execute(f"CREATE TABLE t ({spec})")
        marks = ", ".join("?" for _ in columns)
        batch = list(rows)
        if batch:
            con.executemany(f"INSERT INTO t VALUES ({marks})", batch)
        con.execute("COPY t TO ? (FORMAT parquet)", [str(path)])
    finally:
        con.close()
    return path


def write_dataset(
    directory: Path,
    members: Sequence[Row],
    purchases: Sequence[Row],
    *,
    member_columns: dict[str, str] = MEMBERS,
    purchase_columns: dict[str, str] = PURCHASES,
) -> Path:
    """members.parquet, purchases.parquet and the public products.csv in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    write_table(directory / "members.parquet", member_columns, members)
    write_table(directory / "purchases.parquet", purchase_columns, purchases)
    shutil.copy(SAMPLE / "products.csv", directory / "products.csv")
    return directory


def policies(
    directory: Path,
    data: Path,
    config: dict[str, Any] | None = None,
    tables: dict[str, dict[str, Any] | None] | None = None,
) -> Path:
    """Copies of the sample policies reading ``data`` (Parquet members and purchases)."""
    overrides: dict[str, dict[str, Any] | None] = {
        "members": {"source": {"parquet": "members.parquet"}},
        "purchases": {"source": {"parquet": "purchases.parquet"}},
    }
    for name, override in (tables or {}).items():
        base = overrides.get(name)
        if override is None:
            overrides[name] = None
        elif base is None:
            overrides[name] = dict(override)
        else:
            overrides[name] = {**base, **override}
    return write_policies(directory, config=config, tables=overrides, data=data)
