"""``python -m bench``: generate the data, measure every system, write the report.

Each measurement runs in a fresh subprocess (``bench.measure``; Qrlew in its own venv),
so a system's memory is its own and one failure cannot take the others down. Results go
to ``bench/results/results.{json,md,png}``.

    python -m bench                 # 1m and 10m rows (about 20 minutes on 2 cores)
    python -m bench --quick         # 100k rows, few repetitions: a smoke test
    python -m bench --larger-than-memory [--gb 10]   # only that case (bench/larger.py)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import data, larger, policies, qrlew_venv, report, wire
from sample_data import generate as sample

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    import duckdb

    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "load_start": round(os.getloadavg()[0], 2),
    }


def _measure(task: str, size: str, extra: list[str], work: Path) -> dict[str, Any]:
    out = work / f"{task}-{size}-{'-'.join(extra) or 'all'}.json"
    command = [sys.executable, "-m", "bench.measure", task, "--size", size, "--out", str(out)]
    print(f"[bench] {task} {size} {' '.join(extra)}", flush=True)
    subprocess.run([*command, *extra], check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100k rows, 3 runs: smoke test")
    parser.add_argument("--sizes", default="1m,10m")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query")
    parser.add_argument("--repeat-10m", type=int, default=3, help="timed runs at 10m rows")
    parser.add_argument("--accuracy-runs", type=int, default=20)
    parser.add_argument("--accuracy-size", default="1m")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite results.md/png from results.json"
    )
    parser.add_argument(
        "--larger-than-memory",
        action="store_true",
        help="only the larger-than-memory case: Parquet of --gb GB, memory_limit 2GB",
    )
    parser.add_argument("--gb", type=float, default=10.0, help="its data size")
    args = parser.parse_args()
    if args.larger_than_memory:
        larger.main(args.gb, Path(args.out))
        return
    if args.report_only:
        out = Path(args.out)
        path = report.write(json.loads((out / "results.json").read_text()), out)
        print(f"[bench] wrote {path} and {path.with_suffix('.png')}")
        return
    if args.quick:
        args.sizes, args.repeat, args.accuracy_runs, args.accuracy_size = "100k", 3, 5, "100k"
    sizes = [data.SIZES[s] for s in args.sizes.split(",")]
    peer_flags = ["--no-peers"] if args.no_peers else []
    results: dict[str, Any] = {"machine": machine(), "notes": []}
    qrlew_python = None if args.no_peers else qrlew_venv.qrlew_python(results["notes"])
    with tempfile.TemporaryDirectory(prefix="dpproxy-bench-") as tmp:
        work = Path(tmp)
        results["timing"], results["memory"], results["qrlew"], results["wire"] = {}, {}, {}, {}
        for size in sizes:
            print(f"[bench] data {size.name}", flush=True)
            data.ensure(size)
            policies.write(size)
            runs_here = args.repeat_10m if size.name == "10m" else args.repeat
            repeat = ["--repeat", str(runs_here)]
            results["timing"][size.name] = _measure("timing", size.name, repeat + peer_flags, work)
            systems = ["duckdb", "dpproxy"] + ([] if args.no_peers else ["smartnoise"])
            results["memory"][size.name] = {
                system: _measure("memory", size.name, ["--system", system], work)
                for system in systems
            }
            if qrlew_python is not None:
                runs = args.accuracy_runs if size.name == args.accuracy_size else 0
                results["qrlew"][size.name] = qrlew_venv.run_qrlew(
                    qrlew_python, size, runs_here, runs, work, results["notes"]
                )
            print(f"[bench] wire {size.name}", flush=True)
            results["wire"][size.name] = wire.run(size.directory / "policies", runs_here, (), 0.0)
        accuracy_size = data.SIZES[args.accuracy_size]
        data.ensure(accuracy_size)
        if args.accuracy_size not in results["qrlew"] and qrlew_python is not None:
            results["qrlew"][args.accuracy_size] = qrlew_venv.run_qrlew(
                qrlew_python, accuracy_size, 1, args.accuracy_runs, work, results["notes"]
            )
        results["accuracy"] = _measure(
            "accuracy", args.accuracy_size, ["--repeat", str(args.accuracy_runs), *peer_flags], work
        )
        small = data.SIZES["100k"]
        data.ensure(small)
        policies.write(small)
        print("[bench] wire throughput", flush=True)
        results["wire"]["throughput"] = wire.run(small.directory / "policies", 1, (1, 8, 32), 10.0)
    for size_name, timing in results["timing"].items():
        for name, entry in timing["queries"].items():
            if "smartnoise_error" in entry:
                results["notes"].append(
                    f"SmartNoise SQL cannot run '{name}' ({size_name}): {entry['smartnoise_error']}"
                )
    for size_name, entry in results["wire"].items():
        if "skipped" in entry:
            reason = " ".join(str(entry["skipped"]).split())
            results["notes"].append(f"wire server ({size_name}): skipped: {reason}")
    results["machine"]["load_end"] = round(os.getloadavg()[0], 2)
    results["generator"] = {"seed": sample.SEED, "version": data.GENERATOR_VERSION}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    path = report.write(results, out)
    print(f"[bench] wrote {path} and {path.with_suffix('.png')}")


if __name__ == "__main__":
    main()
