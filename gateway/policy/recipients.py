"""IT's recipient allow-list: `recipients.csv` -> an immutable `RecipientList`.

    load_recipients(path, route_names) -> RecipientList   (or RecipientsFileError)
    RecipientList.match(address) -> RecipientEntry | None
    RecipientsFile(path, route_names).current()           reloads on change
    check_recipients_file(settings) -> list[str]          for `gateway check-config`

A row is either one address (`duty.team@childrens.example.gov.uk`) or a whole
domain (`@school.example.sch.uk`).  Matching is exact and case-insensitive on
the whole address or on the whole domain: a look-alike such as
`school.example.sch.uk.evil.example` or `evilschool.example.sch.uk` never
matches, and neither does a subdomain that is not listed itself, because a
suffix test is exactly the mistake that would send a child's record to the
wrong organisation.

The file is read once at start and again when its modification time or size
changes (looked at no more than every `check_interval` seconds, so the per
message cost is one clock read).  A file that turns out broken keeps the last
good list in force and logs `recipients_reload_failed` with the line numbers
and reasons only, never the rows themselves.  So does one with no entries
while the list in force has some (its header alone: a write cut short); one
with fewer than half the entries takes effect with a warning
(`recipients_reload_shrank`, both counts).
"""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers
import structlog

from gateway.errors import ConfigError
from gateway.model import RecipientEntry
from gateway.settings import Settings

__all__ = [
    "HEADER",
    "RecipientList",
    "RecipientsFile",
    "RecipientsFileError",
    "check_recipients_file",
    "load_recipients",
    "parse_recipients",
]

log = structlog.get_logger(__name__)

HEADER = ("address", "name", "job_title", "department", "organisation", "telephone", "secure_route")
# Columns that may be left empty; the guidance asks for every other one.
_OPTIONAL = frozenset({"department", "secure_route"})

# Deliberately plain: the allow-list is typed by IT, so anything unusual
# (quoted local parts, IP literals, comments) is far more likely a typo than
# a real recipient, and refusing it is the safe answer.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^(?:{_LABEL}\.)+[a-z]{{2,63}}$|^(?:{_LABEL}\.)+xn--[a-z0-9-]{{1,59}}$")
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


class RecipientsFileError(ConfigError):
    """The recipients file cannot be used; `problems` names each line and why."""


def normalise_address(address: str) -> str:
    """The form both rows and envelope addresses are compared in."""
    return address.strip().strip("<>").rstrip(".").lower()


def _valid_domain(domain: str) -> bool:
    return len(domain) <= 253 and bool(_DOMAIN.match(domain))


def _valid_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at) and 0 < len(local) <= 64 and bool(_LOCAL.match(local)) and _valid_domain(domain)


# Ofcom's numbers reserved for drama and examples, which libphonenumber
# (rightly, for real traffic) calls invalid; example files and test data use
# them so that no real switchboard is ever listed by accident.
_FICTIONAL = re.compile(r"^(?:1632960\d{3}|7700900\d{3}|8081570\d{3}|9098790\d{3}|3069990\d{3})$")


def _valid_telephone(number: str) -> bool:
    try:
        parsed = phonenumbers.parse(number, "GB")
    except phonenumbers.NumberParseException:
        return False
    if phonenumbers.is_valid_number(parsed):
        return True
    return parsed.country_code == 44 and bool(_FICTIONAL.match(str(parsed.national_number)))


@dataclass(frozen=True, slots=True)
class RecipientList:
    """An immutable snapshot of the allow-list; safe to share between threads."""

    addresses: dict[str, RecipientEntry] = field(default_factory=dict)
    domains: dict[str, RecipientEntry] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.addresses) + len(self.domains)

    def match(self, address: str) -> RecipientEntry | None:
        """The row allowing `address`: its exact address first, else its domain."""
        wanted = normalise_address(address)
        exact = self.addresses.get(wanted)
        if exact is not None:
            return exact
        local, at, domain = wanted.rpartition("@")
        if not at or not local:
            return None
        return self.domains.get(domain)

    def entries(self) -> Iterable[RecipientEntry]:
        yield from self.addresses.values()
        yield from self.domains.values()


