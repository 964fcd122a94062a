"""Hot-path statements compiled once and run as driver SQL.

A Core statement executed through SQLAlchemy pays, on every call, for
building the construct, its cache key, the compiled-cache lookup and the
parameter processing: about 100-150 us of Python per statement, several
times what SQLite itself needs for an insert.  The relay writes a handful of
rows per message (queue row, recipients, audit record, terms, events, then
the delivery's updates), so that overhead was most of the writer's time.

`Prepared` keeps the statement written in Core (so the SQL stays the schema's
and the dialect's), compiles it once per dialect to the driver's own SQL and
parameter order, and keeps each column's bind processor (SQLite stores
datetimes as text, for instance).  `run` then hands rows to
`exec_driver_sql` as one executemany: the driver's prepared statement, the
transaction of the connection it is given, and none of the per-call
compilation.  The values written are exactly what Core would write.

A transaction may also collect writes (`collect_writes`): `run_later`
then keeps the rows, and each statement's rows go out in one executemany
when something else needs them written.  The Writer's batch does this for
the queue's rows and the trail's: a batch of twenty messages then makes a
handful of statements, not a hundred (each one is a trip to the driver, a
network round trip on PostgreSQL, and about 100 us of Python there).  The
collected rows are written before any statement that is not collected
(`settle`: the Writer's connections call it first), so such a statement sees
the batch's writes as if each had run in place, and otherwise at the end
(`flush_writes`).  What the flush reorders is only the collected writes
among themselves: each statement's rows keep their order, the statements
go in the order first collected, so writes that commute (new rows, updates
of other rows) may be collected, and a row that needs another first must
be collected after it (a message's row before its recipients').

On PostgreSQL, inserts collected one after the other go as one statement:
each becomes `INSERT ... SELECT * FROM unnest($1::type[], ...)`, one array
per column, and all but the last sit in its WITH clause.  One round trip
for the batch's queue rows, one for its trail rows: each statement costs a
round trip and about 90 us of SQLAlchemy and asyncpg on the client, and its
parse, bind and execute on the server, which shares the machine's CPUs.
Inserts into different tables commute, and a foreign key is checked at the
end of the statement, when every row of it is in.

A statement of the flush's own may join the collected inserts in their
round trip (`settle_with` and a `Tail`: subqueries after the inserts', and
the primary query, whose rows it returns): the trail's link-and-insert does.

Work that must come last may wait for the flush too (`at_flush`): the
trail links its rows into the chain there, so the lock that serialises the
chain's writers is held for the end of the transaction only.  `settle`
leaves that work waiting; a writer operation that reads the trail back
calls `flush_writes` first.
"""

from __future__ import annotations

import datetime
import re
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable, Insert

__all__ = [
    "Prepared", "Tail", "at_flush", "collect_writes", "collecting", "flush_writes", "settle",
    "settle_with", "transaction_of",
]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # Per positional parameter: its name, the bind processor, and whether
    # it is a literal of the statement (`attempts + 1`, `content = b""`)
    # whose value the statement carries rather than the row.
    parameters: tuple[tuple[str, Callable[[Any], Any] | None, bool, Any], ...]
    # A row (mapping) -> the driver's tuple: the same values as `parameters`
    # describes, built by itemgetter with the processors applied after.
    positional: Callable[[Mapping[str, Any]], tuple[Any, ...]]


