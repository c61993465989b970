"""Hypothesis strategies: SQL over the sample schema, mostly valid, sometimes not.

The grammar follows what dpproxy accepts (keys, bounded aggregates, filters, joins on
the privacy unit and on join keys, HAVING, ORDER BY, LIMIT) and mixes in what it must
refuse (the privacy unit as an output, MIN/MAX, random(), subqueries, windows), plus
risky expressions (casts, divisions, overflows) and hostile aliases and literals, so a
generated query exercises both the accepting and the refusing paths.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

TEXT = ("city", "marital_status", "education", "gender")


@dataclass(frozen=True)
class Relation:
    table: str
    alias: str  # as written in the query (possibly a quoted identifier)


@dataclass(frozen=True)
class From:
    text: str
    relations: tuple[Relation, ...]

    def of(self, table: str) -> Relation | None:
        return next((r for r in self.relations if r.table == table), None)


DIMENSIONS = {
    "members": ("city", "marital_status", "education", "gender", "age"),
    "purchases": ("product", "ts"),
    "products": ("product", "category", "list_price"),
}
MEASURES = {
    "members": ("age", "annual_spend"),
    "purchases": ("amount",),
    "products": ("list_price",),
}
TEXT_COLUMNS = {"city", "marital_status", "education", "gender", "product", "category"}

ALIASES = st.one_of(
    st.sampled_from(["m", "p", "pr", "t1", "x_y"]),
    st.text(alphabet="ab\"'; -()*/", min_size=1, max_size=8).map(
        lambda s: '"' + s.replace('"', '""') + '"'
    ),
)
STRINGS = st.one_of(
    st.sampled_from(["Salem", "Solitude", "Doctor", "latte", "coffee", "", "%", "_"]),
    st.text(alphabet="aS'\";-%_\\ ()", max_size=10),
).map(lambda s: "'" + s.replace("'", "''") + "'")
NUMBERS = st.one_of(
    st.integers(-5, 120).map(str),
    st.sampled_from(["0", "0.5", "77", "19999.5", "1e308", "9223372036854775807", "-1"]),
)


@st.composite
def froms(draw: st.DrawFn) -> From:
    shape = draw(st.sampled_from(["m", "p", "mp", "pp", "ppl", "mpp"]))
    a1, a2, a3 = draw(st.lists(ALIASES, min_size=3, max_size=3, unique_by=str.lower))
    if shape == "m":
        return From(f"members AS {a1}", (Relation("members", a1),))
    if shape == "p":
        return From(f"purchases AS {a1}", (Relation("purchases", a1),))
    if shape == "mp":
        on = f"{a1}.loyalty_number = {a2}.loyalty_number"
        text = f"members AS {a1} JOIN purchases AS {a2} ON {on}"
        return From(text, (Relation("members", a1), Relation("purchases", a2)))
    if shape in ("pp", "ppl"):
        join = "LEFT JOIN" if shape == "ppl" else "JOIN"
        text = f"purchases AS {a1} {join} products AS {a2} ON {a1}.product = {a2}.product"
        return From(text, (Relation("purchases", a1), Relation("products", a2)))
    text = (
        f"members AS {a1} JOIN purchases AS {a2} ON {a2}.loyalty_number = {a1}.loyalty_number "
        f"JOIN products AS {a3} ON {a3}.product = {a2}.product"
    )
    relations = (Relation("members", a1), Relation("purchases", a2), Relation("products", a3))
    return From(text, relations)


def _column(rel: Relation, name: str) -> str:
    return f"{rel.alias}.{name}"


@st.composite
def dimension(draw: st.DrawFn, frm: From) -> tuple[str, str]:
    """(column reference, column name)."""
    rel = draw(st.sampled_from(frm.relations))
    name = draw(st.sampled_from(DIMENSIONS[rel.table]))
    return _column(rel, name), name


@st.composite
def key(draw: st.DrawFn, frm: From) -> str:
    ref, name = draw(dimension(frm))
    if name in TEXT_COLUMNS:
        return draw(st.sampled_from([ref, f"lower({ref})", f"upper({ref})", f"length({ref})"]))
    if name == "ts":
        return draw(st.sampled_from([
            ref, f"date_trunc('month', {ref})", f"EXTRACT(dow FROM {ref})", f"CAST({ref} AS DATE)",
        ]))  # fmt: skip
    return draw(st.sampled_from([
        ref, f"{ref} / 10 * 10", f"CASE WHEN {ref} < 40 THEN 'young' ELSE 'old' END",
        f"CAST({ref} * 430 AS SMALLINT)", f"100 / ({ref} - 77)",
    ]))  # fmt: skip


@st.composite
def measure(draw: st.DrawFn, frm: From) -> str:
    rel = draw(st.sampled_from(frm.relations))
    ref = _column(rel, draw(st.sampled_from(MEASURES[rel.table])))
    shape = draw(st.integers(0, 9))
    number = draw(st.sampled_from(["2", "0.5", "1.1", "100", "3"]))
    if shape == 0:
        return f"{ref} * {number}"
    if shape == 1:
        return f"{ref} + {draw(measure(frm))}"
    if shape == 2:
        return f"CASE WHEN {draw(predicate(frm))} THEN {ref} ELSE {number} END"
    if shape == 3:
        return f"LEAST({ref}, {number})"
    if shape == 4:
        return f"ABS({ref} - {number})"
    if shape == 5:
        return f"ROUND({ref}, {draw(st.integers(0, 3))})"
    if shape == 6:
        kind = draw(st.sampled_from(["INTEGER", "SMALLINT", "TINYINT", "DOUBLE"]))
        return f"CAST({ref} AS {kind})"
    if shape == 7:
        return f"COALESCE({ref}, 0) / {number}"
    return ref


@st.composite
def predicate(draw: st.DrawFn, frm: From, depth: int = 0) -> str:
    shape = draw(st.integers(0, 9 if depth < 2 else 6))
    ref, name = draw(dimension(frm))
    if shape == 0:
        return f"{ref} = {draw(STRINGS) if name in TEXT_COLUMNS else draw(NUMBERS)}"
    if shape == 1:
        rel = draw(st.sampled_from(frm.relations))
        return f"{_column(rel, draw(st.sampled_from(MEASURES[rel.table])))} > {draw(NUMBERS)}"
    if shape == 2:
        literals = STRINGS if name in TEXT_COLUMNS else NUMBERS
        values = draw(st.lists(literals, min_size=1, max_size=4))
        return f"{ref} IN ({', '.join(values)})"
    if shape == 3:
        return f"{ref} IS {draw(st.sampled_from(['NULL', 'NOT NULL']))}"
    if shape == 4:
        return f"CAST({ref} AS INTEGER) = {draw(NUMBERS)}"
    if shape == 5:
        if name in TEXT_COLUMNS:
            return f"{ref} LIKE {draw(STRINGS)}"
        return f"{ref} * 9223372036854775807 > 0"
    if shape == 6:
        if name == "age":
            return f"100 / (CAST({ref} AS BIGINT) - 77) <> 0"
        return f"NOT ({ref} IS NULL)"
    if shape == 7:
        return f"NOT ({draw(predicate(frm, depth + 1))})"
    op = draw(st.sampled_from(["AND", "OR"]))
    return f"({draw(predicate(frm, depth + 1))} {op} {draw(predicate(frm, depth + 1))})"


@st.composite
def aggregate(draw: st.DrawFn, frm: From) -> str:
    shape = draw(st.integers(0, 9))
    unit = next(r for r in frm.relations if r.table != "products")
    if shape == 0:
        return "COUNT(*)"
    if shape == 1:
        ref, _ = draw(dimension(frm))
        return f"COUNT({ref})"
    if shape == 2:
        return f"COUNT(DISTINCT {unit.alias}.loyalty_number)"
    name = draw(st.sampled_from(["SUM", "AVG", "VARIANCE", "STDDEV", "VAR_POP", "STDDEV_POP"]))
    return f"{name}({draw(measure(frm))})"


FORBIDDEN = (
    "MAX({m})", "MIN({m})", "{u}.loyalty_number", "random()", "(SELECT 1)",
    "SUM({m}) OVER ()", "median({m})", "{u}.*",
)  # fmt: skip


@st.composite
def queries(draw: st.DrawFn) -> str:
    frm = draw(froms())
    keys = draw(st.lists(key(frm), max_size=3, unique=True))
    aggregates = draw(st.lists(aggregate(frm), min_size=1, max_size=3))
    items = list(keys) + aggregates
    if draw(st.booleans()):
        items.append(draw(st.sampled_from([f"{aggregates[0]} * 2", f"ROUND({aggregates[0]}, 1)",
                                           f"{aggregates[0]} / NULLIF(COUNT(*), 0)"])))  # fmt: skip
    if draw(st.integers(0, 9)) == 0:  # something that must be refused
        unit = next(r for r in frm.relations if r.table != "products")
        bad = draw(st.sampled_from(FORBIDDEN))
        items.append(bad.format(m=draw(measure(frm)), u=unit.alias))
    items = draw(st.permutations(items))
    sql = f"SELECT {', '.join(items)} FROM {frm.text}"
    if draw(st.booleans()):
        sql += f" WHERE {draw(predicate(frm))}"
    if keys:
        by = [str(items.index(k) + 1) if draw(st.booleans()) else k for k in keys]
        sql += f" GROUP BY {', '.join(by)}"
    if draw(st.integers(0, 3)) == 0:
        sql += f" HAVING {aggregates[0]} > {draw(NUMBERS)}"
    if draw(st.integers(0, 3)) == 0:
        sql += f" ORDER BY {len(items)} {draw(st.sampled_from(['ASC', 'DESC']))}"
    if draw(st.integers(0, 3)) == 0:
        sql += f" LIMIT {draw(st.integers(0, 5))}"
    return sql
