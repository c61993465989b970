"""What the rewrite's trees mean on Apache Spark 4 (ANSI mode): the ``SparkDialect``.

Spark in ANSI mode raises on overflow, division by zero and bad casts, and has no
generic ``TRY``: ``try_add``, ``try_subtract``, ``try_multiply``, ``try_divide``,
``try_mod`` and ``try_cast`` each guard their own operation only. So ``total`` rebuilds
an analyst expression node by node, each operation replaced by its guarded form, and
refuses (``QueryRejected``, 0A000, before anything runs) every node it cannot prove
error-free on Spark, or whose meaning differs from DuckDB's where the difference would
change a released value: fail closed. What it maps and refuses (README, Spark):

* ``+ - * / %`` -> ``try_add`` ... ``try_mod``; ``//`` -> ``div`` with the divisor's 0
  and -1 guarded; unary minus and ``ABS`` -> ``try_multiply(x, -1)``;
* ``CAST`` -> ``try_cast``; a possibly fractional value cast to an integer type is
  rounded first (DuckDB rounds, Spark truncates); a possibly floating-point value cast
  to text is refused (``1e+20`` vs ``1.0E20``), as is ``||``/``CONCAT`` of one;
* ``EXTRACT(DOW)`` -> ``dayofweek(x) - 1`` (Sunday 0, as DuckDB), ``ISODOW`` ->
  ``weekday(x) + 1``; ``EXTRACT(EPOCH)``, ``SECOND`` (a decimal in Spark) refused;
* ``SUBSTRING`` with a start that is not a literal of at least 1; ``LIKE`` with a
  pattern that is not a literal free of backslashes (Spark's escape character, raising
  at the end of a pattern); ``FLOOR``/``CEIL`` of a possibly floating-point value (a
  BIGINT in Spark, raising past its range); a comparison of text with a non-text value
  (ANSI implicit casts raise): all refused;
* ``TRUNC(x)`` (numeric, from integer division on value paths) -> ``x - try_mod(x, 1)``.

Time functions assume the session time zone is UTC (``engine.spark`` sets it).

>>> spark = SparkDialect()
>>> spark.generate(spark.total(exp.Add(this=exp.column("a"), expression=exp.column("b"))))
'TRY_ADD(a, b)'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sqlglot import exp
from sqlglot.errors import ErrorLevel

from dpproxy.engine.dialect import md5_order
from dpproxy.errors import InternalError, QueryRejected, Violation
from dpproxy.sqlstate import SQLState

Kinds = frozenset[str]  # possible kinds of a value: integer, float, decimal, text, ...
_ANY: Kinds = frozenset({"integer", "float", "decimal", "text", "boolean", "date", "timestamp"})
_FRACTIONAL = frozenset({"float", "decimal"})
_KIND_OF_TYPE = {
    "TINYINT": "integer",
    "SMALLINT": "integer",
    "INTEGER": "integer",
    "BIGINT": "integer",
    "FLOAT": "float",
    "REAL": "float",
    "DOUBLE": "float",
    "VARCHAR": "text",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
}
_INTEGER_TYPES = exp.DataType.INTEGER_TYPES
_TEXT_TYPES = exp.DataType.TEXT_TYPES
_FLOAT_TYPES = {exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE}
_TRY: dict[type[exp.Expr], str] = {
    exp.Add: "TRY_ADD",
    exp.Sub: "TRY_SUBTRACT",
    exp.Mul: "TRY_MULTIPLY",
    exp.Div: "TRY_DIVIDE",
    exp.Mod: "TRY_MOD",
}
# Nodes that cannot raise once their children cannot (and mean the same in both engines).
_PASS_THROUGH = (
    exp.Column, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.And, exp.Or, exp.Not,
    exp.Is, exp.In, exp.Between, exp.Coalesce, exp.Nullif, exp.Least, exp.Greatest,
    exp.Case, exp.If, exp.Lower, exp.Upper, exp.Length, exp.Trim, exp.Year, exp.Month,
    exp.Day, exp.Quarter, exp.DataType, exp.DataTypeParam, exp.Var, exp.Interval,
    exp.TimestampTrunc, exp.DateTrunc, exp.Round,
)  # fmt: skip
_LEAVES = (exp.Column, exp.Literal, exp.Boolean, exp.Null, exp.DataType, exp.Var, exp.Identifier)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ,
                exp.NullSafeNEQ)  # fmt: skip
_EXTRACT = {"YEAR": "YEAR", "MONTH": "MONTH", "DAY": "DAY", "HOUR": "HOUR", "MINUTE": "MINUTE",
            "QUARTER": "QUARTER", "DOY": "DAYOFYEAR", "DAYOFYEAR": "DAYOFYEAR",
            "WEEK": "WEEKOFYEAR"}  # fmt: skip
_TRUNC_UNITS = {"YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND"}


class SparkDialect:
    """Spark SQL semantics for the rewrite. ``schema`` (the engine's, DuckDB type names)
    lets ``total`` tell a column's kind by its name: a name that several tables use with
    different kinds counts as all of them (conservative)."""

    name = "spark"

    def __init__(self, schema: Mapping[str, Mapping[str, str]] | None = None) -> None:
        kinds: dict[str, set[str]] = {}
        for columns in (schema or {}).values():
            for column, type_name in columns.items():
                kind = _KIND_OF_TYPE.get(type_name.upper())
                kinds.setdefault(column, set()).update(_ANY if kind is None else {kind})
        self._kinds = {c: frozenset(k) for c, k in kinds.items()}

    @property
    def accumulator(self) -> exp.DataType:
        return exp.DataType.build("DECIMAL(38, 0)")  # no HUGEINT: 38 exact digits

    def total(self, node: exp.Expr) -> exp.Expr:
        return _Total(self._kinds).map(node)

    def truncating_division(self, dividend: exp.Expr, divisor: exp.Expr) -> exp.Expr:
        # div truncates toward zero; the rewrite divides by a positive total only
        return exp.IntDiv(this=dividend, expression=divisor)

    def keyed_order(self, values: Sequence[exp.Expr], salt: int) -> exp.Expr:
        return md5_order(values, salt)

    def generate(self, tree: exp.Expr) -> str:
        for node in tree.walk():
            if isinstance(node, exp.Try):
                raise InternalError("a TRY reached the Spark dialect (it would be dropped)")
            if isinstance(node, exp.TryCast) and not node.args.get("safe"):
                raise InternalError("an unsafe TRY_CAST (Spark would write it as CAST)")
        text = str(
            tree.sql(
                dialect="spark", comments=False, pretty=True, unsupported_level=ErrorLevel.RAISE
            )
        )
        if "${" in text:
            raise InternalError("variable substitution syntax in a generated statement")
        return text


def _refuse(node: exp.Expr, reason: str) -> QueryRejected:
    construct = node.sql(dialect="duckdb")[:60]
    return QueryRejected(
        [Violation(SQLState.FEATURE_NOT_SUPPORTED, construct, f"{reason} on the Spark engine")]
    )


def _try(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _minus(node: exp.Expr) -> exp.Expr:
    return _try("TRY_MULTIPLY", node, exp.Literal.number(-1))


class _Total:
    """One ``total`` call: maps children first, then the node (see the module doc)."""

    def __init__(self, kinds: Mapping[str, Kinds]) -> None:
        self._kinds = kinds

    def map(self, node: exp.Expr) -> exp.Expr:
        handler = _HANDLERS.get(type(node))
        if handler is not None:
            return handler(self, node)
        if isinstance(node, _COMPARISONS):
            return self._comparison(node)
        if isinstance(node, _PASS_THROUGH):
            self._same_kinds(node, _values(node))
            return self._children(node)
        raise _refuse(node, f"{type(node).__name__} cannot be proven error-free")

    def _children(self, node: exp.Expr) -> exp.Expr:
        if isinstance(node, _LEAVES):
            return node.copy()
        copy = node.copy()
        for key, value in node.args.items():
            if isinstance(value, exp.Expr):
                copy.set(key, self.map(value))
            elif isinstance(value, list):
                copy.set(key, [self.map(v) if isinstance(v, exp.Expr) else v for v in value])
        if isinstance(node, exp.Round) and not _literal_at_least(node.args.get("decimals"), 0):
            raise _refuse(node, "ROUND needs literal digits of at least 0")
        if isinstance(node, exp.TimestampTrunc | exp.DateTrunc):
            unit = node.args.get("unit")
            if unit is None or unit.name.upper() not in _TRUNC_UNITS:
                raise _refuse(node, "this truncation unit is not supported")
        return copy

    def kinds(self, node: exp.Expr) -> Kinds:
        """What kinds of value ``node`` may produce (a superset: conservative)."""
        if isinstance(node, exp.Column):
            return self._kinds.get(node.name, _ANY)
        if isinstance(node, exp.Literal):
            if node.is_string:
                return frozenset({"text"})
            text = node.name.lower()
            return frozenset(
                {"float"} if "e" in text else {"decimal"} if "." in text else {"integer"}
            )
        if isinstance(node, exp.Cast | exp.TryCast):
            return _type_kinds(node.to)
        if isinstance(node, exp.Div):
            return frozenset({"float", "decimal"})
        if isinstance(
            node, exp.Lower | exp.Upper | exp.Substring | exp.Trim | exp.Concat | exp.DPipe
        ):
            return frozenset({"text"})
        if isinstance(
            node, exp.Length | exp.Extract | exp.Year | exp.Month | exp.Day | exp.Quarter
        ):
            return frozenset({"integer"})
        if isinstance(node, exp.Predicate | exp.Connector | exp.Not | exp.Boolean):
            return frozenset({"boolean"})
        if isinstance(node, exp.Null):
            return frozenset()
        if isinstance(node, exp.Interval):
            return frozenset({"interval"})
        found: set[str] = set()
        for child in node.iter_expressions():
            if not isinstance(child, exp.DataType | exp.Var):
                found |= self.kinds(child)
        return frozenset(found) or _ANY

    def _same_kinds(self, node: exp.Expr, operands: Sequence[exp.Expr | None]) -> None:
        """Refuse text meeting another kind: Spark's ANSI implicit casts raise on it."""
        kinds = [self.kinds(o) for o in operands if o is not None]
        if any("text" in k for k in kinds) and any(k - {"text"} for k in kinds):
            raise _refuse(node, "mixing text with another type (ANSI implicit casts raise)")

    def _comparison(self, node: exp.Expr) -> exp.Expr:
        self._same_kinds(node, [node.this, node.expression])
        return self._children(node)

    def _arithmetic(self, node: exp.Expr) -> exp.Expr:
        if any("text" in self.kinds(o) for o in (node.this, node.expression)):
            raise _refuse(node, "arithmetic on text (ANSI implicit casts raise)")
        return _try(_TRY[type(node)], self.map(node.this), self.map(node.expression))

    def _int_division(self, node: exp.Expr) -> exp.Expr:
        a, b = self.map(node.this), self.map(node.expression)
        quotient = exp.IntDiv(
            this=a, expression=exp.Nullif(this=b, expression=exp.Literal.number(0))
        )
        minus_one = exp.EQ(this=b.copy(), expression=exp.Literal.number(-1))
        return exp.Case(ifs=[exp.If(this=minus_one, true=_minus(a.copy()))], default=quotient)

    def _negation(self, node: exp.Expr) -> exp.Expr:
        return _minus(self.map(node.this))

    def _abs(self, node: exp.Expr) -> exp.Expr:
        x = self.map(node.this)
        negative = exp.LT(this=x, expression=exp.Literal.number(0))
        return exp.Case(ifs=[exp.If(this=negative, true=_minus(x.copy()))], default=x.copy())

    def _cast(self, node: exp.Expr) -> exp.Expr:
        assert isinstance(node, exp.Cast)
        to: exp.DataType = node.to
        inner = self.map(node.this)
        kinds = self.kinds(node.this)
        if to.this in _TEXT_TYPES and "float" in kinds:
            raise _refuse(node, "casting a floating-point value to text (formats differ)")
        if to.this in _INTEGER_TYPES and kinds & _FRACTIONAL:
            inner = exp.Round(this=inner)  # DuckDB rounds to the nearest, Spark truncates
        return exp.TryCast(this=inner, to=to.copy(), safe=True)  # safe: TRY_CAST, not CAST

    def _truncation(self, node: exp.Expr) -> exp.Expr:
        if node.args.get("decimals") is not None:
            raise _refuse(node, "TRUNC with digits")
        x = self.map(node.this)
        return exp.Sub(this=x, expression=_try("TRY_MOD", x.copy(), exp.Literal.number(1)))

    def _floor(self, node: exp.Expr) -> exp.Expr:
        if self.kinds(node.this) & _FRACTIONAL or node.args.get("decimals") is not None:
            raise _refuse(node, f"{node.key.upper()} of a fractional value (BIGINT in Spark)")
        return self._children(node)

    def _extract(self, node: exp.Expr) -> exp.Expr:
        unit = node.this.name.upper()
        x = self.map(node.expression)
        if unit in ("DOW", "DAYOFWEEK"):  # DuckDB: Sunday 0 ... Saturday 6
            return exp.Sub(this=exp.func("DAYOFWEEK", x), expression=exp.Literal.number(1))
        if unit == "ISODOW":  # Monday 1 ... Sunday 7
            return exp.Add(this=exp.func("WEEKDAY", x), expression=exp.Literal.number(1))
        if unit not in _EXTRACT:
            raise _refuse(node, f"EXTRACT({unit}) is not supported")
        return exp.Anonymous(this=_EXTRACT[unit], expressions=[x])

    def _substring(self, node: exp.Expr) -> exp.Expr:
        if not _literal_at_least(node.args.get("start"), 1, required=True):
            raise _refuse(node, "SUBSTRING needs a literal start of at least 1")
        if not _literal_at_least(node.args.get("length"), 0):
            raise _refuse(node, "SUBSTRING needs a literal length of at least 0")
        return self._children(node)

    def _like(self, node: exp.Expr) -> exp.Expr:
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string) or "\\" in pattern.name:
            raise _refuse(node, "LIKE needs a literal pattern without backslashes")
        return self._children(node)

    def _concat(self, node: exp.Expr) -> exp.Expr:
        if any("float" in self.kinds(arg) for arg in node.iter_expressions()):
            raise _refuse(node, "concatenating a floating-point value (formats differ)")
        return self._children(node)


