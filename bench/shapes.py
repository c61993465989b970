"""Alternative SQL shapes for contribution bounding, timed directly in DuckDB.

``python -m bench.shapes [--size 10m] [--query sum] [--repeat 3]`` takes the statement
dpproxy's rewrite builds for a benchmark query (its ``explain`` output, salt 0), derives
variants from its CTEs, checks that the semantics-preserving ones return exactly the
same rows, and times each on an in-memory DuckDB with dpproxy's settings (2 threads).

* ``current``: the statement as dpproxy runs it;
* ``fast_path``: units already within both limits (at most R rows and G groups) skip the
  two window functions; only the others are ranked. Same rows kept, same answer;
* ``bigint``: the fixed-point grid values as BIGINT instead of HUGEINT (SUM of BIGINT
  is exact in DuckDB: it accumulates in HUGEINT), where the grid fits in 63 bits;
* ``rows_only``: no group window, only the row window. Private whenever no measurement
  counts units: the plan's sensitivities of row counts and sums are R·C whatever G is
  (k = min(G, R) enters only the units count), so for those queries the group bound costs
  a window sort and adds bias without lowering the noise. For a COUNT, the mean absolute
  difference between the exact bounded counts and the true counts is printed (the bias);
* ``l1_clip``: no window at all, for queries whose measurements are row counts and sums:
  aggregate per (unit, key), then scale each unit's contributions down so that their L1
  total stays within the measurement's sensitivity (R rows; R·max|grid value| for a sum),
  rounding down on the integer grid. Same sensitivity, so the same noise; a hash
  aggregate and a hash join instead of two sorts, and it keeps part of every heavy
  user's contribution instead of discarding all but R rows (less bias);
* ``no_windows``: attribution only (not private): what the two windows cost together.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from typing import Any

import duckdb

from bench import data, policies
from bench.queries import MAX_GROUPS, MAX_ROWS, QUERIES
from bench.systems import load_tables


def split(sql: str) -> tuple[list[tuple[str, str]], str]:
    """dpproxy's statement text -> ([(cte name, body)], final SELECT)."""
    assert sql.startswith("WITH ")
    body, final = sql[len("WITH ") :].rsplit("\n)\n", 1)
    ctes = []
    for chunk in body.split("\n),\n"):
        name, text = chunk.split(" AS (\n  ", 1)
        ctes.append((name.strip(), text))
    return ctes, final


def join(ctes: list[tuple[str, str]], final: str) -> str:
    return "WITH " + ",\n".join(f"{n} AS (\n  {b}\n)" for n, b in ctes) + "\n" + final


def fast_path(sql: str, keys: int) -> str:
    ctes, final = split(sql)
    out: list[tuple[str, str]] = []
    key_list = ", ".join(f"__k{i}" for i in range(keys))
    small = f"__n <= {MAX_ROWS} AND __g <= {MAX_GROUPS}"
    for name, body in ctes:
        if name == "__ranked":
            out.append(
                (
                    "__unit_sizes",
                    f"SELECT __pu, COUNT(*) AS __n, COUNT(DISTINCT ROW({key_list})) AS __g "
                    "FROM __values GROUP BY __pu",
                )
            )
            for part, condition in (("__small", small), ("__large", f"NOT ({small})")):
                out.append(
                    (
                        part,
                        "SELECT __values.* FROM __values JOIN __unit_sizes "
                        f"ON __values.__pu = __unit_sizes.__pu WHERE {condition}",
                    )
                )
            body = body.replace("FROM __values", "FROM __large")
        if name == "__per_unit":
            both = (
                "(SELECT * FROM __small UNION ALL BY NAME "
                "SELECT * EXCLUDE (__group_rank, __row_rank) FROM __bounded)"
            )
            body = body.replace("FROM __bounded", f"FROM {both}")
        out.append((name, body))
    return join(out, final)


def bigint(sql: str) -> str:
    """Grid values as BIGINT; the row-selection hash still sees them as HUGEINT, so the
    same rows are kept and the answer can be compared exactly."""
    ctes, final = split(sql)
    out = []
    for name, body in ctes:
        if name in ("__grid", "__values"):
            body = body.replace("AS HUGEINT)", "AS BIGINT)")
        elif name == "__bounded":
            head, rest = body.split("hash(", 1)
            inside, tail = rest.split(")", 1)
            inside = re.sub(r"(__m\d+)", r"CAST(\1 AS HUGEINT)", inside)
            body = f"{head}hash({inside}){tail}"
        out.append((name, body))
    return join(out, final)


