"""Larger than memory: DP queries over a Parquet folder several times the engine's memory.

``python -m bench --larger-than-memory`` (or ``python -m bench.larger``) writes a
purchases-like Parquet folder of about ``--gb`` gigabytes into ``bench/data/larger/``
(deterministic: every value is a hash of the row number, written by DuckDB's COPY, one
file per 10M rows; reused while its manifest matches), then, in a fresh process so the
memory figure is dpproxy's alone, answers a few DP queries through ``Proxy`` with
``engine_memory_limit`` 2GB. It reports each query's time, the process's peak RSS
(``resource.getrusage``) and the peak size of DuckDB's spill directory, to
``bench/results/larger.{json,md}``.

The ``receipt`` column (an md5 text, hidden) makes the rows wide, as real purchase rows
are; the queries read only the columns they name, which Parquet allows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import yaml

from bench.data import DATA_DIR

RESULTS = Path(__file__).parent / "results"
OUT = DATA_DIR / "larger"
ROWS_PER_FILE = 10_000_000  # about 0.47 GB of Parquet
BYTES_PER_ROW = 47.4  # measured: 10M rows wrote 474 MB
UNITS = 2_000_000
MEMORY_LIMIT = "2GB"
PRODUCTS = ("apples", "bread", "cheese", "coffee", "eggs", "milk", "rice", "tea", "wine", "yogurt")
QUERIES = {
    "count_by_product": "SELECT product, COUNT(*) FROM purchases GROUP BY product",
    "sum_amount": "SELECT SUM(amount) FROM purchases",
    "distinct_units_by_product": (
        "SELECT product, COUNT(DISTINCT loyalty_number) FROM purchases GROUP BY product"
    ),
}
GENERATOR_VERSION = 1

_ROWS = f"""SELECT
  (hash(i) % {UNITS})::BIGINT AS loyalty_number,
  ({list(PRODUCTS)})[1 + (hash(i + 1) % {len(PRODUCTS)})::INTEGER] AS product,
  round((hash(i + 2) % 10000) / 100.0, 2)::DOUBLE AS amount,
  TIMESTAMP '2024-01-01' + to_seconds((hash(i + 3) % 31536000)::BIGINT) AS ts,
  md5(i::VARCHAR) AS receipt
