"""Qrlew, run by its own interpreter: ``bench/peers/qrlew/bin/python bench/qrlew_peer.py``.

pyqrlew 0.9.27 requires numpy~=1.24 while dpproxy pins numpy 2, so it cannot share the
project's venv; ``bench.peers`` makes a venv for it from ``bench/qrlew-requirements.txt``.
This script imports nothing from dpproxy (only the query set and its parameters).

Qrlew rewrites SQL into SQL that draws its own noise; the rewritten SQL runs here on
DuckDB 2.0 (same version and threads as the others). Its dataset description is built
from an empty SQLite copy of the schema (pyqrlew reflects schemas through SQLAlchemy),
with the declared bounds, the public key lists and the real table sizes (Qrlew caps a
unit's rows at ``min(max_multiplicity, max_multiplicity_share * size)``).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.queries import (
    AGE_BOUNDS,
    AMOUNT_BOUNDS,
    DELTA,
    EPSILON,
    MAX_GROUPS,
    MAX_ROWS,
    QUERIES,
    SPEND_BOUNDS,
    Query,
)

SCHEMA = """
CREATE TABLE purchases (loyalty_number INTEGER NOT NULL, product TEXT NOT NULL,
  amount REAL NOT NULL, ts TIMESTAMP NOT NULL);
CREATE TABLE members (loyalty_number INTEGER NOT NULL, city TEXT NOT NULL,
  marital_status TEXT NOT NULL, education TEXT NOT NULL, gender TEXT NOT NULL,
  age INTEGER NOT NULL, annual_spend REAL NOT NULL);
"""
PRIVACY_UNIT: list[tuple[str, list[tuple[str, str, str]], str]] = [
    ("purchases", [], "loyalty_number"),
    ("members", [], "loyalty_number"),
]


class Qrlew:
    def __init__(self, data_dir: Path, public: dict[str, list[str]], work: Path) -> None:
        import duckdb

        self.con = duckdb.connect(":memory:", config={"threads": 2, "memory_limit": "8GB"})
        self.con.execute("CREATE SCHEMA bench")
        counts = {}
        for table in ("members", "purchases"):
            path = str(data_dir / f"{table}.parquet")
            self.con.execute(f"CREATE TABLE main.{table} AS SELECT * FROM read_parquet(?)", [path])
            self.con.execute(f"CREATE VIEW bench.{table} AS SELECT * FROM main.{table}")
            row = self.con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
            counts[table] = int(row[0]) if row else 0
        self.dataset = _dataset(work, counts, public)

    def rewrite(self, query: Query) -> str:
        from pyqrlew import Dialect

        relation = self.dataset.relation(query.qualified())
        private = relation.rewrite_with_differential_privacy(
            self.dataset,
            PRIVACY_UNIT,
            {"epsilon": EPSILON, "delta": DELTA},
            max_multiplicity=float(MAX_ROWS),
            max_privacy_unit_groups=MAX_GROUPS,
        )
        return str(private.relation().to_query(Dialect.PostgreSql))

    def run(self, query: Query) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.con.execute(self.rewrite(query)).fetchall()]


def _dataset(work: Path, counts: dict[str, int], public: dict[str, list[str]]) -> Any:
    import pyqrlew
    import sqlalchemy

    work.mkdir(parents=True, exist_ok=True)
    path = work / "schema.sqlite"
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as con:
        con.executescript(SCHEMA)
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    dataset = pyqrlew.Dataset.from_database("bench", engine, None)
    size = json.loads(dataset.size)
    for field in size["statistics"]["union"]["fields"]:
        n = str(counts[field["name"]])
        struct = field["statistics"]["struct"]
        struct["size"] = n
        for column in struct["fields"]:
            for value in column["statistics"].values():
                if isinstance(value, dict):
                    value["size"] = n
    parts = dict(line.split(": ", 1) for line in str(dataset).splitlines() if ": " in line)
    dataset = pyqrlew.Dataset.from_str(parts["Dataset"], dataset.schema, json.dumps(size))
    dataset = dataset.with_range(None, "purchases", "amount", *AMOUNT_BOUNDS)
    dataset = dataset.with_range(None, "members", "age", *AGE_BOUNDS)
    dataset = dataset.with_range(None, "members", "annual_spend", *SPEND_BOUNDS)
    for key, values in public.items():
        table, column = key.split(".")
        dataset = dataset.with_possible_values(None, table, column, values)
    return dataset


def _release(rows: list[tuple[Any, ...]]) -> dict[str, list[float | None]]:
    return {str(r[0]): [None if v is None else float(v) for v in r[1:]] for r in rows}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--public", required=True, help="JSON: {table.column: [values]}")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs", type=int, default=0, help="accuracy releases per query")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    work = Path(args.out).parent / "qrlew-work"
    start = time.perf_counter()
    qrlew = Qrlew(Path(args.data), json.loads(args.public), work)
    out: dict[str, Any] = {"load_s": time.perf_counter() - start, "queries": {}}
    for query in QUERIES:
        entry: dict[str, Any] = {}
        try:
            qrlew.run(query)  # warm-up
        except Exception as exc:  # noqa: BLE001 - a peer's refusal is recorded
            entry["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            out["queries"][query.name] = entry
            continue
        rewrite, total = [], []
        load = round(os.getloadavg()[0], 2)
        for _ in range(args.repeat):
            start = time.perf_counter()
            sql = qrlew.rewrite(query)
            middle = time.perf_counter()
            qrlew.con.execute(sql).fetchall()
            rewrite.append(middle - start)
            total.append(time.perf_counter() - start)
        Path("/proc/self/clear_refs").write_text("5")
        qrlew.run(query)
        entry.update(
            median_s=statistics.median(total),
            all_s=total,
            rewrite_median_s=statistics.median(rewrite),
            peak_mb=_rss_mb(),
            load=[load, round(os.getloadavg()[0], 2)],
        )
        if args.runs:
            entry["releases"] = [_release(qrlew.run(query)) for _ in range(args.runs)]
        out["queries"][query.name] = entry
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
