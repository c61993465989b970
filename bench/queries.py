"""The fixed query set of the benchmark (issue 6), the same for every system.

Each query has one group key and one or two aggregates. ``sql`` is what the analyst
sends to dpproxy and, unchanged, the plain aggregate run on raw DuckDB (the physical
floor). Peers need their table names qualified with a schema (``bench.``).
"""

from __future__ import annotations

from dataclasses import dataclass

# The privacy parameters every system gets (policies, SmartNoise metadata, Qrlew options).
EPSILON = 1.0  # total epsilon of every benchmark query
DELTA = 1e-7  # per query that discovers its keys (partition selection)
MAX_ROWS = 20  # purchases a member contributes to one answer
MAX_GROUPS = 6  # groups a member contributes to
AMOUNT_BOUNDS = (0.0, 100.0)
SPEND_BOUNDS = (0.0, 20_000.0)
AGE_BOUNDS = (18.0, 100.0)


@dataclass(frozen=True)
class Query:
    name: str
    title: str
    sql: str
    aggregates: tuple[str, ...]  # count, sum, avg, stddev, count_distinct, per output column
    public_keys: bool

    def qualified(self, schema: str = "bench") -> str:
        """The SQL with table names prefixed by ``schema`` (for the peers)."""
        text = self.sql
        for table in ("purchases", "members"):
            text = text.replace(f"FROM {table}", f"FROM {schema}.{table}")
            text = text.replace(f"JOIN {table}", f"JOIN {schema}.{table}")
        return text


QUERIES: tuple[Query, ...] = (
    Query(
        "count",
        "COUNT by public key",
        "SELECT product, COUNT(*) AS n FROM purchases GROUP BY product",
        ("count",),
        True,
    ),
    Query(
        "sum",
        "SUM by public key",
        "SELECT product, SUM(amount) AS total FROM purchases GROUP BY product",
        ("sum",),
        True,
    ),
    Query(
        "avg",
        "AVG by public key",
        "SELECT product, AVG(amount) AS mean FROM purchases GROUP BY product",
        ("avg",),
        True,
    ),
    Query(
        "stddev",
        "STDDEV by public key",
        "SELECT product, STDDEV(amount) AS sd FROM purchases GROUP BY product",
        ("stddev",),
        True,
    ),
    Query(
        "partition",
        "COUNT by non-public key (partition selection)",
        "SELECT city, COUNT(*) AS n FROM members GROUP BY city",
        ("count",),
        False,
    ),
    Query(
        "join",
        "members JOIN purchases, by non-public key",
        "SELECT m.city, COUNT(*) AS n, SUM(p.amount) AS total FROM purchases p "
        "JOIN members m ON p.loyalty_number = m.loyalty_number GROUP BY m.city",
        ("count", "sum"),
        False,
    ),
    Query(
        "distinct",
        "COUNT(DISTINCT unit) by public key",
        "SELECT product, COUNT(DISTINCT loyalty_number) AS buyers FROM purchases GROUP BY product",
        ("count_distinct",),
        True,
    ),
    Query(
        "filtered",
        "filtered SUM by public key",
        "SELECT product, SUM(amount) AS total FROM purchases WHERE amount >= 10 GROUP BY product",
        ("sum",),
        True,
    ),
)

# The "small query" of the throughput test and the "typical grouped query" of the
# 5 ms overhead target.
TYPICAL = "count"
SMALL_SQL = "SELECT education, COUNT(*) AS n FROM members GROUP BY education"
