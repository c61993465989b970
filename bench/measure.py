"""Measurements, run in a fresh subprocess per size (``python -m bench.measure TASK ...``).

* ``timing``: every query on raw DuckDB, dpproxy and SmartNoise, interleaved in each
  repetition so that load on the (shared) machine hits all systems alike; medians,
  dpproxy's stages, and the load average beside each query.
* ``memory``: one system per process; the RSS high-water mark is reset before each query
  (``/proc/self/clear_refs``) and read after it, so each query's peak is its own.
* ``accuracy``: repeated releases of every query by dpproxy and SmartNoise, against the
  exact answer from raw DuckDB.

Each task writes one JSON document to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench import data, policies
from bench.queries import QUERIES, Query
from bench.stages import STAGES
from bench.systems import DPProxy, RawDuckDB, Rows, SmartNoise


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _timed(run: Any, query: Query) -> tuple[float, Rows]:
    start = time.perf_counter()
    rows = run(query)
    return time.perf_counter() - start, rows


def timing(size: data.Size, repeat: int, peers: bool) -> dict[str, Any]:
    start = time.perf_counter()
    raw = RawDuckDB(size.directory)
    raw_load = time.perf_counter() - start
    start = time.perf_counter()
    proxy = DPProxy(policies.write(size))
    proxy_load = time.perf_counter() - start
    smartnoise = SmartNoise(raw) if peers else None
    results: dict[str, Any] = {}
    for query in QUERIES:
        systems: list[Any] = [raw, proxy]
        if smartnoise is not None and smartnoise.supports(query):
            systems.append(smartnoise)
        for system in systems:  # warm-up: caches, first-use costs
            system.run(query)
        times: dict[str, list[float]] = {s.name: [] for s in systems}
        stages: dict[str, list[float]] = {s: [] for s in STAGES}
        load_before = _load()
        for _ in range(repeat):
            for system in systems:
                seconds, _rows = _timed(system.run, query)
                times[system.name].append(seconds)
                if system is proxy:
                    for stage, value in proxy.stages.items():
                        stages[stage].append(value)
        results[query.name] = {
            "median_s": {name: statistics.median(v) for name, v in times.items()},
            "all_s": times,
            "stages_median_s": {s: statistics.median(v) for s, v in stages.items() if v},
            "load": [load_before, _load()],
        }
        if smartnoise is not None and query.name in smartnoise.errors:
            results[query.name]["smartnoise_error"] = smartnoise.errors[query.name]
    proxy.close()
    raw.close()
    return {
        "size": size.name,
        "repeat": repeat,
        "load_s": {"duckdb": raw_load, "dpproxy": proxy_load},
        "queries": results,
    }


def _hwm_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory(size: data.Size, system_name: str) -> dict[str, Any]:
    raw = RawDuckDB(size.directory) if system_name in ("duckdb", "smartnoise") else None
    system: Any
    if system_name == "duckdb":
        system = raw
    elif system_name == "smartnoise":
        assert raw is not None
        system = SmartNoise(raw)
    else:
        system = DPProxy(policies.write(size))
    loaded = _rss_mb("VmHWM")
    peaks: dict[str, float] = {}
    for query in QUERIES:
        if isinstance(system, SmartNoise) and not system.supports(query):
            continue
        _hwm_reset()  # one cold run per query: its first-use allocations count too
        system.run(query)
        peaks[query.name] = _rss_mb("VmHWM")
    return {"size": size.name, "system": system_name, "after_load_mb": loaded, "peak_mb": peaks}


def _truth(raw: RawDuckDB, query: Query) -> dict[Any, tuple[float, ...]]:
    return {row[0]: tuple(float(v) for v in row[1:]) for row in raw.run(query)}


def accuracy(size: data.Size, runs: int, peers: bool) -> dict[str, Any]:
    raw = RawDuckDB(size.directory)
    proxy = DPProxy(policies.write(size))
    smartnoise = SmartNoise(raw) if peers else None
    out: dict[str, Any] = {"size": size.name, "runs": runs, "queries": {}}
    for query in QUERIES:
        truth = _truth(raw, query)
        entry: dict[str, Any] = {"truth": {str(k): v for k, v in truth.items()}}
        entry["moments"] = _moments(raw, query)
        entry["dpproxy_floors"] = proxy.floors(query)
        systems: list[Any] = [proxy]
        if smartnoise is not None and smartnoise.supports(query):
            systems.append(smartnoise)
            entry["smartnoise_mechanisms"] = smartnoise.mechanisms(query)
            entry["smartnoise_epsilon_per_statistic"] = smartnoise.epsilon_per_statistic(query)
        elif smartnoise is not None:
            entry["smartnoise_error"] = smartnoise.errors.get(query.name)
        for system in systems:
            releases = []
            for _ in range(runs):
                rows = system.run(query)
                releases.append({str(r[0]): [_number(v) for v in r[1:]] for r in rows})
            entry[system.name] = releases
        entry["load"] = _load()
        out["queries"][query.name] = entry
    proxy.close()
    raw.close()
    return out


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _moments(raw: RawDuckDB, query: Query) -> dict[str, list[float]]:
    """Per key: n, mean and mean squared deviation from the bounds' midpoint of the
    clamped measure (what the mechanisms see), for the noise-floor approximations."""
    if "amount" not in query.sql or query.name == "join":
        return {}
    lo, hi = 0.0, 100.0
    centre = (lo + hi) / 2
    clamped = f"LEAST(GREATEST(amount, {lo}), {hi})"
    where = " WHERE amount >= 10" if query.name == "filtered" else ""
    rows = raw.con.execute(
        f"SELECT product, COUNT(*), AVG({clamped}), AVG(POWER({clamped} - {centre}, 2)) "
        f"FROM purchases{where} GROUP BY product"
    ).fetchall()
    return {str(r[0]): [float(r[1]), float(r[2]), float(r[3])] for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=["timing", "memory", "accuracy"])
    parser.add_argument("--size", required=True, choices=sorted(data.SIZES))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--system", default="dpproxy")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    size = data.SIZES[args.size]
    result: dict[str, Any]
    if args.task == "timing":
        result = timing(size, args.repeat, not args.no_peers)
    elif args.task == "memory":
        result = memory(size, args.system)
    else:
        result = accuracy(size, args.repeat, not args.no_peers)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
