"""Session chatter: SET, SHOW, RESET, transaction control, DISCARD, DEALLOCATE.

Drivers send these on connect and around every unit of work; none of them touches data
or the budget. dpproxy has no transactions (a charge is final the moment a result
leaves), so BEGIN/COMMIT/ROLLBACK only track the status clients expect in ReadyForQuery,
including PostgreSQL's failed-transaction state after an error inside a block.

``SET dpproxy.epsilon = 0.5`` sets the epsilon of every later query of the session;
``SHOW dpproxy.budget`` lists the analyst's remaining budget per privacy domain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import Token, TokenType

from dpproxy.parse import DIALECT
from dpproxy.server import types
from dpproxy.server.errors import ServerError
from dpproxy.server.messages import NoticeResponse, ParameterStatus
from dpproxy.server.results import Column, Outcome
from dpproxy.sqlstate import SQLState

if TYPE_CHECKING:
    from dpproxy.api import Session

SERVER_VERSION = "15.0 (dpproxy 0.1.0)"
KEYWORDS = frozenset(
    [
        "SET",
        "RESET",
        "SHOW",
        "BEGIN",
        "START",
        "COMMIT",
        "END",
        "ROLLBACK",
        "ABORT",
        "DISCARD",
        "DEALLOCATE",
        "SAVEPOINT",
        "RELEASE",
        "UNLISTEN",
    ]
)


# name (lower case) -> (display name, default, reported to the client with ParameterStatus)
_PARAMETERS: dict[str, tuple[str, str, bool]] = {
    name.lower(): (name, default, reported)
    for name, default, reported in [
        ("application_name", "", True),
        ("client_encoding", "UTF8", True),
        ("DateStyle", "ISO, MDY", True),
        ("IntervalStyle", "postgres", True),
        ("TimeZone", "UTC", True),
        ("integer_datetimes", "on", True),
        ("standard_conforming_strings", "on", True),
        ("server_version", SERVER_VERSION, True),
        ("server_encoding", "UTF8", True),
        ("is_superuser", "off", True),
        ("session_authorization", "", True),
        ("default_transaction_read_only", "on", True),
        ("in_hot_standby", "off", True),
        ("extra_float_digits", "1", False),
        ("search_path", '"$user", public', False),
        ("statement_timeout", "0", False),
        ("lock_timeout", "0", False),
        ("idle_in_transaction_session_timeout", "0", False),
        ("transaction_isolation", "read committed", False),
        ("default_transaction_isolation", "read committed", False),
        ("transaction_read_only", "on", False),
        ("bytea_output", "hex", False),
        ("max_identifier_length", "63", False),
        ("client_min_messages", "notice", False),
        ("lc_messages", "C", False),
        ("lc_monetary", "C", False),
        ("lc_numeric", "C", False),
        ("lc_time", "C", False),
        ("datestyle", "ISO, MDY", False),
        ("row_security", "on", False),
        ("jit", "off", False),
        ("geqo", "on", False),
        ("work_mem", "4MB", False),
        ("max_index_keys", "32", False),
        ("server_version_num", "150000", False),
        ("timezone_abbreviations", "Default", False),
    ]
}
_READ_ONLY = frozenset({"server_version", "server_encoding", "integer_datetimes",
                        "is_superuser", "max_identifier_length", "server_version_num",
                        "in_hot_standby", "session_authorization"})  # fmt: skip
_UTF8 = frozenset({"utf8", "utf-8", "unicode"})


@dataclass
class SessionState:
    """What a connection remembers between statements."""

    user: str
    settings: dict[str, str] = field(default_factory=dict)  # lower-case name -> value
    epsilon: float | None = None  # SET dpproxy.epsilon
    transaction: str = "I"  # ReadyForQuery status: I, T or E

    def get(self, name: str) -> str:
        key = name.lower()
        if key in self.settings:
            return self.settings[key]
        if key == "session_authorization":
            return self.user
        return _PARAMETERS[key][1]

    def startup_status(self) -> list[ParameterStatus]:
        return [
            ParameterStatus(display, self.get(key))
            for key, (display, _default, reported) in _PARAMETERS.items()
            if reported
        ]

    def statement_timeout(self) -> float | None:
        """Seconds, or None when unset (the policy's own limit still applies)."""
        millis = _duration_ms(self.get("statement_timeout"))
        return millis / 1000 if millis > 0 else None


def is_session_statement(first_word: str) -> bool:
    return first_word.upper() in KEYWORDS


def run(sql: str, state: SessionState, session: Session) -> Outcome:
    """Execute one chatter statement (the caller checked ``is_session_statement``)."""
    words = _words(sql)
    head = words[0].upper()
    if head in ("SET", "RESET"):
        return _set(words, state) if head == "SET" else _reset(words, state)
    if head == "SHOW":
        return _show(words, state, session)
    if head in ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"):
        return _transaction(head, words, state)
    if head == "UNLISTEN":
        return Outcome(None, [], "UNLISTEN")
    raise ServerError(SQLState.FEATURE_NOT_SUPPORTED, f"{head} is not supported by dpproxy")


def describe(sql: str) -> tuple[Column, ...] | None:
    """The columns a chatter statement returns (only SHOW returns rows)."""
    words = _words(sql)
    if words[0].upper() != "SHOW":
        return None
    return _show_columns(words)


def _words(sql: str) -> list[str]:
    try:
        tokens = DIALECT.tokenize(sql)
    except TokenError:
        raise ServerError(SQLState.SYNTAX_ERROR, "syntax error in session statement") from None
    words = [_word(t) for t in tokens if t.token_type != TokenType.SEMICOLON]
    if not words:
        raise ServerError(SQLState.SYNTAX_ERROR, "empty statement")
    return words


def _word(token: Token) -> str:
    return str(token.text)


def _set(words: list[str], state: SessionState) -> Outcome:
    rest = words[1:]
    if rest and rest[0].upper() in ("SESSION", "LOCAL"):
        if len(rest) > 1 and rest[1].upper() == "AUTHORIZATION":
            raise ServerError(
                SQLState.INSUFFICIENT_PRIVILEGE, "permission denied to set session authorization"
            )
        rest = rest[1:]
    if not rest:
        raise ServerError(SQLState.SYNTAX_ERROR, "syntax error at end of input")
    upper = [w.upper() for w in rest]
    if upper[0] in ("TRANSACTION", "CHARACTERISTICS"):
        return Outcome(None, [], "SET")  # isolation and access modes: every query reads only
    if upper[0] == "ROLE":
        raise ServerError(SQLState.INSUFFICIENT_PRIVILEGE, "permission denied to set role")
    if upper[:2] == ["TIME", "ZONE"]:
        name, values = "timezone", rest[2:]
    elif upper[0] == "NAMES":
        name, values = "client_encoding", rest[1:]
    else:
        name, values = _dotted(rest)
        if values and values[0].upper() in ("TO", "="):
            values = values[1:]
    if not values:
        raise ServerError(SQLState.SYNTAX_ERROR, f"SET {name}: a value is required")
    value = ", ".join(values) if name.lower() in ("search_path", "datestyle") else " ".join(values)
    if value.upper() in ("DEFAULT", "LOCAL"):
        return _reset(["RESET", name], state)
    return _assign(name, value, state)


def apply_startup_options(options: str, state: SessionState) -> None:
    """The startup packet's ``options`` (``PGOPTIONS='-c dpproxy.epsilon=0.3'``), applied as
    SET would apply them: each ``-c name=value`` or ``--name=value``; anything else, or a
    setting SET would refuse, raises (the connection is refused: never ignored)."""
    for name, value in _startup_settings(options):
        _assign(name, value, state)


def _startup_settings(options: str) -> list[tuple[str, str]]:
    words = _split_options(options)
    settings = []
    while words:
        word = words.pop(0)
        if word == "-c" and words:
            word = words.pop(0)
        elif word.startswith("-c") or word.startswith("--"):
            word = word[2:]
        else:
            raise ServerError(
                SQLState.INVALID_PARAMETER_VALUE,
                f"invalid command-line argument in startup options: {word!r} "
                "(dpproxy accepts -c name=value and --name=value)",
            )
        name, equals, value = word.partition("=")
        if not equals or not name:
            raise ServerError(
                SQLState.SYNTAX_ERROR, f"-c {word}: expected name=value in startup options"
            )
        settings.append((name.replace("-", "_"), value))
    return settings


def _split_options(options: str) -> list[str]:
    """Split on unescaped spaces; a backslash keeps the next character (as libpq's)."""
    words, current, escaped, started = [], [], False, False
    for char in options:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped, started = True, True
        elif char.isspace():
            if started:
                words.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
            started = True
    if started:
        words.append("".join(current))
    return words


def _dotted(words: list[str]) -> tuple[str, list[str]]:
    """``dpproxy . epsilon`` arrives as three tokens: join a dotted parameter name."""
    name, rest = words[0], words[1:]
    while len(rest) >= 2 and rest[0] == ".":
        name, rest = f"{name}.{rest[1]}", rest[2:]
    return name, [w for w in rest if w != ","]


def _assign(name: str, value: str, state: SessionState) -> Outcome:
    key = name.lower()
    if key == "dpproxy.epsilon":
        try:
            epsilon = float(value)
        except ValueError:
            epsilon = float("nan")
        if not epsilon > 0 or epsilon == float("inf"):
            raise ServerError(
                SQLState.INVALID_PARAMETER_VALUE,
                f"dpproxy.epsilon must be a positive number, got {value!r}",
            )
        state.epsilon = epsilon
        return Outcome(None, [], "SET")
    if key.startswith("dpproxy."):
        raise ServerError(
            SQLState.UNDEFINED_OBJECT, f'unrecognized or read-only parameter "{name}"'
        )
    if "." in key:
        state.settings[key] = value  # a custom placeholder parameter, as PostgreSQL allows
        return Outcome(None, [], "SET")
    if key not in _PARAMETERS:
        raise ServerError(
            SQLState.UNDEFINED_OBJECT, f'unrecognized configuration parameter "{name}"'
        )
    if key in _READ_ONLY:
        raise ServerError(
            SQLState.CANT_CHANGE_RUNTIME_PARAM, f'parameter "{name}" cannot be changed'
        )
    if key == "client_encoding" and value.lower() not in _UTF8:
        raise ServerError(
            SQLState.INVALID_PARAMETER_VALUE, f"dpproxy speaks UTF8 only, not {value!r}"
        )
    if key == "standard_conforming_strings" and value.lower() not in ("on", "true", "1"):
        raise ServerError(
            SQLState.INVALID_PARAMETER_VALUE, "standard_conforming_strings cannot be turned off"
        )
    if key == "statement_timeout":
        _duration_ms(value)  # validates
    if key == "client_encoding":
        value = "UTF8"
    state.settings[key] = value
    display, _default, reported = _PARAMETERS[key]
    status = (ParameterStatus(display, value),) if reported else ()
    return Outcome(None, [], "SET", parameter_status=status)


def _reset(words: list[str], state: SessionState) -> Outcome:
    if len(words) < 2:
        raise ServerError(SQLState.SYNTAX_ERROR, "RESET needs a parameter name or ALL")
    name, _ = _dotted(words[1:])
    key = name.lower()
    if key == "all":
        state.settings.clear()
        state.epsilon = None
        return Outcome(None, [], "RESET")
    if key == "dpproxy.epsilon":
        state.epsilon = None
    elif (key in _PARAMETERS and key not in _READ_ONLY) or (
        "." in key and not key.startswith("dpproxy.")
    ):
        state.settings.pop(key, None)
    else:
        raise ServerError(
            SQLState.UNDEFINED_OBJECT, f'unrecognized configuration parameter "{name}"'
        )
    return Outcome(None, [], "RESET")


def _show_columns(words: list[str]) -> tuple[Column, ...]:
    name = _show_name(words)
    if name == "all":
        return (Column("name", types.TEXT), Column("setting", types.TEXT),
                Column("description", types.TEXT))  # fmt: skip
    if name == "dpproxy.budget":
        return (
            Column("domain", types.TEXT),
            *tuple(
                Column(c, types.FLOAT8)
                for c in (
                    "epsilon_budget",
                    "epsilon_spent",
                    "epsilon_remaining",
                    "delta_budget",
                    "delta_spent",
                    "delta_remaining",
                )
            ),
        )
    return (Column(name, types.TEXT),)


def _show_name(words: list[str]) -> str:
    phrase = " ".join(" ".join(words[1:]).upper().split())
    if phrase == "TIME ZONE":
        return "timezone"
    if phrase == "TRANSACTION ISOLATION LEVEL":
        return "transaction_isolation"
    if not phrase:
        raise ServerError(SQLState.SYNTAX_ERROR, "SHOW needs a parameter name")
    return _dotted(words[1:])[0].lower()


def _show(words: list[str], state: SessionState, session: Session) -> Outcome:
    columns = _show_columns(words)
    name = _show_name(words)
    if name == "all":
        rows = [(display, state.get(key), "") for key, (display, _d, _r) in _PARAMETERS.items()]
        rows.append(("dpproxy.epsilon", _epsilon_text(state, session), "epsilon per query"))
        return Outcome(columns, rows, "SHOW")
    if name == "dpproxy.budget":
        budget_rows = [
            (
                b.domain,
                b.epsilon_budget,
                b.epsilon_spent,
                b.epsilon_remaining,
                b.delta_budget,
                b.delta_spent,
                b.delta_remaining,
            )
            for b in session.budget()
        ]
        return Outcome(columns, list(budget_rows), "SHOW")
    if name == "dpproxy.epsilon":
        return Outcome(columns, [(_epsilon_text(state, session),)], "SHOW")
    if name in state.settings or name in _PARAMETERS:
        return Outcome(columns, [(state.get(name),)], "SHOW")
    raise ServerError(SQLState.UNDEFINED_OBJECT, f'unrecognized configuration parameter "{name}"')


def _epsilon_text(state: SessionState, session: Session) -> str:
    if state.epsilon is not None:
        return f"{state.epsilon:g}"
    return f"{session.proxy.policies.config.queries.default_epsilon:g}"


def _transaction(head: str, words: list[str], state: SessionState) -> Outcome:
    upper = [w.upper() for w in words]
    notices: tuple[NoticeResponse, ...] = ()
    if head in ("BEGIN", "START"):
        if state.transaction != "I":
            notices = (
                _warning(
                    SQLState.ACTIVE_SQL_TRANSACTION, "there is already a transaction in progress"
                ),
            )
        else:
            state.transaction = "T"
        return Outcome(None, [], "BEGIN" if head == "BEGIN" else "START TRANSACTION", notices)
    if head in ("SAVEPOINT", "RELEASE"):
        if state.transaction == "I":
            raise ServerError(
                SQLState.NO_ACTIVE_SQL_TRANSACTION, f"{head} can only be used in transaction blocks"
            )
        return Outcome(None, [], head)
    if head in ("ROLLBACK", "ABORT") and "TO" in upper:
        if state.transaction == "I":
            raise ServerError(
                SQLState.NO_ACTIVE_SQL_TRANSACTION,
                "ROLLBACK TO SAVEPOINT can only be used in transaction blocks",
            )
        state.transaction = "T"
        return Outcome(None, [], "ROLLBACK")
    if state.transaction == "I":
        notices = (
            _warning(SQLState.NO_ACTIVE_SQL_TRANSACTION, "there is no transaction in progress"),
        )
    failed = state.transaction == "E"
    state.transaction = "I"
    tag = "COMMIT" if head in ("COMMIT", "END") and not failed else "ROLLBACK"
    return Outcome(None, [], tag, notices)


def ends_failed_transaction(sql: str) -> bool:
    """Statements allowed in a failed transaction block: COMMIT, ROLLBACK and friends."""
    try:
        words = _words(sql)
    except ServerError:
        return False
    return words[0].upper() in ("COMMIT", "END", "ROLLBACK", "ABORT")


def _warning(sqlstate: str, message: str) -> NoticeResponse:
    return NoticeResponse("WARNING", sqlstate, message)


_UNITS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def _duration_ms(value: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h|d)?\s*", value.strip("'\""))
    if match is None:
        raise ServerError(
            SQLState.INVALID_PARAMETER_VALUE, f"invalid value for a time parameter: {value!r}"
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "ms"]
