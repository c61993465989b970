"""Measure the residual timing channel (the figures in the README's security model).

    .venv/bin/python -m tests.attacks.measure_timing [runs]

Runs the same queries, interleaved, on D and D' (the corpus datasets, D' without the
victim) and on a D+ whose victim has 100,000 purchases instead of 30, and prints the
median wall time of each query through the whole pipeline and the difference of the
means with its standard error. Nothing here is a test: timing depends on the machine.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dpproxy.proxy import Proxy
from tests.attacks import dataset
from tests.synthetic import policies, write_dataset

QUERIES = (
    "SELECT COUNT(*) FROM purchases",
    "SELECT ts, COUNT(*) FROM purchases WHERE product = 'espresso machine' GROUP BY ts",
    "SELECT city, COUNT(*), AVG(annual_spend) FROM members GROUP BY city",
)


def _heavy(directory: Path) -> Path:
    rows = dataset.purchases(victim=False)
    start = dt.datetime(2024, 6, 1)
    rows += [
        (dataset.VICTIM, "espresso machine", 449.0, start + dt.timedelta(seconds=i))
        for i in range(100_000)
    ]
    return write_dataset(directory, dataset.members(victim=True), rows)


def _time(proxy: Proxy, sql: str) -> float:
    started = time.perf_counter()
    proxy.session("alice").query(sql, epsilon=1e-6)
    return (time.perf_counter() - started) * 1000


def main(runs: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="dpproxy-timing-"))
    data = {
        "D": dataset.write(root / "d", victim=True),
        "D'": dataset.write(root / "d_prime", victim=False),
        "D+": _heavy(root / "d_heavy"),
    }
    proxies = {
        name: Proxy(policies(root / f"p_{i}", path, config={"cache": False}))
        for i, (name, path) in enumerate(data.items())
    }
    try:
        for sql in QUERIES:
            times: dict[str, list[float]] = {name: [] for name in proxies}
            for proxy in proxies.values():  # warm up
                _time(proxy, sql)
            for _ in range(runs):
                for name, proxy in proxies.items():
                    times[name].append(_time(proxy, sql))
            print(sql)
            for name, values in times.items():
                print(f"  {name:3} median {statistics.median(values):7.2f} ms")
            for a, b in (("D", "D'"), ("D+", "D'")):
                diff = statistics.fmean(times[a]) - statistics.fmean(times[b])
                error = (
                    statistics.variance(times[a]) / runs + statistics.variance(times[b]) / runs
                ) ** 0.5
                print(f"  mean {a} - {b}: {diff:+.3f} ms (standard error {error:.3f} ms)")
    finally:
        for proxy in proxies.values():
            proxy.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