FROM range($start, $stop) r(i)"""


def generate(gb: float) -> dict[str, Any]:
    """Write (or reuse) the folder; return its manifest."""
    files = max(1, round(gb * 1e9 / (BYTES_PER_ROW * ROWS_PER_FILE)))
    folder = OUT / "purchases"
    manifest_path = OUT / "manifest.json"
    wanted = {"generator": GENERATOR_VERSION, "files": files, "rows_per_file": ROWS_PER_FILE}
    if manifest_path.exists():
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        if {k: manifest.get(k) for k in wanted} == wanted:
            return manifest
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.parquet"):
        stale.unlink()
    started = time.monotonic()
    con = duckdb.connect(config={"threads": 2, "memory_limit": MEMORY_LIMIT})
    try:
        for n in range(files):
            sql = _ROWS.replace("$start", str(n * ROWS_PER_FILE))
            sql = sql.replace("$stop", str((n + 1) * ROWS_PER_FILE))
            con.execute(
                f"COPY ({sql}) TO ? (FORMAT parquet)", [str(folder / f"part-{n:03d}.parquet")]
            )
            print(f"[bench] larger: wrote file {n + 1}/{files}", flush=True)
    finally:
        con.close()
    size = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    manifest = {**wanted, "rows": files * ROWS_PER_FILE, "bytes": size,
                "generate_seconds": round(time.monotonic() - started, 1)}  # fmt: skip
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


def write_policies() -> Path:
    out = OUT / "policies"
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "analysts": {"bench": {"budget": {"epsilon": 1000.0, "delta": 0.5}}},
        "queries": {"default_epsilon": 1.0, "max_epsilon": 10.0, "timeout_seconds": 7200},
        "state": "../state",
        "cache": False,
        "engine_threads": 2,
        "engine_memory_limit": MEMORY_LIMIT,
    }
    purchases = {
        "table": "purchases",
        "source": {"parquet": "../purchases/"},
        "privacy_unit": "loyalty_number",
        "domain": "member",
        "max_rows_per_unit": 20,
        "max_groups_per_unit": 6,
        "columns": {
            "loyalty_number": {"type": "bigint", "role": "privacy_unit"},
            "product": {"type": "text", "role": "dimension", "public_values": list(PRODUCTS)},
            "amount": {"type": "double", "role": "measure", "bounds": [0, 100]},
            "ts": {"type": "timestamp", "role": "dimension"},
        },
    }
    (out / "dpproxy.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (out / "purchases.yaml").write_text(yaml.safe_dump(purchases, sort_keys=False))
    return out


def run_queries(policies: Path, out: Path) -> None:
    """In this (fresh) process: start dpproxy, answer each query once, record figures."""
    from dpproxy.proxy import Proxy

    started = time.monotonic()
    proxy = Proxy(policies)
    spill = _SpillWatch(proxy.state_dir / "duckdb_tmp")
    results: dict[str, Any] = {"start_seconds": round(time.monotonic() - started, 3)}
    try:
        session = proxy.session("bench")
        for name, sql in QUERIES.items():
            began = time.monotonic()
            result = session.query(sql, epsilon=1.0)
            seconds = time.monotonic() - began
            results[name] = {"seconds": round(seconds, 1), "rows": len(result.rows)}
            print(f"[bench] larger: {name}: {seconds:.1f} s", flush=True)
    finally:
        spill.stop()
        proxy.close()
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    results["peak_spill_mb"] = round(spill.peak / 2**20)
    out.write_text(json.dumps(results, indent=1))


class _SpillWatch:
    """The peak size of DuckDB's temp (spill) directory, sampled every half second."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.5):
            total = 0
            for root, _, names in os.walk(self.directory):
                for name in names:
                    with contextlib.suppress(OSError):  # removed while we looked
                        total += os.stat(os.path.join(root, name)).st_size
            self.peak = max(self.peak, total)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def main(gb: float = 10.0, results_dir: Path = RESULTS) -> dict[str, Any]:
    manifest = generate(gb)
    policies = write_policies()
    raw = OUT / "queries.json"
    command = [sys.executable, "-m", "bench.larger", "--queries-only", str(policies), str(raw)]
    subprocess.run(command, check=True)
    figures = {"data": manifest, "memory_limit": MEMORY_LIMIT, **json.loads(raw.read_text())}
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "larger.json").write_text(json.dumps(figures, indent=1))
    (results_dir / "larger.md").write_text(_markdown(figures))
    print(f"[bench] wrote {results_dir / 'larger.md'}")
    return figures


def _markdown(figures: dict[str, Any]) -> str:
    data = figures["data"]
    lines = [
        "# Larger than memory",
        "",
        f"{data['bytes'] / 1e9:.1f} GB of Parquet ({data['rows']:,} rows, {data['files']} files) "
        f"read in place with engine_memory_limit {figures['memory_limit']}, 2 threads.",
        "",
        "| query | seconds |",
        "|---|---:|",
        *(f"| `{QUERIES[name]}` | {figures[name]['seconds']} |" for name in QUERIES),
        "",
        f"Start-up (policies, views, lockdown): {figures['start_seconds']} s. "
        f"Peak RSS of the process: {figures['peak_rss_mb']} MB. "
        f"Peak spill directory size: {figures['peak_spill_mb']} MB.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.larger", description=__doc__)
    parser.add_argument("--gb", type=float, default=10.0)
    parser.add_argument("--queries-only", nargs=2, metavar=("POLICIES", "OUT"))
    args = parser.parse_args()
    if args.queries_only:
        run_queries(Path(args.queries_only[0]), Path(args.queries_only[1]))
    else:
        main(args.gb)