# dpproxy's grid for bounds [0, 100] (plan.Grid.for_bounds): step 2**-10, values 0..102400.
GRID_MAX = 102_400


def l1_clip(sql: str, measured: list[str]) -> str:
    """Per-unit L1 clipping instead of row and group sampling (see the module docstring).

    ``measured`` are the sum measurements (``__m<i>``) of a query on ``amount``."""
    ctes, final = split(sql)
    bound = {"__rows": MAX_ROWS, **{m: MAX_ROWS * GRID_MAX for m in measured}}
    sums = "".join(f", SUM({m}) AS {m}" for m in measured)
    totals = ", ".join(f"SUM(ABS({c})) AS __t{c}" for c in bound)
    clipped = ", ".join(
        f"CASE WHEN t.__t{c} <= {b} THEN p.{c} ELSE (p.{c} * {b}) // t.__t{c} END AS {c}"
        for c, b in bound.items()
    )
    out = []
    for name, body in ctes:
        if name in ("__ranked", "__bounded"):
            continue
        if name == "__per_unit":
            body = f"SELECT __pu, __k0, COUNT(*) AS __rows{sums} FROM __values GROUP BY __pu, __k0"
            out.append((name, body))
            out.append(("__totals", f"SELECT __pu, {totals} FROM __per_unit GROUP BY __pu"))
            out.append(
                (
                    "__clipped",
                    f"SELECT p.__pu, p.__k0, {clipped} FROM __per_unit p "
                    "JOIN __totals t ON p.__pu = t.__pu",
                )
            )
            continue
        if name == "__groups":
            body = body.replace("FROM __per_unit", "FROM __clipped")
        out.append((name, body))
    return join(out, final)


def no_windows(sql: str, rows_only: bool = False) -> str:
    ctes, final = split(sql)
    out = []
    for name, body in ctes:
        if name == "__ranked" or (name == "__bounded" and not rows_only):
            source = "__values" if name == "__ranked" else "__ranked"
            body = f"SELECT * FROM {source}"
        out.append((name, body))
    return join(out, final)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="10m", choices=sorted(data.SIZES))
    parser.add_argument("--query", default="count,sum,avg,distinct,filtered")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import dpproxy

    size = data.SIZES[args.size]
    data.ensure(size)
    session = dpproxy.connect(policies.write(size), policies.analyst(0))
    con = duckdb.connect(":memory:", config={"threads": 2, "memory_limit": "8GB"})
    load_tables(con, size.directory)
    print(f"size {size.name}, load average {os.getloadavg()[0]:.2f}")
    for query in QUERIES:
        if query.name not in args.query.split(","):
            continue
        current = session.explain(query.sql).rewritten_sql
        keys = 1
        variants: dict[str, str] = {
            "current": current,
            "fast_path": fast_path(current, keys),
            "bigint": bigint(current),
            "fast_path+bigint": bigint(fast_path(current, keys)),
            "rows_only": no_windows(current, rows_only=True),
            **(
                {"l1_clip": l1_clip(current, re.findall(r"SUM\((__m\d+)\) AS", current))}
                if query.name in ("count", "sum", "filtered")
                else {}
            ),
            "no_windows (not private)": no_windows(current),
        }
        expected: Any = con.execute(current).fetchall()
        truth = {r[0]: float(r[1]) for r in con.execute(query.sql).fetchall()}
        for name, sql in variants.items():
            rows = con.execute(sql).fetchall()  # warm-up, and the equality check
            same = "same rows" if rows == expected else "different rows"
            if query.public_keys and query.aggregates in (("count",), ("sum",)):
                step = 2.0**-10 if query.aggregates == ("sum",) else 1.0
                errors = [abs(float(r[1]) * step - truth.get(r[0], 0.0)) for r in rows]
                bias = statistics.fmean(errors)
                same += f", mean |bounded - true| {bias:,.0f}"
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                con.execute(sql).fetchall()
                times.append(time.perf_counter() - start)
            print(
                f"{query.name:9} {name:26} {1000 * statistics.median(times):8.0f} ms  {same}"
                f"  (load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
        plain = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            con.execute(query.sql).fetchall()
            plain.append(time.perf_counter() - start)
        print(f"{query.name:9} {'raw aggregate':26} {1000 * statistics.median(plain):8.0f} ms")
    session.close()


if __name__ == "__main__":
    main()
