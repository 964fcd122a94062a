"""The one exception tree of the gateway.

    GatewayError
    ├── ConfigError            bad configuration (file, key and reason)
    ├── ContentError           content that cannot be parsed or inspected
    │   ├── LimitExceeded      a size, depth, count or time limit was hit
    │   └── UnrewritableContent  content the transform can never make fit
    │                            to deliver (refused, not answered 451)
    ├── StoreError             the database failed (maps to 451 4.3.0)
    │   ├── DatabaseMissing    a command's SQLite file is not there (or no database)
    │   ├── DatabaseUnsupported  this Python's SQLite library is too old
    │   ├── SchemaMismatch     a command's database has a schema it was not written for
    │   └── ClaimLost          a queued message's claim was taken by another worker
    ├── DeliveryError          the upstream could not be reached or refused
    ├── VaultError             a held password cannot be sealed or opened
    └── AuditIntegrityError    the audit chain does not verify

Rejections and holds are not errors: the policy returns them as a Verdict.
Third-party exceptions are mapped at the boundary with ``raise ... from exc``
so callers only ever catch these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.model import ReasonCode


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """The configuration is invalid; `problems` lists every one found."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class ContentError(GatewayError):
    """Content that cannot be parsed or inspected (treated as not clean)."""


class LimitExceeded(ContentError):
    """A configured bound (size, depth, parts, ratio, time) was exceeded."""


class UnrewritableContent(ContentError):
    """Content the transform stage can never make fit to deliver, however
    often the client sends it again (a password in a body part it cannot
    rewrite): the pipeline refuses it for `code`, the policy's reason.
    Any other ContentError from the transform (a wrapped MemoryError, a bug)
    is passing as far as the client can tell, and answered 451.  The message
    names no value: it is logged."""

    def __init__(self, code: ReasonCode, detail: str) -> None:
        self.code = code
        super().__init__(detail)


class StoreError(GatewayError):
    """The queue or audit database could not complete an operation."""


class DatabaseMissing(StoreError):
    """The SQLite file a command was pointed at does not exist (a mistyped
    path, a relative one read from another folder, or no `db upgrade` yet),
    or is no SQLite database at all."""


class DatabaseUnsupported(StoreError):
    """The SQLite library this Python links is too old for the gateway's
    database (gateway.db.engine.sqlite_unsupported)."""


class ClaimLost(StoreError):
    """A delivery's claim on a queued message ran out and another worker
    (a replica, or this process's poller) claimed it: the delivery's result
    is not written over that claim."""


class DeliveryError(GatewayError):
    """The upstream could not be reached, or the connection broke."""


class VaultError(GatewayError):
    """A held password could not be sealed or opened (wrong or missing key)."""


class AuditIntegrityError(GatewayError):
    """The audit hash chain does not verify."""


class SchemaMismatch(StoreError):
    """The database's schema is not the one this code was written for (not
    migrated yet, or requiring newer code): a command refuses it before its
    first statement, as `gateway serve` does (gateway.db.schema_check)."""
