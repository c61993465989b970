"""PostgreSQL protocol 3.0 messages as plain frozen dataclasses.

Frontend messages are what a client sends (decoded by ``codec.decode_*``); backend
messages are what dpproxy sends (encoded by ``codec.encode``). No IO, no logic here:
the names and fields follow the PostgreSQL documentation, chapter "Message Formats".

>>> Query("SELECT 1").sql
'SELECT 1'
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------
# Startup-phase packets (no type byte)


@dataclass(frozen=True)
class StartupMessage:
    version: int
    parameters: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class SSLRequest:
    pass


@dataclass(frozen=True)
class GSSENCRequest:
    pass


@dataclass(frozen=True)
class CancelRequest:
    process_id: int
    secret_key: int


# ---------------------------------------------------------------------------------------
# Frontend messages


@dataclass(frozen=True)
class SASLInitialResponse:
    mechanism: str
    data: bytes


@dataclass(frozen=True)
class SASLResponse:
    data: bytes


@dataclass(frozen=True)
class Query:
    sql: str


@dataclass(frozen=True)
class Parse:
    statement: str
    sql: str
    param_types: tuple[int, ...]


@dataclass(frozen=True)
class Bind:
    portal: str
    statement: str
    param_formats: tuple[int, ...]
    params: tuple[bytes | None, ...]
    result_formats: tuple[int, ...]


@dataclass(frozen=True)
class Describe:
    kind: str  # 'S' statement or 'P' portal
    name: str


@dataclass(frozen=True)
class Execute:
    portal: str
    max_rows: int  # 0: no limit


@dataclass(frozen=True)
class Close:
    kind: str  # 'S' or 'P'
    name: str


@dataclass(frozen=True)
class Sync:
    pass


@dataclass(frozen=True)
class Flush:
    pass


@dataclass(frozen=True)
class Terminate:
    pass


@dataclass(frozen=True)
class CopyMessage:
    """CopyData, CopyDone or CopyFail outside COPY mode: ignored, as PostgreSQL does."""

    kind: str


@dataclass(frozen=True)
class FunctionCall:
    """The legacy fast-path function call: refused with an error."""


Frontend = (
    SASLInitialResponse
    | SASLResponse
    | Query
    | Parse
    | Bind
    | Describe
    | Execute
    | Close
    | Sync
    | Flush
    | Terminate
    | CopyMessage
    | FunctionCall
)

# ---------------------------------------------------------------------------------------
# Backend messages


@dataclass(frozen=True)
class AuthenticationOk:
    pass


@dataclass(frozen=True)
class AuthenticationSASL:
    mechanisms: tuple[str, ...]


@dataclass(frozen=True)
class AuthenticationSASLContinue:
    data: bytes


@dataclass(frozen=True)
class AuthenticationSASLFinal:
    data: bytes


@dataclass(frozen=True)
class ParameterStatus:
    name: str
    value: str


@dataclass(frozen=True)
class BackendKeyData:
    process_id: int
    secret_key: int


@dataclass(frozen=True)
class ReadyForQuery:
    status: str  # 'I' idle, 'T' in a transaction block, 'E' in a failed transaction block


@dataclass(frozen=True)
class FieldDescription:
    name: str
    type_oid: int
    type_size: int
    type_modifier: int = -1
    format: int = 0  # 0 text, 1 binary
    table_oid: int = 0
    column_number: int = 0


@dataclass(frozen=True)
class RowDescription:
    fields: tuple[FieldDescription, ...]


@dataclass(frozen=True)
class DataRow:
    values: tuple[bytes | None, ...]


@dataclass(frozen=True)
class CommandComplete:
    tag: str


@dataclass(frozen=True)
class EmptyQueryResponse:
    pass


@dataclass(frozen=True)
class ParseComplete:
    pass


@dataclass(frozen=True)
class BindComplete:
    pass


@dataclass(frozen=True)
class CloseComplete:
    pass


@dataclass(frozen=True)
class NoData:
    pass


@dataclass(frozen=True)
class PortalSuspended:
    pass


@dataclass(frozen=True)
class ParameterDescription:
    type_oids: tuple[int, ...]


@dataclass(frozen=True)
class ErrorResponse:
    """Fields by their one-letter codes: S severity, C SQLSTATE, M message, D detail,
    H hint, P position (1-based character offset into the query text)."""

    severity: str
    sqlstate: str
    message: str
    detail: str | None = None
    hint: str | None = None
    position: int | None = None


@dataclass(frozen=True)
class NoticeResponse:
    severity: str  # NOTICE, WARNING, INFO
    sqlstate: str
    message: str
    detail: str | None = None


Backend = (
    AuthenticationOk
    | AuthenticationSASL
    | AuthenticationSASLContinue
    | AuthenticationSASLFinal
    | ParameterStatus
    | BackendKeyData
    | ReadyForQuery
    | RowDescription
    | DataRow
    | CommandComplete
    | EmptyQueryResponse
    | ParseComplete
    | BindComplete
    | CloseComplete
    | NoData
    | PortalSuspended
    | ParameterDescription
    | ErrorResponse
    | NoticeResponse
)
