"""dpproxy through its PostgreSQL wire server, with psycopg: latency and throughput.

The server is started as a separate process (``dpproxy serve``) on the bench policies
(trust authentication on 127.0.0.1 only); when the command does not exist yet or does
not come up, the reason is returned and the report says the wire columns were skipped.
Throughput: N client threads, each with its own connection and analyst, send the small
query for a fixed time; all traffic stays on the loopback interface and stops by itself.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import policies
from bench.queries import QUERIES, SMALL_SQL

DPPROXY = Path(sys.executable).parent / "dpproxy"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unavailable() -> str | None:
    """Why the wire server cannot be benchmarked, or None when it can."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        return f"psycopg is not installed: {exc}"
    done = subprocess.run(
        [str(DPPROXY), "serve", "--help"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        return f"`dpproxy serve --help` exited {done.returncode}: {last[0]}"
    return None


@contextmanager
def server(policy_dir: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(DPPROXY), "serve", "--policies", str(policy_dir)], stdout=out, stderr=out
        )
        try:
            deadline = time.monotonic() + 300  # loading 10M rows takes a while
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"dpproxy serve exited {process.returncode}; see {log}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("dpproxy serve did not listen within 300 s") from None
                    time.sleep(0.2)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _connect(port: int, client: int) -> Any:
    import psycopg

    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user=policies.analyst(client % policies.ANALYSTS),
        dbname="dpproxy",
        autocommit=True,
        connect_timeout=30,
    )


def latency(port: int, repeat: int) -> dict[str, Any]:
    """Median seconds per benchmark query over the wire (one connection)."""
    out: dict[str, Any] = {}
    with _connect(port, 0) as conn:
        for query in QUERIES:
            try:
                conn.execute(query.sql).fetchall()  # warm-up
                times = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    conn.execute(query.sql).fetchall()
                    times.append(time.perf_counter() - start)
                out[query.name] = {"median_s": statistics.median(times), "all_s": times}
            except Exception as exc:  # noqa: BLE001 - recorded in the report
                out[query.name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def throughput(port: int, clients: int, seconds: float) -> dict[str, Any]:
    """Small queries per second with ``clients`` concurrent connections."""
    counts = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start_line = threading.Barrier(clients + 1)
    stop = threading.Event()

    def client(i: int) -> None:
        try:
            with _connect(port, i + 1) as conn:
                conn.execute(SMALL_SQL).fetchall()
                start_line.wait()
                while not stop.is_set():
                    t0 = time.perf_counter()
                    conn.execute(SMALL_SQL).fetchall()
                    latencies[i].append(time.perf_counter() - t0)
                    counts[i] += 1
        except Exception as exc:  # noqa: BLE001 - recorded in the report
            errors.append(f"{type(exc).__name__}: {exc}")
            start_line.abort()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    try:
        start_line.wait(timeout=120)
    except threading.BrokenBarrierError:
        stop.set()
        return {"clients": clients, "error": errors[0] if errors else "clients did not start"}
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.perf_counter() - began
    every = sorted(x for per in latencies for x in per)
    return {
        "clients": clients,
        "queries": sum(counts),
        "seconds": elapsed,
        "qps": sum(counts) / elapsed,
        "p50_ms": 1000 * every[len(every) // 2] if every else None,
        "p99_ms": 1000 * every[int(len(every) * 0.99)] if every else None,
        "errors": errors[:3],
    }


def run(policy_dir: Path, repeat: int, clients: tuple[int, ...], seconds: float) -> dict[str, Any]:
    reason = unavailable()
    if reason is not None:
        return {"skipped": reason}
    port = _free_port()
    policies.set_port(policy_dir, port)
    log = policy_dir.parent / "serve.log"
    try:
        with server(policy_dir, port, log):
            result: dict[str, Any] = {"latency": latency(port, repeat)}
            result["throughput"] = [throughput(port, n, seconds) for n in clients]
            return result
    except Exception as exc:  # noqa: BLE001 - recorded in the report
        return {"skipped": f"{type(exc).__name__}: {exc}"}
