"""The results as a markdown file and a PNG chart under ``bench/results/``."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from bench import accuracy
from bench.queries import DELTA, EPSILON, MAX_GROUPS, MAX_ROWS, QUERIES, TYPICAL
from bench.stages import OVERHEAD

SYSTEMS = ("duckdb", "dpproxy", "wire", "smartnoise", "qrlew")
LABELS = {
    "duckdb": "raw DuckDB",
    "dpproxy": "dpproxy (API)",
    "wire": "dpproxy (wire)",
    "smartnoise": "SmartNoise SQL",
    "qrlew": "Qrlew",
}


def _ms(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "–"
    ms = seconds * 1000
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 1 else f"{ms:.2f}"


def _x(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.1f}×"


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def medians(results: dict[str, Any], size: str) -> dict[str, dict[str, float]]:
    """query -> system -> median seconds."""
    timing = results["timing"][size]["queries"]
    wire = results.get("wire", {}).get(size, {}).get("latency", {})
    qrlew = results.get("qrlew", {}).get(size, {}).get("queries", {})
    out: dict[str, dict[str, float]] = {}
    for query in QUERIES:
        row = dict(timing[query.name]["median_s"])
        if "median_s" in wire.get(query.name, {}):
            row["wire"] = wire[query.name]["median_s"]
        if "median_s" in qrlew.get(query.name, {}):
            row["qrlew"] = qrlew[query.name]["median_s"]
        out[query.name] = row
    return out


def overhead(stages: dict[str, float], total: float) -> float:
    """Seconds outside execution: the measured stages plus what no stage accounts for."""
    return total - stages.get("execute", 0.0)


def _time_table(results: dict[str, Any], size: str) -> list[str]:
    med = medians(results, size)
    timing = results["timing"][size]
    memory = results.get("memory", {}).get(size, {})
    lines = [
        f"### {size} purchase rows ({timing['repeat']} runs per query, median ms)",
        "",
        "| query | raw DuckDB | dpproxy API | ×raw | dpproxy wire | ×raw | SmartNoise | ×raw "
        "| Qrlew | ×raw | overhead ms | peak RSS MB (raw / dpproxy / SN / Qrlew) | load 1m |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for query in QUERIES:
        row = med[query.name]
        raw = row["duckdb"]
        info = timing["queries"][query.name]
        over = overhead(info["stages_median_s"], row["dpproxy"])
        peaks = [
            memory.get(system, {}).get("peak_mb", {}).get(query.name)
            for system in ("duckdb", "dpproxy", "smartnoise")
        ]
        qrlew_q = results.get("qrlew", {}).get(size, {}).get("queries", {}).get(query.name, {})
        peaks.append(qrlew_q.get("peak_mb"))
        cells = [query.name, _ms(raw)]
        for system in ("dpproxy", "wire", "smartnoise", "qrlew"):
            value = row.get(system)
            cells += [_ms(value), _x(value / raw if value else None)]
        cells.append(_ms(over))
        cells.append(" / ".join("–" if p is None else f"{p:.0f}" for p in peaks))
        cells.append(f"{info['load'][0]}–{info['load'][1]}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _stage_table(results: dict[str, Any], size: str) -> list[str]:
    timing = results["timing"][size]["queries"]
    med = medians(results, size)
    header = ["query", *OVERHEAD, "other", "overhead", "execute", "end to end"]
    lines = [
        f"### dpproxy stages at {size} (median ms)",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    for query in QUERIES:
        stages = timing[query.name]["stages_median_s"]
        total = med[query.name]["dpproxy"]
        known = sum(stages.get(s, 0.0) for s in OVERHEAD)
        over = overhead(stages, total)
        cells = [query.name, *(_ms(stages.get(s)) for s in OVERHEAD)]
        cells += [_ms(max(over - known, 0.0)), _ms(over), _ms(stages.get("execute")), _ms(total)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _accuracy_table(results: dict[str, Any]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    acc = results["accuracy"]
    size = acc["size"]
    summary = accuracy.table(acc, results.get("qrlew", {}).get(size))
    lines = [
        f"### Accuracy at {size} ({acc['runs']} releases per query and system, "
        f"epsilon {EPSILON} per query)",
        "",
        "Mean over cells of the RMSE against the exact answer on the raw data, of the "
        "|bias| (contribution bounding), and the median over cells of RMSE / floor and of "
        "spread / floor (the noise alone against what the mechanism promises). "
        "Release rate < 100% means partition selection dropped some keys. The spread "
        "includes the run-to-run variation of which rows contribution bounding keeps (a "
        "fresh random choice per query in dpproxy and SmartNoise), so it exceeds the floor "
        "where many rows are dropped (count, distinct).",
        "",
        "| query | dpproxy RMSE | bias | RMSE/floor | spread/floor | released "
        "| SmartNoise RMSE | bias | RMSE/floor | spread/floor | released "
        "| Qrlew RMSE | bias | released |",
        "|---|" + "---:|" * 13,
    ]
    for query in QUERIES:
        row = summary[query.name]
        cells = [query.name]
        for system in ("dpproxy", "smartnoise", "qrlew"):
            s = row.get(system)
            if s is None:
                cells += ["unsupported"] + ["–"] * (2 if system == "qrlew" else 4)
                continue
            cells += [_num(s["rmse"]), _num(s.get("bias"))]
            if system != "qrlew":
                cells += [_num(s.get("floor_ratio")), _num(s.get("sd_floor_ratio"))]
            cells.append(f"{100 * s['release_rate']:.0f}%")
        lines.append("| " + " | ".join(cells) + " |")
    return lines, summary


def _throughput(results: dict[str, Any]) -> list[str]:
    wire = results.get("wire", {})
    lines = ["### Throughput over the wire (small query, 100k-row data)", ""]
    small = wire.get("throughput")
    if not small or "skipped" in small:
        reason = (small or {}).get("skipped", "not run")
        return [*lines, f"Skipped: {reason}."]
    lines += ["| clients | queries/s | p50 ms | p99 ms | errors |", "|---:|---:|---:|---:|---|"]
    for t in small["throughput"]:
        if "error" in t:
            lines.append(f"| {t['clients']} | – | – | – | {t['error']} |")
            continue
        lines.append(
            f"| {t['clients']} | {t['qps']:.1f} | {_num(t['p50_ms'])} | {_num(t['p99_ms'])} "
            f"| {'; '.join(t['errors']) or 'none'} |"
        )
    return lines


def _targets(results: dict[str, Any], summary: dict[str, dict[str, Any]]) -> list[str]:
    sizes = list(results["timing"])
    largest = sizes[-1]
    med = medians(results, largest)
    ratios = {q: m["dpproxy"] / m["duckdb"] for q, m in med.items()}
    typical = results["timing"][largest]["queries"][TYPICAL]
    over = overhead(typical["stages_median_s"], med[TYPICAL]["dpproxy"])
    lines = ["### Targets", ""]
    worst = max(ratios, key=lambda q: ratios[q])
    lines.append(
        f"- dpproxy ≤ 2× raw DuckDB at {largest}: median {statistics.median(ratios.values()):.1f}×"
        f", best {min(ratios.values()):.1f}×, worst {ratios[worst]:.1f}× ({worst}): "
        f"{'met' if max(ratios.values()) <= 2 else 'missed'}."
    )
    lines.append(
        f"- Overhead outside execution ≤ 5 ms for the typical grouped query ({TYPICAL}): "
        f"{over * 1000:.1f} ms at {largest}: {'met' if over <= 0.005 else 'missed'}."
    )
    for peer, goal in (("smartnoise", 10.0), ("qrlew", 5.0)):
        speedups = {q: m[peer] / m["dpproxy"] for q, m in med.items() if peer in m}
        if not speedups:
            lines.append(f"- ≥ {goal:.0f}× faster than {LABELS[peer]}: not measured.")
            continue
        low = min(speedups.values())
        lines.append(
            f"- ≥ {goal:.0f}× faster than {LABELS[peer]} at {largest}: "
            f"{LABELS[peer]} / dpproxy = {low:.2f}× to {max(speedups.values()):.2f}× "
            f"(median {statistics.median(speedups.values()):.2f}×) over "
            f"{len(speedups)} queries: {'met' if low >= goal else 'missed'}."
        )
    worse = [
        f"{q} (vs {LABELS[p]})"
        for q, row in summary.items()
        for p in ("smartnoise", "qrlew")
        if p in row and "dpproxy" in row and row["dpproxy"]["rmse"] > row[p]["rmse"]
    ]
    lines.append(
        "- RMSE no worse than either peer: "
        + ("met on every query." if not worse else "missed on " + ", ".join(worse) + ".")
    )
    noise = [row["dpproxy"].get("sd_floor_ratio", math.nan) for row in summary.values()]
    noise = [n for n in noise if not math.isnan(n)]
    rmse = [row["dpproxy"].get("floor_ratio", math.nan) for row in summary.values()]
    rmse = [r for r in rmse if not math.isnan(r)]
    lines.append(
        "- Within 10% of the noise floor: the noise alone (spread / floor) is "
        f"{min(noise):.2f} to {max(noise):.2f} of the floor; the RMSE including "
        f"bounding bias is {min(rmse):.2f} to {max(rmse):.2f} × the floor: "
        f"{'met' if max(rmse) <= 1.1 else 'missed (the bias of contribution bounding)'}."
    )
    return lines


def write(results: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = results["machine"]
    lines = [
        "# dpproxy benchmark results",
        "",
        f"Run {machine['date']} with `make bench` on {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['ram_gb']:.0f} GB RAM, Python {machine['python']}, DuckDB "
        f"{machine['duckdb']}; load average {machine['load_start']} at the start, "
        f"{machine['load_end']} at the end (the machine is shared). Every system runs on "
        f"DuckDB {machine['duckdb']} with 2 threads, on the same in-memory tables; "
        f"epsilon {EPSILON} per query in every system (SmartNoise's per-statistic epsilon is "
        f"divided accordingly), delta {DELTA} where keys are discovered, at most "
        f"{MAX_ROWS} rows and {MAX_GROUPS} groups per member, amount clamped to [0, 100]. "
        "Raw DuckDB, dpproxy's API and SmartNoise are interleaved within each repetition; "
        "the wire server and Qrlew run after them in their own processes. Timings of the "
        "sort-heavy queries vary by up to ±50% between runs on this shared VM: compare "
        "ratios within a run.",
        "",
        "## Time",
        "",
    ]
    for size in results["timing"]:
        lines += [*_time_table(results, size), "", *_stage_table(results, size), ""]
    acc_lines, summary = _accuracy_table(results)
    lines += ["## Accuracy", "", *acc_lines, "", "## Throughput", "", *_throughput(results), ""]
    lines += ["## Targets", "", *_targets(results, summary)[2:], ""]
    notes = results.get("notes", [])
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    path = out_dir / "results.md"
    path.write_text("\n".join(lines))
    chart(results, summary, out_dir / "results.png")
    return path


def chart(results: dict[str, Any], summary: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(results["timing"])
    figure, axes = plt.subplots(1, len(sizes) + 1, figsize=(6 * (len(sizes) + 1), 5))
    names = [q.name for q in QUERIES]
    width = 0.16
    for ax, size in zip(axes, sizes, strict=False):
        med = medians(results, size)
        for i, system in enumerate(SYSTEMS):
            values = [med[n].get(system, math.nan) * 1000 for n in names]
            offsets = [j + (i - 2) * width for j in range(len(names))]
            ax.bar(offsets, values, width, label=LABELS[system])
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_ylabel("median ms (log)")
        ax.set_title(f"time at {size} purchase rows")
        ax.legend(fontsize=8)
    ax = axes[-1]
    for i, system in enumerate(("dpproxy", "smartnoise", "qrlew")):
        values = [summary[n].get(system, {}).get("rmse", math.nan) for n in names]
        base = [summary[n]["dpproxy"]["rmse"] for n in names]
        ratio = [v / b if b else math.nan for v, b in zip(values, base, strict=True)]
        ax.bar([j + (i - 1) * 0.25 for j in range(len(names))], ratio, 0.25, label=LABELS[system])
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_ylabel("RMSE / dpproxy RMSE (log)")
    ax.set_title(f"accuracy at {results['accuracy']['size']} (lower is better)")
    ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
