"""Command line: ``dpproxy query | explain | budget | policy check``.

Other tools depend on the JSON shapes here (see README): a result is
``{"columns", "rows", "epsilon", "delta", "budget_remaining", "accuracy", ...}``; an error
is ``{"error": {"sqlstate", "message"}}`` with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dpproxy.api import Result
from dpproxy.errors import DPProxyError
from dpproxy.proxy import Proxy
from dpproxy.server import cli as server_cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except DPProxyError as exc:
        _error(args, exc)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dpproxy",
        description="A differential-privacy SQL proxy: noisy aggregates only, every query charged.",
    )
    sub = parser.add_subparsers(metavar="COMMAND")

    def common(p: argparse.ArgumentParser, sql: bool = True) -> None:
        p.add_argument("--policies", required=True, metavar="DIR", help="policy directory")
        p.add_argument("--state", metavar="DIR", help="state directory (default: from policy)")
        p.add_argument("--format", choices=("table", "json"), default="table")
        if sql:
            p.add_argument("--analyst", required=True, metavar="NAME")
            p.add_argument("--epsilon", type=float, metavar="E", help="epsilon for this query")
            p.add_argument("sql", metavar="SQL")

    query = sub.add_parser("query", help="answer a query with noisy aggregates (charged)")
    common(query)
    query.set_defaults(handler=_query)
    explain = sub.add_parser("explain", help="price a query: no charge, no data touched")
    common(explain)
    explain.set_defaults(handler=_explain)
    budget = sub.add_parser("budget", help="spent and remaining budget per analyst and domain")
    common(budget, sql=False)
    budget.add_argument("--analyst", metavar="NAME")
    budget.add_argument("--plot", metavar="FILE", help="also write a PNG chart of spend over time")
    budget.set_defaults(handler=_budget)
    audit = sub.add_parser("audit", help="the hash-chained audit trail")
    audit_sub = audit.add_subparsers(metavar="ACTION")
    audit_verify = audit_sub.add_parser(
        "verify", help="detect edited, removed or reordered entries"
    )
    common(audit_verify, sql=False)
    audit_verify.set_defaults(handler=_audit_verify)
    policy = sub.add_parser("policy", help="policy tools")
    policy_sub = policy.add_subparsers(metavar="ACTION")
    policy_check = policy_sub.add_parser("check", help="validate a policy directory and explain it")
    policy_check.add_argument("directory", metavar="DIR")
    policy_check.add_argument("--format", choices=("table", "json"), default="table")
    policy_check.set_defaults(handler=_policy_check)
    server_cli.register(sub)  # serve, passwd
    return parser


def _proxy(args: argparse.Namespace) -> Proxy:
    return Proxy(args.policies, state_dir=args.state)


def _query(args: argparse.Namespace) -> int:
    proxy = _proxy(args)
    try:
        result = proxy.session(args.analyst).query(args.sql, epsilon=args.epsilon)
    finally:
        proxy.close()
    if args.format == "json":
        print(json.dumps(result.to_dict()))
    else:
        print(_result_table(result))
    return 0


def _explain(args: argparse.Namespace) -> int:
    proxy = _proxy(args)
    try:
        explanation = proxy.session(args.analyst).explain(args.sql, epsilon=args.epsilon)
    finally:
        proxy.close()
    if args.format == "json":
        print(json.dumps(explanation.to_dict()))
        return 0
    print(
        f"cost: epsilon {explanation.epsilon:g}, delta {explanation.delta:g}"
        + (f", rho {explanation.rho:g}" if explanation.rho else "")
        + " (nothing charged)"
    )
    if explanation.threshold is not None:
        print(
            f"groups are released when their noisy unit count is at least {explanation.threshold}"
        )
    rows = [
        [
            a.column,
            a.mechanism,
            _num(a.scale),
            _num(a.ci95) if a.ci95 is not None else "depends on group size",
        ]
        for a in explanation.accuracy
    ]
    print(_table(["column", "mechanism", "noise scale", "95% error"], rows))
    return 0


def _budget(args: argparse.Namespace) -> int:
    proxy = _proxy(args)
    try:
        lines = proxy.budget_lines(args.analyst)
        if args.plot:
            from dpproxy.accounting.plot import plot_spend

            count = plot_spend(proxy, Path(args.plot), args.analyst)
            print(f"wrote {args.plot} ({count} charges)", file=sys.stderr)
    finally:
        proxy.close()
    if args.format == "json":
        print(json.dumps([line.__dict__ for line in lines]))
        return 0
    rows = [
        [
            b.analyst,
            b.domain,
            f"{b.epsilon_spent:g} / {b.epsilon_budget:g}",
            f"{b.epsilon_remaining:g}",
            f"{b.delta_spent:g} / {b.delta_budget:g}",
        ]
        for b in lines
    ]
    print(_table(["analyst", "domain", "epsilon spent", "epsilon left", "delta spent"], rows))
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    proxy = _proxy(args)
    try:
        result = proxy.ledger.verify_audit()
    finally:
        proxy.close()
    if args.format == "json":
        print(
            json.dumps(
                {"ok": result.ok, "entries": result.entries, "problems": list(result.problems)}
            )
        )
    elif result.ok:
        print(f"audit trail OK: {result.entries} entries, chain intact, every charge audited")
    else:
        print(f"audit trail BROKEN ({result.entries} entries):")
        for problem in result.problems:
            print(f"  {problem}")
    return 0 if result.ok else 1


def _policy_check(args: argparse.Namespace) -> int:
    from dpproxy.policy.explain import describe

    report = describe(args.directory)
    if args.format == "json":
        print(json.dumps(report))
    else:
        print(report["text"])
    return 0


def _result_table(result: Result) -> str:
    rows = [[_num(v) for v in row] for row in result.rows]
    count = len(result.rows)
    lines = [_table(list(result.columns), rows), f"({count} row{'' if count == 1 else 's'})"]
    charged = (
        "answered from cache, nothing charged"
        if result.cache_hit
        else (
            f"charged epsilon {result.epsilon:g}"
            + (f", delta {result.delta:g}" if result.delta else "")
        )
    )
    remaining = result.budget_remaining
    lines.append(
        f"{charged}; remaining epsilon {remaining['epsilon']:g}, delta {remaining['delta']:g}"
    )
    for a in result.accuracy:
        if a.ci95 is not None:
            lines.append(f"  {a.column}: {a.mechanism}, 95% within ±{_num(a.ci95)}")
        else:
            lines.append(f"  {a.column}: {a.mechanism}")
    lines.extend(f"warning: {w}" for w in result.warnings)
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: list[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    sep = "-+-".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def _num(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


def _error(args: argparse.Namespace, exc: DPProxyError) -> None:
    payload: dict[str, Any] = {"sqlstate": exc.sqlstate, "message": exc.message}
    if exc.detail:
        payload["detail"] = exc.detail
    if getattr(args, "format", "table") == "json":
        print(json.dumps({"error": payload}))
    else:
        print(f"ERROR {exc.sqlstate}: {exc.message}", file=sys.stderr)
        if exc.detail:
            print(exc.detail, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
