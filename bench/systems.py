"""The systems under test, each behind ``run(query) -> rows`` on the same DuckDB data.

* ``RawDuckDB``: the plain aggregate on an in-memory DuckDB with the same tables and
  threads as dpproxy's engine: the physical floor.
* ``DPProxy``: ``Session.query`` through the Python API, with per-stage timing.
* ``SmartNoise``: SmartNoise SQL's ``PrivateReader`` running its SQL on the same
  DuckDB through its PostgreSQL reader (see ``_SmartNoiseCursor`` for the one shim).

Rows are ``(key, value, ...)`` tuples; peers' extra header rows are removed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb

from bench import policies
from bench.queries import AGE_BOUNDS, AMOUNT_BOUNDS, DELTA, EPSILON, MAX_ROWS, SPEND_BOUNDS, Query
from bench.stages import StageTimer

TABLES = ("members", "purchases", "products")
Rows = list[tuple[Any, ...]]


def load_tables(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    """The Parquet files as in-memory tables in ``main``, with views in schema ``bench``
    (the peers want schema-qualified names)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS bench")
    for table in TABLES:
        path = str(data_dir / f"{table}.parquet")
        con.execute(f"CREATE TABLE main.{table} AS SELECT * FROM read_parquet(?)", [path])
        con.execute(f"CREATE VIEW bench.{table} AS SELECT * FROM main.{table}")


class RawDuckDB:
    name = "duckdb"

    def __init__(self, data_dir: Path, threads: int = 2) -> None:
        self.con = duckdb.connect(":memory:", config={"threads": threads, "memory_limit": "8GB"})
        load_tables(self.con, data_dir)

    def run(self, query: Query) -> Rows:
        return [tuple(r) for r in self.con.execute(query.sql).fetchall()]

    def close(self) -> None:
        self.con.close()