def parse_recipients(
    text: str, route_names: Collection[str], source: str = "recipients.csv"
) -> RecipientList:
    """Validate every row; raise RecipientsFileError listing every problem."""
    problems: list[str] = []
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise RecipientsFileError(f"{source}: empty file (need the header line)") from None
    except csv.Error as exc:
        raise RecipientsFileError(f"{source}: line 1: not valid CSV ({exc})") from None
    columns = tuple(h.strip().lower() for h in header)
    if columns != HEADER:
        raise RecipientsFileError(
            f"{source}: line 1: the header must be exactly {','.join(HEADER)}"
        )
    addresses: dict[str, RecipientEntry] = {}
    domains: dict[str, RecipientEntry] = {}
    try:
        ended = reader.line_num
        for row in reader:
            # A row is named by the line it starts on: a quoted cell may run
            # over several lines, and one whose closing quote is missing
            # runs to the end of the file.
            line, ended = ended + 1, reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if row[0].lstrip().startswith("#"):
                continue  # a comment line IT left for the next person
            if len(row) != len(HEADER):
                unclosed = ended > line and any("\n" in cell for cell in row)
                problems.append(
                    f"{source}: line {line}: a quoted value opened here is not closed (a \" "
                    f"missing, so lines {line}-{ended} read as one row)" if unclosed else
                    f"{source}: line {line}: expected {len(HEADER)} columns, found {len(row)}"
                )
                continue
            values = dict(zip(HEADER, (cell.strip() for cell in row), strict=True))
            problems.extend(_row_problems(values, route_names, f"{source}: line {line}"))
            key = normalise_address(values["address"])
            entry = RecipientEntry(
                address=key,
                name=values["name"],
                job_title=values["job_title"],
                organisation=values["organisation"],
                telephone=values["telephone"],
                department=values["department"],
                secure_route=values["secure_route"],
            )
            table = domains if key.startswith("@") else addresses
            lookup = key[1:] if key.startswith("@") else key
            if lookup in table:
                problems.append(f"{source}: line {line}: {values['address']!r} is listed twice")
            table[lookup] = entry
    except csv.Error as exc:
        problems.append(f"{source}: line {reader.line_num}: not valid CSV ({exc})")
    if problems:
        raise RecipientsFileError(problems)
    return RecipientList(addresses=addresses, domains=domains)


def _row_problems(values: dict[str, str], route_names: Collection[str], where: str) -> list[str]:
    problems = []
    address = normalise_address(values["address"])
    if address.startswith("@"):
        if not _valid_domain(address[1:]):
            problems.append(f"{where}: address: {values['address']!r} is not a valid @domain")
    elif address.partition("@")[0] == "*":
        problems.append(
            f"{where}: address: {values['address']!r}: write @{address.partition('@')[2]} "
            "to allow the whole domain ('*' is not a wildcard here)"
        )
    elif not _valid_address(address):
        problems.append(
            f"{where}: address: {values['address']!r} is not a valid email address or @domain"
        )
    for column in HEADER:
        if column not in _OPTIONAL and column != "address" and not values[column]:
            problems.append(f"{where}: {column}: must not be empty")
    if values["telephone"] and not _valid_telephone(values["telephone"]):
        problems.append(
            f"{where}: telephone: {values['telephone']!r} is not a valid UK telephone number"
        )
    route = values["secure_route"]
    if route and route not in route_names:
        known = ", ".join(sorted(route_names)) or "none configured"
        problems.append(
            f"{where}: secure_route: {route!r} is not a [routes.NAME] table ({known})"
        )
    return problems


