"""``dpproxy budget --plot FILE``: a PNG chart of cumulative spend over time."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dpproxy.proxy import Proxy


def plot_spend(proxy: Proxy, path: Path, analyst: str | None = None) -> int:
    """Draw one line per (analyst, domain): epsilon spent so far against time (under
    zCDP, the epsilon the spent rho converts to), with the budget as a dashed line.
    Returns the number of charges plotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from dpproxy.accounting.budget import Cost
    from dpproxy.accounting.scopes import budget_scopes

    series: dict[tuple[str, str], list[tuple[dt.datetime, float]]] = defaultdict(list)
    spent: dict[tuple[str, str], Cost] = defaultdict(lambda: Cost(0, 0, 0))
    charges = proxy.ledger.charges(analyst)
    for at, who, domain, epsilon, delta, rho in charges:
        key = (who, domain)
        if key not in series:  # each line starts from zero at its first charge
            series[key].append((dt.datetime.fromtimestamp(at, tz=dt.UTC), 0.0))
        spent[key] = spent[key] + Cost(epsilon, delta, rho)
        limit = budget_scopes(proxy.policies.config, who, domain)[0].limit
        point = (dt.datetime.fromtimestamp(at, tz=dt.UTC), float(limit.spent_epsilon(spent[key])))
        series[key].append(point)
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=100)
    now = dt.datetime.now(tz=dt.UTC)
    for (who, domain), points in sorted(series.items()):
        points = [*points, (now, points[-1][1])]  # hold the last level until now
        times = mdates.date2num([p[0] for p in points])
        values = [p[1] for p in points]
        (line,) = axes.step(times, values, where="post", label=f"{who} / {domain}")
        budget = budget_scopes(proxy.policies.config, who, domain)[0].limit.budget.epsilon
        axes.axhline(budget, color=line.get_color(), linestyle="--", linewidth=0.8)
    axes.set_xlabel("time (UTC)")
    axes.set_ylabel("cumulative epsilon spent")
    axes.set_title("dpproxy privacy budget spend (dashed: budget)")
    if series:
        axes.legend(loc="upper left", fontsize="small")
    else:
        axes.text(0.5, 0.5, "no charges yet", ha="center", va="center", transform=axes.transAxes)
    locator = mdates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
    return len(charges)
