"""Instruments a proxy for tests: what reached the engine, and every noise draw.

``instrument(proxy, monkeypatch)`` wraps the engine's entry points, the samplers of both
mechanisms and the pipeline's noise stage, so a test can say: this rejection never
reached the engine; this answer read N groups and drew exactly one noise value for each
measurement of each group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from dpproxy import pipeline
from dpproxy.engine import BindError, PreparedQuery
from dpproxy.noise.mechanisms import DiscreteGaussian, DiscreteLaplace
from dpproxy.plan import QueryPlan
from dpproxy.proxy import Proxy


@dataclass
class Noised:
    """One call of the noise stage: the plan, the exact rows the engine returned, every
    noise value drawn while noising them (with the mechanism that drew it), and the noisy
    groups handed on to post-processing."""

    plan: QueryPlan
    rows: list[tuple[Any, ...]]
    draws: list[tuple[Any, int]]
    noisy: list[Any]

    @property
    def groups(self) -> int:
        return len(self.rows)

    def verify(self) -> None:
        """Every measurement of every group left the noise stage as its exact value plus
        exactly one draw from that measurement's own mechanism."""
        measurements = self.plan.measurements
        keys = len(self.plan.query.keys)
        assert len(self.draws) == len(self.rows) * len(measurements), (
            "a measurement escaped its noise"
        )
        assert len(self.noisy) == len(self.rows)
        draws = iter(self.draws)
        for row, group in zip(self.rows, self.noisy, strict=True):
            assert tuple(group.keys) == tuple(row[:keys])
            for index, measurement in enumerate(measurements):
                mechanism, value = next(draws)
                assert mechanism == measurement.mechanism, "noise from the wrong mechanism"
                assert group.noisy[index] == int(row[keys + index]) + value, (
                    "a measurement escaped its noise"
                )


@dataclass
class Probe:
    bound: int = 0  # engine.prepare calls (binding against the schema, nothing read)
    executed: int = 0  # prepared statements executed
    bind_errors: int = 0  # prepare calls that failed while binding
    rows_read: int = 0  # rows returned by the engine, over all calls
    statements: list[str] = field(default_factory=list)
    draws: list[tuple[Any, int]] = field(default_factory=list)  # (mechanism, value)
    noised: list[Noised] = field(default_factory=list)

    @property
    def touched_engine(self) -> bool:
        return self.bound > 0 or self.executed > 0


def instrument(proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> Probe:
    probe = Probe()
    engine = proxy.engine
    prepare = engine.prepare

    def counted_prepare(sql: str) -> PreparedQuery:
        probe.bound += 1
        probe.statements.append(sql)
        try:
            prepared = prepare(sql)
        except BindError:
            probe.bind_errors += 1
            raise
        execute = prepared.execute

        def counted_execute(timeout: float | None = None) -> list[tuple[Any, ...]]:
            probe.executed += 1
            rows = execute(timeout)
            probe.rows_read += len(rows)
            return rows

        prepared.execute = counted_execute  # type: ignore[method-assign]
        return prepared

    monkeypatch.setattr(engine, "prepare", counted_prepare)

    for cls in (DiscreteLaplace, DiscreteGaussian):
        monkeypatch.setattr(cls, "sample", _counting(cls.sample, probe))

    add_noise = pipeline.add_noise

    def counted_add_noise(plan: QueryPlan, rows: Sequence[tuple[Any, ...]], *args: Any) -> Any:
        before = len(probe.draws)
        groups = add_noise(plan, rows, *args)
        probe.noised.append(Noised(plan, list(rows), probe.draws[before:], list(groups)))
        return groups

    monkeypatch.setattr(pipeline, "add_noise", counted_add_noise)
    return probe


def _counting(sample: Callable[[Any], int], probe: Probe) -> Callable[[Any], int]:
    def counted(self: Any) -> int:
        value = sample(self)
        probe.draws.append((self, value))
        return value

    return counted