def load_recipients(path: Path, route_names: Collection[str]) -> RecipientList:
    """Read and validate the file at `path`, or raise RecipientsFileError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RecipientsFileError(f"{path}: file not found") from None
    except OSError as exc:
        raise RecipientsFileError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")  # Excel writes a BOM
    except UnicodeDecodeError as exc:
        # Excel's plain "CSV (Comma delimited)" is Windows-1252: a curly
        # apostrophe in "Children’s Services" is the usual first byte.
        line = data.count(b"\n", 0, exc.start) + 1
        raise RecipientsFileError(
            f"{path}: line {line}: not UTF-8 text (in Excel, save as "
            "\"CSV UTF-8 (Comma delimited)\")"
        ) from None
    return parse_recipients(text, route_names, str(path))


def check_recipients_file(settings: Settings) -> list[str]:
    """Every problem with the configured recipients file (empty when fine)."""
    try:
        load_recipients(settings.recipients_path, settings.routes.keys())
    except RecipientsFileError as exc:
        return exc.problems
    return []


class RecipientsFile:
    """The allow-list in force, reloaded when the file changes.

    `current()` is cheap: it looks at the file (one stat) at most every
    `check_interval` seconds and reparses only when its mtime or size moved.
    """

    def __init__(
        self,
        path: Path,
        route_names: Collection[str],
        check_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        strict: bool = True,
    ) -> None:
        """Load the file now.

        With `strict`, a broken file raises RecipientsFileError (the gateway
        must not start on an allow-list it cannot read); a missing file never
        raises but leaves the list empty, so nobody may receive personal data
        until IT provides one (fail closed).
        """
        self.path = path
        self.route_names = frozenset(route_names)
        self.check_interval = check_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._next_check = clock() + check_interval
        self._list = RecipientList()
        stamp = self._stat()
        if stamp is None:
            log.error("recipients_file_missing", path=str(path))
            return
        try:
            self._list = load_recipients(path, self.route_names)
        except RecipientsFileError as exc:
            if strict:
                raise
            log.error("recipients_load_failed", path=str(path), problems=exc.problems)
        self._stamp = stamp

    def _stat(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def current(self) -> RecipientList:
        now = self._clock()
        if now < self._next_check:
            return self._list
        with self._lock:
            if now < self._next_check:
                return self._list
            self._next_check = now + self.check_interval
            self.reload()
        return self._list

    def reload(self) -> bool:
        """Reparse when the file changed; True when a new list took effect."""
        stamp = self._stat()
        if stamp is None:
            if self._stamp is not None:
                # Keep the last good list: a file being replaced by `mv` or
                # an editor's save can be absent for a moment.
                log.error("recipients_reload_failed", path=str(self.path), problems=["missing"])
                self._stamp = None
            return False
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            loaded = load_recipients(self.path, self.route_names)
        except RecipientsFileError as exc:
            # Line numbers and reasons only: the problems never quote a row.
            log.error(
                "recipients_reload_failed",
                path=str(self.path),
                problems=[_without_values(p) for p in exc.problems],
            )
            return False
        before, after = len(self._list), len(loaded)
        if after == 0 and before > 0:
            # A header alone is what a write cut short leaves (a full disk,
            # a copy interrupted): taken, every message with personal data
            # would be refused for good.  A list meant to be empty takes
            # effect at the next start.
            log.error("recipients_reload_failed", path=str(self.path),
                      problems=[f"no entries (the {before} in force are kept; a list "
                                "meant to be empty takes effect when the gateway restarts)"])
            return False
        if after < before / 2:
            # Taken (a partner's rows removed on purpose is a change IT
            # makes), but said: a file cut short also looks like this.
            log.warning("recipients_reload_shrank", path=str(self.path), entries=after,
                        entries_before=before)
        self._list = loaded
        log.info("recipients_reloaded", path=str(self.path), entries=after)
        return True


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _without_values(problem: str) -> str:
    """A problem message for the log: the quoted cell values taken out."""
    return _QUOTED.sub("…", problem)
