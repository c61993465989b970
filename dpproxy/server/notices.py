"""The privacy side of an answer, in words: the NOTICE after every DP result, and the
rows ``EXPLAIN SELECT ...`` returns.

The NOTICE says what was charged, what is left, and how far each released column may
be from the truth (the 95% half-width of its noise), so an analyst using plain psql
sees the price and the accuracy of every answer.
"""

from __future__ import annotations

import json
from typing import Any

from dpproxy.api import Result
from dpproxy.pipeline import Explanation
from dpproxy.released import ColumnAccuracy
from dpproxy.server import types
from dpproxy.server.messages import NoticeResponse
from dpproxy.server.results import Column, Outcome
from dpproxy.sqlstate import SQLState


def result_notices(result: Result) -> tuple[NoticeResponse, ...]:
    if result.cache_hit:
        charged = "answered from cache, nothing charged"
    else:
        charged = f"charged epsilon {result.epsilon:g}"
        if result.delta:
            charged += f", delta {result.delta:g}"
    remaining = result.budget_remaining
    message = (
        f"dpproxy: {charged}; remaining epsilon {remaining['epsilon']:g}, "
        f"delta {remaining['delta']:g}"
    )
    detail = "\n".join(_accuracy_line(a) for a in result.accuracy)
    notices = [NoticeResponse("NOTICE", SQLState.SUCCESSFUL_COMPLETION, message, detail or None)]
    notices += [
        NoticeResponse("WARNING", SQLState.WARNING, f"dpproxy: {w}") for w in result.warnings
    ]
    return tuple(notices)


def _accuracy_line(accuracy: ColumnAccuracy) -> str:
    if accuracy.ci95 is None:
        return f"{accuracy.column}: {accuracy.mechanism}"
    return f"{accuracy.column}: {accuracy.mechanism}, 95% within ±{_number(accuracy.ci95)}"


def _number(value: float) -> str:
    return f"{value:.6g}"


PLAN = (Column("QUERY PLAN", types.TEXT),)


def explain_outcome(explanation: Explanation, as_json: bool) -> Outcome:
    """The dry run as a one-column result, like PostgreSQL's EXPLAIN."""
    if as_json:
        payload: dict[str, Any] = explanation.to_dict()
        payload.pop("rewritten_sql", None)
        return Outcome(PLAN, [(json.dumps(payload),)], "EXPLAIN")
    cost = f"dry run, nothing charged: epsilon {explanation.epsilon:g}"
    cost += f", delta {explanation.delta:g}" if explanation.delta else ""
    cost += f", rho {explanation.rho:g}" if explanation.rho else ""
    lines = [cost]
    if explanation.threshold is not None:
        lines.append(
            f"groups are released when their noisy unit count is at least {explanation.threshold}"
        )
    for accuracy in explanation.accuracy:
        line = f"{accuracy.column}: {accuracy.mechanism}"
        if accuracy.scale is not None:
            line += f", noise scale {_number(accuracy.scale)}"
        if accuracy.ci95 is not None:
            line += f", 95% within ±{_number(accuracy.ci95)}"
        elif accuracy.scale is not None:
            line += ", 95% error depends on group size"
        lines.append(line)
    for m in explanation.measurements:
        lines.append(
            f"measurement {m['measurement']}: {m['mechanism']}, sensitivity "
            f"{_number(m['sensitivity'])}, epsilon {_number(m['epsilon'])}"
        )
    return Outcome(PLAN, [(line,) for line in lines], "EXPLAIN")