class DPProxy:
    name = "dpproxy"

    def __init__(self, policy_dir: Path) -> None:
        from dpproxy.proxy import Proxy

        self.proxy = Proxy(policy_dir)
        self.timer = StageTimer(self.proxy)
        self._queries = 0
        self.stages: dict[str, float] = {}

    def run(self, query: Query) -> Rows:
        # Rotate analysts so that no budget runs out during long runs.
        analyst = policies.analyst(self._queries // policies.QUERIES_PER_ANALYST)
        self._queries += 1
        session = self.proxy.session(analyst)
        with self.timer.installed():
            result = session.query(query.sql, epsilon=EPSILON)
        self.stages = self.timer.take()
        return [tuple(r) for r in result.rows]

    def floors(self, query: Query) -> list[tuple[str, float, float]]:
        """(label, sensitivity in output units, epsilon) of each measurement of the plan."""
        session = self.proxy.session(policies.analyst(0))
        explanation = session.explain(query.sql, epsilon=EPSILON)
        return [
            (str(m["measurement"]), float(m["sensitivity"]), float(m["epsilon"]))
            for m in explanation.measurements
        ]

    def close(self) -> None:
        self.proxy.close()


def smartnoise_metadata() -> dict[str, Any]:
    """The bench policies in SmartNoise's metadata format: the same bounds and row limit.

    SmartNoise bounds rows per unit (``max_ids``) but not groups per unit; public keys are
    declared by not censoring dimensions (``censor_dims: false``) on purchases.
    """
    unit = {"type": "int", "private_id": True}
    text = {"type": "string"}
    return {
        "bench": {
            "bench": {
                "purchases": {
                    "max_ids": MAX_ROWS,
                    "row_privacy": False,
                    "sample_max_ids": True,
                    "censor_dims": False,
                    "loyalty_number": unit,
                    "product": text,
                    "amount": {
                        "type": "float",
                        "lower": AMOUNT_BOUNDS[0],
                        "upper": AMOUNT_BOUNDS[1],
                    },
                    "ts": {"type": "datetime"},
                },
                "members": {
                    "max_ids": 1,
                    "row_privacy": False,
                    "sample_max_ids": True,
                    "censor_dims": True,
                    "loyalty_number": unit,
                    "city": text,
                    "marital_status": text,
                    "education": text,
                    "gender": text,
                    "age": {"type": "int", "lower": AGE_BOUNDS[0], "upper": AGE_BOUNDS[1]},
                    "annual_spend": {
                        "type": "float",
                        "lower": SPEND_BOUNDS[0],
                        "upper": SPEND_BOUNDS[1],
                    },
                },
            }
        }
    }


class _SmartNoiseCursor:
    """A DB-API cursor over DuckDB for SmartNoise's PostgreSQL reader.

    The one shim: SmartNoise samples rows per unit with ``ROW_NUMBER() OVER (PARTITION BY
    unit ORDER BY RANDOM())``, which DuckDB 2.0 refuses (a volatile window ORDER BY). The
    random key is materialised as a column of the innermost SELECT instead: the same
    uniform random order, in a form DuckDB accepts.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._cursor = con.cursor()
        self.description: Any = None

    def execute(self, sql: str) -> None:
        if "ORDER BY RANDOM ( )" in sql:
            sql = sql.replace("ORDER BY RANDOM ( )", "ORDER BY __sn_random")
            sql = re.sub(r" FROM (bench\.\w+)", r", RANDOM() AS __sn_random FROM \1", sql, count=1)
        self._cursor.execute(sql)
        self.description = self._cursor.description

    def __iter__(self) -> Any:
        return iter(self._cursor.fetchall())


class _SmartNoiseConnection:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def cursor(self) -> _SmartNoiseCursor:
        return _SmartNoiseCursor(self._con)

    def commit(self) -> None:
        return None

    def rollback(self) -> None:
        return None


class SmartNoise:
    """SmartNoise SQL on the raw connection. SmartNoise charges epsilon per statistic,
    so each query's per-statistic epsilon is set to make its total equal ``EPSILON``."""

    name = "smartnoise"

    def __init__(self, raw: RawDuckDB) -> None:
        self._connection = _SmartNoiseConnection(raw.con)
        self._readers: dict[str, Any] = {}
        self.errors: dict[str, str] = {}

    def _reader(self, query: Query) -> Any:
        import snsql

        if query.name not in self._readers:
            metadata = smartnoise_metadata()
            probe = snsql.from_connection(
                self._connection,
                engine="postgres",
                privacy=snsql.Privacy(epsilon=1.0, delta=DELTA),
                metadata=metadata,
            )
            cost, _ = probe.get_privacy_cost(query.qualified())
            self._readers[query.name] = snsql.from_connection(
                self._connection,
                engine="postgres",
                privacy=snsql.Privacy(epsilon=EPSILON / float(cost), delta=DELTA),
                metadata=metadata,
            )
        return self._readers[query.name]

    def supports(self, query: Query) -> bool:
        if query.name in self.errors:
            return False
        try:
            self._reader(query)
        except Exception as exc:  # noqa: BLE001 - a peer's refusal is recorded, not raised
            self.errors[query.name] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            return False
        return True

    def epsilon_per_statistic(self, query: Query) -> float:
        return float(self._reader(query).privacy.epsilon)

    def mechanisms(self, query: Query) -> list[tuple[str, float]]:
        """(column, Laplace or Gaussian scale) of each noisy column SmartNoise computes."""
        reader = self._reader(query)
        subquery, _ = reader._rewrite(query.qualified())
        result = []
        for symbol, mechanism in zip(
            subquery._select_symbols, reader._get_mechanisms(subquery), strict=True
        ):
            if mechanism is not None:
                result.append((str(symbol.name), float(mechanism.scale)))
        return result

    def run(self, query: Query) -> Rows:
        rows = self._reader(query).execute(query.qualified())
        return [tuple(r) for r in rows[1:]]

    def close(self) -> None:
        return None