def _values(node: exp.Expr) -> list[exp.Expr | None]:
    """The operands whose kinds must agree (a CASE's results, an IN's list, ...)."""
    if isinstance(node, exp.Case):
        return [*(i.args.get("true") for i in node.args.get("ifs") or []), node.args.get("default")]
    if isinstance(node, exp.If):
        return [node.args.get("true"), node.args.get("false")]
    if isinstance(node, exp.In):
        return [node.this, *node.expressions]
    if isinstance(node, exp.Between):
        return [node.this, node.args.get("low"), node.args.get("high")]
    if isinstance(node, exp.Coalesce | exp.Least | exp.Greatest | exp.Nullif):
        return [node.this, *node.expressions, node.args.get("expression")]
    return []


def _literal_at_least(node: exp.Expr | None, low: int, *, required: bool = False) -> bool:
    if node is None:
        return not required
    if isinstance(node, exp.Neg):
        return False
    return isinstance(node, exp.Literal) and node.is_int and int(node.name) >= low


def _type_kinds(to: exp.DataType) -> Kinds:
    if to.this in _INTEGER_TYPES:
        return frozenset({"integer"})
    if to.this in _FLOAT_TYPES:
        return frozenset({"float"})
    if to.this in _TEXT_TYPES:
        return frozenset({"text"})
    if to.this is exp.DataType.Type.DECIMAL:
        return frozenset({"decimal"})
    if to.this is exp.DataType.Type.BOOLEAN:
        return frozenset({"boolean"})
    if to.this is exp.DataType.Type.DATE:
        return frozenset({"date"})
    if to.this in exp.DataType.TEMPORAL_TYPES:
        return frozenset({"timestamp"})
    return _ANY


_HANDLERS: dict[type[exp.Expr], Callable[[_Total, exp.Expr], exp.Expr]] = {
    exp.Add: _Total._arithmetic,
    exp.Sub: _Total._arithmetic,
    exp.Mul: _Total._arithmetic,
    exp.Div: _Total._arithmetic,
    exp.Mod: _Total._arithmetic,
    exp.IntDiv: _Total._int_division,
    exp.Neg: _Total._negation,
    exp.Abs: _Total._abs,
    exp.Cast: _Total._cast,
    exp.TryCast: _Total._cast,
    exp.Trunc: _Total._truncation,
    exp.Floor: _Total._floor,
    exp.Ceil: _Total._floor,
    exp.Extract: _Total._extract,
    exp.Substring: _Total._substring,
    exp.Like: _Total._like,
    exp.ILike: _Total._like,
    exp.Concat: _Total._concat,
    exp.DPipe: _Total._concat,
}