class Prepared:
    """One statement, compiled per dialect on first use, run as driver SQL.

    Rows are mappings keyed by bind parameter names.  An insert
    (`table.insert()`) is compiled, as Core does, for the keys of the rows
    it is given (columns left out take their defaults); one compiled form
    is kept per dialect and set of keys.
    """

    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        self._insert = isinstance(statement, Insert)
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}
        self._unnest_forms: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...]]] = {}

    @property
    def is_insert(self) -> bool:
        return self._insert

    def compiled(self, dialect: Dialect, keys: tuple[str, ...] = ()) -> _Compiled:
        found = self._compiled.get((dialect.name, keys))
        if found is not None:
            return found
        kwargs: dict[str, Any] = {"column_keys": list(keys)} if self._insert else {}
        compiled = self._statement.compile(dialect=dialect, **kwargs)  # type: ignore[attr-defined]
        names = tuple(compiled.positiontup or ())
        if not names and compiled.binds:
            raise ValueError("a prepared statement needs a positional paramstyle")
        parameters = []
        for name in names:
            bind = compiled.binds[name]
            literal = name not in keys if self._insert else not bind.required
            if literal and self._insert:
                # A column default Core would compute per row.
                raise ValueError(f"rows lack the column {name!r}")
            processor = _fast(bind.type.dialect_impl(dialect)) or bind.type._cached_bind_processor(dialect)
            parameters.append((name, processor, literal, bind.effective_value if literal else None))
        found = _Compiled(compiled.string, tuple(parameters), _positional(parameters))
        self._compiled[(dialect.name, keys)] = found
        return found

    def _prepare(
        self, dialect: Dialect, rows: Sequence[Mapping[str, Any]]
    ) -> tuple[str, list[tuple[Any, ...]]]:
        """The SQL and `rows` as the driver's positional tuples, processors applied."""
        compiled = self.compiled(dialect, tuple(rows[0]) if self._insert else ())
        positional = compiled.positional
        return compiled.sql, [positional(row) for row in rows]

    def _unnest(self, dialect: Dialect, keys: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        """This insert as `INSERT INTO t (columns) SELECT * FROM unnest(`,
        and the array type of each parameter, in `_prepare`'s order."""
        found = self._unnest_forms.get((dialect.name, keys))
        if found is not None:
            return found
        table = self._statement.table  # type: ignore[attr-defined]
        names = [name for name, *_ in self.compiled(dialect, keys).parameters]
        quote = dialect.identifier_preparer
        columns = ", ".join(quote.format_column(table.c[name]) for name in names)
        types = tuple(
            f"{dialect.type_compiler_instance.process(table.c[name].type)}[]" for name in names
        )
        found = (f"INSERT INTO {quote.format_table(table)} ({columns}) SELECT * FROM unnest(",
                 types)
        self._unnest_forms[(dialect.name, keys)] = found
        return found

    async def run(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per row (one executemany) in `conn`'s transaction.

        Every row of one call has the same keys."""
        if not rows:
            return
        sql, parameters = self._prepare(conn.dialect, rows)
        if len(parameters) == 1:
            await conn.exec_driver_sql(sql, parameters[0])
        else:
            await conn.exec_driver_sql(sql, parameters)

    async def run_later(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
        """As `run`, but in a transaction that collects writes only when
        they are needed (`settle`, `flush_writes`), together with the
        statement's other rows.  In any other transaction at once."""
        if not rows:
            return
        collection = _collection(conn)
        if collection is None:
            await self.run(conn, rows)
            return
        collection.rows.setdefault((self, tuple(rows[0])), []).extend(rows)

    async def fetch(self, conn: AsyncConnection, row: Mapping[str, Any] | None = None) -> list[Any]:
        """Execute once with `row`'s parameters and return every result row."""
        sql, (parameters,) = self._prepare(conn.dialect, [row or {}])
        result = await conn.exec_driver_sql(sql, parameters)
        return list(result.all())


@dataclass(slots=True)
class _Collection:
    """What a collecting transaction keeps for its flush."""

    # The rows of `run_later`, by statement and keys (one executemany
    # each), in the order first collected.
    rows: dict[tuple[Prepared, tuple[str, ...]], list[Mapping[str, Any]]] = field(
        default_factory=dict
    )
    # The work given to `at_flush`, in order.
    deferred: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


# Transaction -> its collection.  Weak keys: a transaction rolled back takes
# its rows with it.
_COLLECTED: weakref.WeakKeyDictionary[Any, _Collection] = weakref.WeakKeyDictionary()


def _collection(conn: AsyncConnection) -> _Collection | None:
    tx = transaction_of(conn)
    return _COLLECTED.get(tx) if tx is not None else None


def transaction_of(conn: AsyncConnection) -> Any:
    """The Core transaction `conn` is in (None outside one)."""
    return conn.sync_connection.get_transaction()  # type: ignore[union-attr]


def collecting(conn: AsyncConnection) -> bool:
    """Whether `conn`'s transaction collects writes (`collect_writes`)."""
    return _collection(conn) is not None


def collect_writes(conn: AsyncConnection) -> None:
    """Let `run_later` collect rows in `conn`'s transaction, which then
    must call `flush_writes` before it commits."""
    tx = transaction_of(conn)
    if tx is None:
        raise RuntimeError("collect_writes needs a transaction")
    _COLLECTED[tx] = _Collection()


async def at_flush(conn: AsyncConnection, work: Callable[[], Awaitable[None]]) -> None:
    """Run `work` at the next `flush_writes` of `conn`'s transaction, after
    the work given earlier (a statement it runs writes the rows collected
    so far first, as any does); at once in a transaction that does not
    collect."""
    collection = _collection(conn)
    if collection is None:
        await work()
    else:
        collection.deferred.append(work)


async def flush_writes(conn: AsyncConnection) -> None:
    """Run the work waiting for the flush, then write the rows collected so
    far in `conn`'s transaction (it goes on collecting)."""
    collection = _collection(conn)
    if collection is None:
        return
    while collection.deferred:
        deferred = collection.deferred[:]
        collection.deferred.clear()
        for work in deferred:
            await work()
    await settle(conn)


async def settle(conn: AsyncConnection) -> None:
    """Write the rows collected so far in `conn`'s transaction, before a
    statement that was not collected runs; the work given to `at_flush`
    goes on waiting."""
    collection = _collection(conn)
    if collection is None or not collection.rows:
        return
    # Taken out first: writing them runs statements, which settle again.
    batches = list(collection.rows.items())
    collection.rows.clear()
    if conn.dialect.name != "postgresql":
        for (prepared, _), rows in batches:
            await prepared.run(conn, rows)
        return
    await _insert_together(conn, await _write_up_to_last_update(conn, batches))


async def _write_up_to_last_update(
    conn: AsyncConnection,
    batches: Sequence[tuple[tuple[Prepared, tuple[str, ...]], list[Mapping[str, Any]]]],
) -> list[tuple[Prepared, list[Mapping[str, Any]]]]:
    """PostgreSQL: write the collected rows in order, inserts that follow
    one another together, up to the last that is not an insert; return the
    inserts after it, still to be written."""
    together: list[tuple[Prepared, list[Mapping[str, Any]]]] = []
    for (prepared, _), rows in batches:
        if prepared.is_insert:
            together.append((prepared, rows))
            continue
        await _insert_together(conn, together)
        together = []
        await prepared.run(conn, rows)
    return together


@dataclass(frozen=True, slots=True)
class Tail:
    """PostgreSQL: a statement that `settle_with` runs in the round trip of
    the rows collected before it.  `with_` is a list of named subqueries
    (`name AS (...), ...`), `select` the statement's primary query; their
    parameters are numbered from $1, in the order of the values given."""

    with_: str
    select: str


async def settle_with(conn: AsyncConnection, tail: Tail, values: Sequence[Any]) -> list[Any]:
    """PostgreSQL: `settle`, then `tail` with `values`, in one statement
    when the rows collected last are inserts (they go in its WITH clause,
    before the tail's subqueries); returns the tail's rows.  Rows collected
    before an update are written first, as `settle` writes them."""
    collection = _collection(conn)
    batches = list(collection.rows.items()) if collection is not None else []
    if collection is not None:
        collection.rows.clear()
    inserts = await _write_up_to_last_update(conn, batches)
    rows = await _insert_together(conn, inserts, tail, values)
    return rows or []


# (statement, keys) of each insert, in order, and the tail -> the statement
# writing them together.
_TOGETHER: dict[tuple[tuple[tuple[Prepared, tuple[str, ...]], ...], Tail | None], str] = {}
_PARAMETER = re.compile(r"\$(\d+)")


async def _insert_together(
    conn: AsyncConnection,
    inserts: Sequence[tuple[Prepared, Sequence[Mapping[str, Any]]]],
    tail: Tail | None = None,
    values: Sequence[Any] = (),
) -> list[Any] | None:
    """PostgreSQL: several inserts' rows, and `tail` when given, in one
    statement (the module's docstring); the tail's rows."""
    if tail is None and len(inserts) < 2:
        for prepared, rows in inserts:
            await prepared.run(conn, rows)
        return None
    arrays: list[Any] = []
    for prepared, rows in inserts:
        _, tuples = prepared._prepare(conn.dialect, rows)
        arrays.extend(list(column) for column in zip(*tuples, strict=True))
    shape = tuple((prepared, tuple(rows[0])) for prepared, rows in inserts)
    sql = _TOGETHER.get((shape, tail))
    if sql is None:
        parts: list[str] = []
        number = 0  # of the last parameter so far ($1, $2, ...)
        for prepared, keys in shape:
            head, types = prepared._unnest(conn.dialect, keys)
            parts.append(head + ", ".join(
                f"${number + index}::{type_}" for index, type_ in enumerate(types, 1)) + ")")
            number += len(types)
        if tail is None:
            *before, last = parts
            subqueries = [f"w{index} AS ({part})" for index, part in enumerate(before)]
        else:
            def shifted(text: str, by: int = number) -> str:
                return _PARAMETER.sub(lambda m: f"${int(m.group(1)) + by}", text)

            subqueries = [f"w{index} AS ({part})" for index, part in enumerate(parts)]
            subqueries.append(shifted(tail.with_))
            last = shifted(tail.select)
        sql = ("WITH " + ", ".join(subqueries) + " " if subqueries else "") + last
        _TOGETHER[(shape, tail)] = sql
    result = await conn.exec_driver_sql(sql, (*arrays, *values))
    return list(result.all()) if tail is not None else None


def _positional(
    parameters: Sequence[tuple[str, Callable[[Any], Any] | None, bool, Any]],
) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function from a row to the driver's tuple (constants and processors applied)."""
    constants = {
        index: constant if process is None or constant is None else process(constant)
        for index, (_, process, literal, constant) in enumerate(parameters)
        if literal
    }
    taken = [(index, name) for index, (name, _, literal, _) in enumerate(parameters) if not literal]
    processed = [
        (index, process)
        for index, (_, process, literal, _) in enumerate(parameters)
        if process is not None and not literal
    ]
    if not taken:
        values = tuple(constants[index] for index in range(len(parameters)))
        return lambda row: values
    getter = itemgetter(*(name for _, name in taken))
    if not constants and not processed:
        if len(taken) == 1:
            return lambda row: (getter(row),)
        return getter

    if not constants and len(taken) > 1:
        # Every parameter comes from the row, in order: only the processed
        # ones (datetimes, mostly) need touching.
        def from_row(row: Mapping[str, Any]) -> tuple[Any, ...]:
            return _processed(list(getter(row)), processed)

        return from_row

    def positional(row: Mapping[str, Any]) -> tuple[Any, ...]:
        got = getter(row)
        values: list[Any] = [None] * len(parameters)
        for (index, _), value in zip(taken, got if len(taken) > 1 else (got,), strict=True):
            values[index] = value
        for index, constant in constants.items():
            values[index] = constant
        return _processed(values, processed)

    return positional


def _processed(
    values: list[Any], processed: Sequence[tuple[int, Callable[[Any], Any]]]
) -> tuple[Any, ...]:
    for index, process in processed:
        value = values[index]
        if value is not None:
            values[index] = process(value)
    return tuple(values)


# The last datetime `_sqlite_datetime` wrote and its text: a record's search
# terms carry its time, so a batch's rows write each time several times over.
# One tuple, replaced whole, so a reader in another thread sees a pair; it
# starts with a value nothing else is.
_LAST_DATETIME: tuple[Any, str] = (object(), "")


def _sqlite_datetime(value: Any) -> Any:
    """What SQLAlchemy's SQLite DATETIME writes, "YYYY-MM-DD HH:MM:SS.ffffff"
    (the time as given, any zone dropped), by `isoformat` in C rather than a
    %-mapping per value."""
    global _LAST_DATETIME
    last = _LAST_DATETIME
    if last[0] is value:
        return last[1]
    if isinstance(value, datetime.datetime):
        # The first 26 characters are the wall time; an aware time's offset
        # follows them ("+00:00"), which SQLAlchemy drops too.  Cutting it
        # off costs less than a copy of the datetime without its zone.
        text = value.isoformat(" ", "microseconds")[:26]
        _LAST_DATETIME = (value, text)
        return text
    if isinstance(value, datetime.date):
        return f"{value.isoformat()} 00:00:00.000000"
    raise TypeError("SQLite DateTime type only accepts Python datetime and date objects as input.")


def _fast(type_: Any) -> Callable[[Any], Any] | None:
    """A faster processor giving the same values, for the types the hot path binds."""
    if isinstance(type_, SQLITE_DATETIME) and type_._storage_format == SQLITE_DATETIME._storage_format:
        return _sqlite_datetime
    return None
