"""Accuracy: RMSE of each released cell against the exact answer, and the noise floor.

A cell is (group key, output column). Its RMSE is taken over the runs that released it
(partition selection may drop a key; the release rate is reported beside it). The truth
is the plain aggregate on the raw, unbounded data, so the RMSE includes the bias of
contribution bounding and clamping, which is part of what an analyst gets.

The noise floor is the standard deviation the mechanism itself promises for that cell:
sqrt(2)·b for a Laplace measurement of scale b = sensitivity / epsilon; for AVG and
STDDEV the first-order (delta method) propagation of the measurements' noise through
the post-processing, evaluated at the true n, mean and second moment of the clamped
values. Qrlew does not expose its noise scales per column, so no floor is computed for it.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from bench.queries import AMOUNT_BOUNDS, QUERIES, Query

CENTRE = (AMOUNT_BOUNDS[0] + AMOUNT_BOUNDS[1]) / 2
# dpproxy centres squares on half the squared half-width (see plan.Grid.square_centre).
SQUARE_CENTRE = ((AMOUNT_BOUNDS[1] - AMOUNT_BOUNDS[0]) / 2) ** 2 / 2


def _laplace_sd(sensitivity: float, epsilon: float) -> float:
    return math.sqrt(2) * sensitivity / epsilon


def _avg_floor(sd_sum: float, sd_n: float, n: float, mean: float) -> float:
    return math.sqrt(sd_sum**2 + mean**2 * sd_n**2) / n


def _stddev_floor(
    sd_q: float, sd_s: float, sd_n: float, n: float, mean: float, square: float, sd: float
) -> float:
    """``mean`` and ``square`` are the per-row means of the two measured sums."""
    var_v = (sd_q**2 + 4 * mean**2 * sd_s**2 + (square - 2 * mean**2) ** 2 * sd_n**2) / n**2
    return math.sqrt(var_v) / (2 * sd) if sd > 0 else math.nan


def dpproxy_floors(query: Query, entry: dict[str, Any]) -> dict[tuple[str, int], float]:
    sds = {label.split("(")[0]: _laplace_sd(s, e) for label, s, e in entry["dpproxy_floors"]}
    return _floors(query, entry, sds, centred=True)


def smartnoise_floors(query: Query, entry: dict[str, Any]) -> dict[tuple[str, int], float]:
    mechanisms = entry.get("smartnoise_mechanisms") or []
    sds: dict[str, float] = {}
    for column, scale in mechanisms:
        name = str(column)
        kind = (
            "units"
            if name.startswith("count_distinct")
            else "values"
            if name.startswith("count_amount")
            else "rows"
            if name.startswith("count")
            else "centred_squares"
            if name.startswith("sum_alias")
            else "sum"
        )
        sds[kind] = math.sqrt(2) * float(scale)
    if "sum" in sds:
        sds["centred_sum"] = sds["sum"]
    return _floors(query, entry, sds, centred=False)


def _floors(
    query: Query, entry: dict[str, Any], sds: dict[str, float], *, centred: bool
) -> dict[tuple[str, int], float]:
    floors: dict[tuple[str, int], float] = {}
    moments = entry.get("moments", {})
    for key in entry["truth"]:
        for column, aggregate in enumerate(query.aggregates):
            floor = math.nan
            if aggregate == "count":
                floor = sds.get("rows", sds.get("units", math.nan))
            elif aggregate == "count_distinct":
                floor = sds.get("units", math.nan)
            elif aggregate == "sum":
                floor = sds.get("sum", math.nan)
            elif key in moments:
                n, mean, m2c = moments[key]
                shift = CENTRE if centred else 0.0
                mu = mean - shift
                if aggregate == "avg":
                    floor = _avg_floor(sds["centred_sum"], sds["values"], n, mu)
                else:
                    second = m2c - SQUARE_CENTRE if centred else m2c + 2 * CENTRE * mean - CENTRE**2
                    sd = math.sqrt(max(m2c - (mean - CENTRE) ** 2, 0.0))
                    floor = _stddev_floor(
                        sds["centred_squares"], sds["centred_sum"], sds["values"], n, mu, second, sd
                    )
            floors[(key, column)] = floor
    return floors


def summarise(query: Query, entry: dict[str, Any], system: str) -> dict[str, Any] | None:
    """Per-query figures for one system, means over cells: RMSE, |bias| (mean error: the
    cost of contribution bounding), release rate; medians over cells: RMSE / floor, and
    the spread of the releases (their standard deviation, i.e. the noise alone) / floor."""
    releases = entry.get(system)
    if not releases:
        return None
    floors: dict[tuple[str, int], float] = {}
    if system == "dpproxy":
        floors = dpproxy_floors(query, entry)
    elif system == "smartnoise":
        floors = smartnoise_floors(query, entry)
    rmses, ratios, sd_ratios, biases, released, cells = [], [], [], [], 0, 0
    for key, truth in entry["truth"].items():
        for column, true_value in enumerate(truth):
            values = [
                run[key][column] for run in releases if key in run and run[key][column] is not None
            ]
            cells += len(releases)
            released += len(values)
            if not values:
                continue
            rmse = math.sqrt(statistics.fmean((v - true_value) ** 2 for v in values))
            rmses.append(rmse)
            biases.append(abs(statistics.fmean(values) - true_value))
            floor = floors.get((key, column), math.nan)
            if floor > 0:
                ratios.append(rmse / floor)
                if len(values) > 1:
                    sd_ratios.append(statistics.stdev(values) / floor)
    if not rmses:
        return {"rmse": math.nan, "release_rate": 0.0, "floor_ratio": math.nan}
    return {
        "rmse": statistics.fmean(rmses),
        "bias": statistics.fmean(biases),
        "sd_floor_ratio": statistics.median(sd_ratios) if sd_ratios else math.nan,
        "release_rate": released / cells if cells else math.nan,
        "floor_ratio": statistics.median(ratios) if ratios else math.nan,
        "floor": statistics.fmean(f for f in floors.values() if not math.isnan(f))
        if floors
        else math.nan,
    }


def table(accuracy: dict[str, Any], qrlew: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """query -> system -> summary."""
    out: dict[str, dict[str, Any]] = {}
    for query in QUERIES:
        entry = dict(accuracy["queries"][query.name])
        if qrlew and "releases" in qrlew["queries"].get(query.name, {}):
            entry["qrlew"] = qrlew["queries"][query.name]["releases"]
        out[query.name] = {
            system: summary
            for system in ("dpproxy", "smartnoise", "qrlew")
            if (summary := summarise(query, entry, system)) is not None
        }
    return out
