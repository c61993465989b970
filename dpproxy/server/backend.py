"""One client session: frontend messages in, backend messages out.

``Backend.handle`` is synchronous and blocking (it calls the DP pipeline), so the
server runs it in its thread pool; it does no socket IO. A DP query runs once per
portal: the noise is drawn and the budget charged at the first Execute, and later
Executes of a suspended portal hand out the remaining rows of that same answer.
Describe never executes a DP query: it parses, checks and types it only.

``lane`` tells the server where a message may run: on the engine threads when it can
reach the DP pipeline, on the small pool of free statements (catalog, SET, SHOW...)
otherwise, or right on the event loop for bookkeeping (Sync, Close). Every message
that carries SQL is measured against ``max_query_length`` before it is tokenized, and
prepared statements and portals are capped per connection.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
from enum import Enum
from typing import TYPE_CHECKING, Any

from dpproxy.engine import CancelToken, cancellable
from dpproxy.errors import DPProxyError, InternalError, QueryLimitExceeded
from dpproxy.server import chatter, notices, params, types
from dpproxy.server.catalog import CatalogEngine, SessionContext
from dpproxy.server.errors import ServerError, Shifted, internal
from dpproxy.server.messages import (
    Backend as BackendMessage,
)
from dpproxy.server.messages import (
    BackendKeyData,
    Bind,
    BindComplete,
    Close,
    CloseComplete,
    CommandComplete,
    CopyMessage,
    Describe,
    EmptyQueryResponse,
    ErrorResponse,
    Execute,
    Flush,
    Frontend,
    FunctionCall,
    NoData,
    ParameterDescription,
    Parse,
    ParseComplete,
    PortalSuspended,
    Query,
    ReadyForQuery,
    Sync,
)
from dpproxy.server.params import BoundSQL
from dpproxy.server.results import Column, Outcome, data_rows, result_formats, row_description
from dpproxy.server.statements import (
    Kind,
    Piece,
    Portal,
    Statement,
    classify,
    explain_request,
    split,
    tree_of,
)
from dpproxy.sqlstate import SQLState

if TYPE_CHECKING:
    from dpproxy.proxy import Proxy

_DUMMY = {types.INT2.oid: 1, types.INT4.oid: 1, types.INT8.oid: 1, types.FLOAT4.oid: 1.0,
          types.FLOAT8.oid: 1.0, types.NUMERIC.oid: 1.0, types.BOOL.oid: True,
          types.OID.oid: 1, types.DATE.oid: datetime.date(2000, 1, 1),
          types.TIMESTAMP.oid: datetime.datetime(2000, 1, 1),
          types.TIMESTAMPTZ.oid: datetime.datetime(2000, 1, 1)}  # fmt: skip


class Lane(Enum):
    """Where the server runs a message."""

    LOOP = "loop"  # bookkeeping only: on the event loop
    FREE = "free"  # catalog and session statements: the free pool, short time limit
    ENGINE = "engine"  # may run the DP pipeline: the engine workers


_LANES = {Kind.EMPTY: Lane.LOOP, Kind.SESSION: Lane.FREE, Kind.CATALOG: Lane.FREE,
          Kind.EXPLAIN: Lane.ENGINE, Kind.QUERY: Lane.ENGINE}  # fmt: skip


class Backend:
    """The state of one authenticated connection."""

    def __init__(
        self, proxy: Proxy, catalog: CatalogEngine, user: str, database: str, key: tuple[int, int]
    ) -> None:
        self.proxy = proxy
        self.session = proxy.session(user)
        self.catalog = catalog
        self.key = key
        self.state = chatter.SessionState(user)
        self.context = SessionContext(user, database, key[0])
        self.statements: dict[str, Statement] = {}
        self.portals: dict[str, Portal] = {}
        self._lock = threading.Lock()
        self._token: CancelToken | None = None
        self._bound: BoundSQL | None = None  # the text error positions refer to
        config = proxy.policies.config
        self.max_query_length = config.queries.max_query_length
        self.max_statements = config.server.max_prepared_statements
        self.max_portals = config.server.max_portals
        self._routed: tuple[str, list[Piece], dict[str, Kind]] | None = None  # from ``lane``

    def startup(self) -> list[BackendMessage]:
        return [*self.state.startup_status(), BackendKeyData(*self.key), self._ready()]

    def cancel(self, reason: str = "canceling statement due to user request") -> None:
        """Interrupt the running query, if any (called from the event loop's thread)."""
        with self._lock:
            if self._token is not None:
                self._token.cancel(reason)

    def lane(self, message: Frontend) -> Lane:
        """Where ``handle(message)`` may run. Classifying SQL parses it, so for Query and
        Parse call this off the event loop; what it learns is kept for ``handle``."""
        self._routed = None
        match message:
            case Query(sql) | Parse(sql=sql):
                if len(sql) > self.max_query_length:
                    return Lane.LOOP  # refused before tokenizing
                pieces = split(sql)
                kinds: dict[str, Kind] = {}
                for piece in pieces:
                    with contextlib.suppress(DPProxyError):  # ``handle`` reports it
                        kinds[piece.text] = classify(piece.text)
                self._routed = (sql, pieces, kinds)
                lanes = {_LANES[kind] for kind in kinds.values()} or {Lane.FREE}
                return Lane.ENGINE if Lane.ENGINE in lanes else Lane.FREE
            case Bind(statement=name) | Describe("S", name):
                statement = self.statements.get(name)
                return Lane.LOOP if statement is None else _LANES[statement.kind]
            case Describe("P", name) | Execute(name):
                portal = self.portals.get(name)
                return Lane.LOOP if portal is None else _LANES[portal.statement.kind]
        return Lane.LOOP

    def handle(self, message: Frontend) -> list[BackendMessage]:
        self._bound = None
        try:
            return self._dispatch(message)
        except DPProxyError as exc:
            return [self._error(exc, self._bound, 0)]
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the connection
            return [self._error(internal(exc), None, 0)]

    def _dispatch(self, message: Frontend) -> list[BackendMessage]:
        match message:
            case Query(sql) if len(sql) > self.max_query_length:
                return [self._error(self._too_long(sql), None, 0), self._ready()]
            case Parse(sql=sql) if len(sql) > self.max_query_length:
                raise self._too_long(sql)
            case Query(sql):
                return self._simple(sql)
            case Parse():
                return self._parse(message)
            case Bind():
                return self._bind(message)
            case Describe(kind, name):
                return (
                    self._describe_statement(name) if kind == "S" else self._describe_portal(name)
                )
            case Execute(portal, max_rows):
                return self._execute(portal, max_rows)
            case Close(kind, name):
                if kind == "S":
                    self.statements.pop(name, None)
                else:
                    self.portals.pop(name, None)
                return [CloseComplete()]
            case Sync():
                self.portals.pop("", None)
                return [self._ready()]
            case Flush() | CopyMessage():
                return []
            case FunctionCall():
                raise ServerError(
                    SQLState.FEATURE_NOT_SUPPORTED, "the function call protocol is not supported"
                )
        raise ServerError(
            SQLState.PROTOCOL_VIOLATION, f"unexpected message {type(message).__name__}"
        )

    def _too_long(self, sql: str) -> QueryLimitExceeded:
        return QueryLimitExceeded(
            f"query text is {len(sql)} characters long; the limit is {self.max_query_length}"
        )

    # -- simple query ---------------------------------------------------------------

    def _simple(self, sql: str) -> list[BackendMessage]:
        out: list[BackendMessage] = []
        for piece in self._split(sql):
            bound = BoundSQL(piece.text)
            try:
                kind = self._kind(piece.text)
                if kind is Kind.EMPTY:
                    out.append(EmptyQueryResponse())
                    continue
                if params.placeholders(piece.text):
                    raise ServerError(  # as PostgreSQL: 42P02, not a protocol error
                        SQLState.UNDEFINED_PARAMETER, "there is no parameter $1"
                    )
                outcome = self._run(kind, bound)
            except DPProxyError as exc:
                out.append(self._error(exc, bound, piece.offset))
                break
            except Exception as exc:  # noqa: BLE001
                out.append(self._error(internal(exc), None, 0))
                break
            out += self._outcome_messages(outcome, (), header=True)
            out.append(CommandComplete(outcome.tag))
        out.append(self._ready())
        return out

    def _kind(self, sql: str) -> Kind:
        if self.state.transaction == "E" and not chatter.ends_failed_transaction(sql):
            raise ServerError(
                SQLState.IN_FAILED_SQL_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            )
        routed = self._routed
        if routed is not None and sql in routed[2]:
            return routed[2][sql]
        return classify(sql)

    def _split(self, sql: str) -> list[Piece]:
        routed = self._routed
        return routed[1] if routed is not None and routed[0] == sql else split(sql)

    # -- extended query -------------------------------------------------------------

    def _parse(self, message: Parse) -> list[BackendMessage]:
        if message.statement and message.statement in self.statements:
            raise ServerError(
                SQLState.DUPLICATE_PREPARED_STATEMENT,
                f'prepared statement "{message.statement}" already exists',
            )
        if message.statement not in self.statements and len(self.statements) >= self.max_statements:
            raise ServerError(
                SQLState.PROGRAM_LIMIT_EXCEEDED,
                f"too many prepared statements: the limit is {self.max_statements} per "
                "connection (close or DEALLOCATE some)",
            )
        pieces = self._split(message.sql)
        if len(pieces) > 1:
            raise ServerError(
                SQLState.SYNTAX_ERROR, "cannot insert multiple commands into a prepared statement"
            )
        self._bound = BoundSQL(message.sql)
        kind = self._kind(message.sql)
        declared = message.param_types
        if kind is Kind.QUERY:
            oids = params.infer_types(message.sql, declared, self.proxy.catalog)
        else:
            count = max([p.index for p in params.placeholders(message.sql)] + [len(declared)],
                        default=0)  # fmt: skip
            oids = tuple(declared[i] if i < len(declared) and declared[i] else types.TEXT.oid
                         for i in range(count))  # fmt: skip
        statement = Statement(message.sql, kind, oids)
        if kind is Kind.QUERY and not oids:
            statement.columns = self._columns(kind, BoundSQL(message.sql))  # rejections now
            statement.described = True
        self.statements[message.statement] = statement
        return [ParseComplete()]

    def _bind(self, message: Bind) -> list[BackendMessage]:
        statement = self._statement(message.statement)
        if message.portal and message.portal in self.portals:
            raise ServerError(
                SQLState.DUPLICATE_CURSOR, f'portal "{message.portal}" already exists'
            )
        if message.portal not in self.portals and len(self.portals) >= self.max_portals:
            raise ServerError(
                SQLState.PROGRAM_LIMIT_EXCEEDED,
                f"too many portals: the limit is {self.max_portals} per connection (close some)",
            )
        count = len(statement.param_types)
        if len(message.params) != count:
            raise ServerError(
                SQLState.PROTOCOL_VIOLATION,
                f"bind message supplies {len(message.params)} parameters, "
                f"but prepared statement requires {count}",
            )
        formats = message.param_formats
        if len(formats) not in (0, 1, count):
            raise ServerError(
                SQLState.PROTOCOL_VIOLATION, "bind message has a wrong number of parameter formats"
            )
        values = [
            types.decode_param(oid, formats[i] if len(formats) > 1 else (formats or (0,))[0], data)
            for i, (oid, data) in enumerate(zip(statement.param_types, message.params, strict=True))
        ]
        bound = params.bind(statement.sql, values) if count else BoundSQL(statement.sql)
        portal = Portal(statement, bound, message.result_formats)
        if statement.described and not count:
            portal.columns, portal.described = statement.columns, True
        self.portals[message.portal] = portal
        return [BindComplete()]

    def _describe_statement(self, name: str) -> list[BackendMessage]:
        statement = self._statement(name)
        if not statement.described:
            dummies: list[Any] = [None] * len(statement.param_types)  # catalog: NULL binds anywhere
            if statement.kind is not Kind.CATALOG:
                dummies = [_DUMMY.get(oid, "") for oid in statement.param_types]
            self._bound = BoundSQL(statement.sql)  # positions in the dummy-bound text differ
            statement.columns = self._columns(statement.kind, params.bind(statement.sql, dummies))
            statement.described = True
        out: list[BackendMessage] = [ParameterDescription(statement.param_types)]
        columns = statement.columns
        out.append(NoData() if columns is None else row_description(columns, (0,) * len(columns)))
        return out

    def _describe_portal(self, name: str) -> list[BackendMessage]:
        portal = self._portal(name)
        self._bound = portal.bound
        if not portal.described:
            portal.columns = self._columns(portal.statement.kind, portal.bound)
            portal.described = True
        if portal.columns is None:
            return [NoData()]
        formats = result_formats(len(portal.columns), portal.result_formats)
        return [row_description(portal.columns, formats)]

    def _execute(self, name: str, max_rows: int) -> list[BackendMessage]:
        portal = self._portal(name)
        self._bound = portal.bound
        kind = portal.statement.kind
        if kind is Kind.EMPTY:
            return [EmptyQueryResponse()]
        out: list[BackendMessage] = []
        if portal.outcome is None:
            portal.outcome = self._run(kind, portal.bound)
            out += self._outcome_messages(portal.outcome, (), header=False)
        outcome = portal.outcome
        if outcome.columns is None:
            return [*out, CommandComplete(outcome.tag)]
        formats = result_formats(len(outcome.columns), portal.result_formats)
        end = len(outcome.rows) if max_rows <= 0 else min(portal.sent + max_rows, len(outcome.rows))
        out += data_rows(outcome.columns, outcome.rows[portal.sent : end], formats)
        portal.sent = end
        if end < len(outcome.rows):
            return [*out, PortalSuspended()]
        return [*out, CommandComplete(outcome.tag)]

    def _statement(self, name: str) -> Statement:
        if name not in self.statements:
            raise ServerError(
                SQLState.INVALID_SQL_STATEMENT_NAME, f'prepared statement "{name}" does not exist'
            )
        return self.statements[name]

    def _portal(self, name: str) -> Portal:
        if name not in self.portals:
            raise ServerError(SQLState.INVALID_CURSOR_NAME, f'portal "{name}" does not exist')
        return self.portals[name]

    # -- running statements ---------------------------------------------------------

    def _columns(self, kind: Kind, bound: BoundSQL) -> tuple[Column, ...] | None:
        """Output columns without executing a DP query, drawing noise or charging."""
        match kind:
            case Kind.QUERY:
                return tuple(
                    Column(o.name, types.pg_type(o.sql_type))
                    for o in self.session.describe(bound.sql)
                )
            case Kind.CATALOG:
                return self.catalog.run(tree_of(bound.sql), self.context).columns
            case Kind.SESSION:
                return chatter.describe(bound.sql)
            case Kind.EXPLAIN:
                return notices.PLAN
        return None

    def _run(self, kind: Kind, bound: BoundSQL) -> Outcome:
        match kind:
            case Kind.QUERY:
                return self._dp_query(bound.sql)
            case Kind.CATALOG:
                return self.catalog.run(tree_of(bound.sql), self.context)
            case Kind.SESSION:
                return self._session_statement(bound.sql)
            case Kind.EXPLAIN:
                request = explain_request(bound.sql)
                try:
                    explanation = self.session.explain(request.inner, self.state.epsilon)
                except DPProxyError as exc:
                    raise Shifted(exc, request.inner_offset) from None
                return notices.explain_outcome(explanation, request.json)
        raise InternalError(f"no runner for {kind}")

    def _session_statement(self, sql: str) -> Outcome:
        words = sql.split()
        head = words[0].upper()
        if head == "DISCARD":
            what = " ".join(words[1:]).upper().rstrip(";").strip()
            if what not in ("ALL", "PLANS", "SEQUENCES", "TEMP", "TEMPORARY"):
                raise ServerError(
                    SQLState.SYNTAX_ERROR, "DISCARD needs ALL, PLANS, SEQUENCES or TEMP"
                )
            if what == "ALL":
                if self.state.transaction != "I":
                    raise ServerError(
                        SQLState.ACTIVE_SQL_TRANSACTION,
                        "DISCARD ALL cannot run inside a transaction block",
                    )
                self.state.settings.clear()
                self.state.epsilon = None
                self.statements.clear()
                self.portals.clear()
            return Outcome(None, [], f"DISCARD {what}")
        if head == "DEALLOCATE":
            names = [w for w in words[1:] if w.upper() != "PREPARE"]
            if len(names) != 1:
                raise ServerError(SQLState.SYNTAX_ERROR, "DEALLOCATE needs a statement name or ALL")
            name = names[0].rstrip(";").strip('"')
            if name.upper() == "ALL":
                self.statements.clear()
                return Outcome(None, [], "DEALLOCATE ALL")
            if self.statements.pop(name, None) is None:
                raise ServerError(
                    SQLState.INVALID_SQL_STATEMENT_NAME,
                    f'prepared statement "{name}" does not exist',
                )
            return Outcome(None, [], "DEALLOCATE")
        return chatter.run(sql, self.state, self.session)

    def _dp_query(self, sql: str) -> Outcome:
        described = self.session.describe(sql)  # types for the RowDescription
        token = CancelToken()
        with self._lock:
            self._token = token
        timeout = self.state.statement_timeout()
        timer = None
        if timeout is not None:
            timer = threading.Timer(
                timeout, token.cancel, ["canceling statement due to statement timeout"]
            )
            timer.daemon = True
            timer.start()
        try:
            with cancellable(token):
                result = self.session.query(sql, epsilon=self.state.epsilon)
        finally:
            if timer is not None:
                timer.cancel()
            with self._lock:
                self._token = None
        if len(described) != len(result.columns):
            raise InternalError("described columns do not match the result")
        columns = tuple(
            Column(name, types.pg_type(o.sql_type))
            for name, o in zip(result.columns, described, strict=True)
        )
        count = len(result.rows)
        return Outcome(columns, result.rows, f"SELECT {count}", notices.result_notices(result))

    def _outcome_messages(
        self, outcome: Outcome, formats: tuple[int, ...], *, header: bool
    ) -> list[BackendMessage]:
        out: list[BackendMessage] = [*outcome.notices, *outcome.parameter_status]
        if header and outcome.columns is not None:
            text = result_formats(len(outcome.columns), formats)
            out.append(row_description(outcome.columns, text))
            out += data_rows(outcome.columns, outcome.rows, text)
        return out

    def _ready(self) -> ReadyForQuery:
        return ReadyForQuery(self.state.transaction)

    def _error(self, exc: DPProxyError, bound: BoundSQL | None, offset: int) -> ErrorResponse:
        if self.state.transaction == "T":
            self.state.transaction = "E"
        position = None
        shift = 0
        if isinstance(exc, Shifted):
            shift = exc.offset
            exc = exc.error
        if exc.position is not None and bound is not None:
            position = bound.original_position(exc.position + shift) + offset
        return ErrorResponse("ERROR", exc.sqlstate, exc.message, exc.detail, position=position)
