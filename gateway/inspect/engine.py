"""inspect_message: raw bytes -> `Inspection`, never raising, always bounded.

Flow, for one message:

1. parse (`gateway.parse`): every leaf part, or Problems;
2. the subject becomes a SUBJECT segment, and so does each free-text header
   that travels in clear like it (`TOPIC_HEADERS`: Thread-Topic, Keywords,
   Comments; part_path "header:<name>"), and so is the other text that
   headers show (the display names of From, To, Cc, Reply-To and Sender,
   Organization, X- headers that are not technical, each part's
   Content-Description: `gateway.parse.headers.header_path`; more than
   `MAX_HEADER_TEXT` of it is a Problem); each body part is extracted by its
   declared type (text or HTML: what a mail program shows) into BODY
   segments; an attached message's headers become text too;
3. each attachment is identified from its content, its protection found by
   the inspector for that format (ZIP family, PDF, OLE, OpenDocument), and
   whatever is readable without a password extracted into ATTACHMENT
   segments (its file name included).  A winmail.dat (Outlook's TNEF) is
   taken apart: its own text is its segments, and each file inside is an
   attachment of its own (path "<its path>.TNEF.<n>", `sent_in` its path),
   judged as that file sent as a MIME part would be;
4. passwords the sender wrote are collected (header, body, subject, other
   attachments) and tried on each encrypted attachment, a few spellings
   each; one that opens it sets `password_opens` and its decrypted text is
   added with `inside_encrypted=True`.  Candidates that opened something are
   listed first in `Inspection.passwords`;
5. an encrypted attachment still unopened is tried with the message's own
   words (`message_tokens`: subject, headers, body, other attachments; best
   guesses first, at most `_TOKEN_TRIES` of them, far fewer for formats
   whose key derivation is slow, `_TOKEN_SECONDS` in all).  Every place a password that opened an
   attachment is written then becomes a candidate that `opens`: the policy
   stage refuses the one it cannot take out.  Only a message with an
   encrypted attachment pays for this;
6. one still unopened is tried with the most common passwords
   (`COMMON_PASSWORDS`: a few on a zip or PDF, `_COMMON_TRIES`): one that
   opens it sets `common_password`, as does a common one the message wrote.
   The policy stage refuses such protection as `weak_password`.

Every failure inside becomes a `Problem`; anything unexpected becomes
`internal_error`.  One time budget (`total_timeout_s`) covers the whole
message and `extract_timeout_s` each attachment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from gateway.extract.base import (
    Budget,
    ExtractContext,
    ExtractedText,
    ExtractionError,
    ExtractionLimit,
    ExtractorRegistry,
    name_as_words,
)
from gateway.extract.detect import (
    CMS,
    DOCX,
    HTML,
    ODF,
    OLE,
    PDF,
    PGP,
    PPTX,
    TEXT,
    TNEF,
    XLSX,
    ZIP,
    content_type_of,
    detect_format,
)
from gateway.extract.eml import header_text
from gateway.extract.registry import build_registry
from gateway.extract.tnef import Unwrapped, unwrap_tnef
from gateway.inspect.office import inspect_odf, inspect_ole, inspect_ooxml
from gateway.inspect.passwords import (
    COMMON_PASSWORDS,
    Found,
    find_passwords,
    is_common,
    message_tokens,
)
from gateway.inspect.pdfs import inspect_pdf
from gateway.inspect.protection import Opened, Opener, Protected
from gateway.inspect.zips import inspect_zip
from gateway.model import (
    AttachmentReport,
    Encryption,
    Inspection,
    ParsedMessage,
    Part,
    PasswordCandidate,
    Problem,
    SegmentSource,
    TextSegment,
)
from gateway.parse.headers import (
    ADDRESS_HEADERS,
    MAX_HEADER_TEXT,
    TOPIC_HEADERS,
    TOPIC_PATH,
    display_text,
    header_path,
    only_names,
    reads_as_text,
)
from gateway.parse.limits import ContentLimits
from gateway.parse.parser import HEADERS_CONTENT_TYPE, parse_message

_REGISTRY = build_registry()
# Words of the message tried on one attachment still unopened after the
# stated passwords.  A wrong try costs about 1-2 ms on an AES-256 zip
# (PBKDF2, 1,000 rounds) and 4-5 ms on an AES-256 PDF (R6), but about 110 ms
# on an agile-encrypted Office file (100,000 SHA-512 rounds), and an
# encrypted OpenDocument file is as slow.  Messages up to 256 KB are
# concluded on the event loop, and an encrypted attachment whose password is
# telephoned (nothing in the message opens it) is the compliant way to
# share: every such message pays the whole step, which therefore stops after
# a few dozen tries (25 on a zip: 25-50 ms; the best guesses, labelled values
# and words with digits or symbols, come first), tries the slow formats only
# with a labelled line's value, and stops at `_TOKEN_SECONDS` whatever the
# machine.  An attachment left unopened is as before.
_TOKEN_TRIES = {ZIP: 25, PDF: 8}
_SLOW_TOKEN_TRIES = 2
_TOKEN_SECONDS = 0.25
# Common passwords tried on one attachment still unopened after the
# message's words (12 on a zip: 12-24 ms; 4 on a PDF: about 20 ms), paid by
# every message whose password is telephoned; never on the slow formats.
_COMMON_TRIES = {ZIP: 12, PDF: 4}
# What `_Run.attempt` returns when the format's library failed on the file.
_BROKEN = Opened([])
# An OpenPGP message's armour (RFC 4880 6.2), wherever it is in the text
# (quoted in a reply, in an HTML page's <pre>).  "-----BEGIN PGP SIGNED
# MESSAGE-----" is clear text, and is read.
_PGP_ARMOUR = b"-----BEGIN PGP MESSAGE-----"
PGP_MESSAGE = "pgp_message"
"""The Problem code of inline PGP-encrypted text in a message's text."""
_TOPIC_NAMES = {name.lower(): name for name in TOPIC_HEADERS}
_ADDRESS_NAMES = {name.lower(): name for name in ADDRESS_HEADERS}


def inspect_message(
    raw: bytes, limits: ContentLimits | None = None, *, registry: ExtractorRegistry | None = None
) -> Inspection:
    """Parse, extract and inspect one message.  Never raises."""
    return read_message(raw, limits, registry=registry).finish()


def read_message(
    raw: bytes, limits: ContentLimits | None = None, *, registry: ExtractorRegistry | None = None
) -> Reading:
    """Steps 1 to 3: the message parsed and its text extracted; `finish` does
    step 4.  Never raises.  Between the two, a caller may read the segments'
    text (the pipeline makes its long passes over a large text then, off the
    event loop)."""
    run = _Run(limits or ContentLimits(), registry or _REGISTRY)
    try:
        run.read(raw)
    except Exception as exc:  # the stage's promise: a Problem, never an exception
        run.error = exc
    return Reading(run)


class Reading:
    """A message read but not yet inspected for passwords (see `read_message`)."""

    __slots__ = ("_inspection", "_run")

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._inspection: Inspection | None = None

    @property
    def deadline(self) -> float:
        """When the inspection must be over (`time.monotonic`): the
        message's time budget, `total_timeout_s`, counted from its reading."""
        return self._run.deadline

    @property
    def text_chars(self) -> int:
        """Characters of text extracted from the message's parts (the
        budget's count: what went past `max_message_text_chars` included)."""
        return self._run.budget.text_chars

    @property
    def segments(self) -> tuple[TextSegment, ...]:
        """The text read so far: every segment but those of attachments a
        password will open."""
        return tuple(self._run.segments)

    def finish(self) -> Inspection:
        """The inspection.  Never raises; the same one however often called
        (the pipeline may conclude a reading again in a thread)."""
        if self._inspection is None:
            self._inspection = self._finish()
        return self._inspection

    def _finish(self) -> Inspection:
        run = self._run
        if run.error is not None:
            return run.failed(run.error)
        try:
            return run.finish()
        except Exception as exc:  # the stage's promise: a Problem, never an exception
            return run.failed(exc)


@dataclass(slots=True)
class _Attachment:
    part: Part
    fmt: str
    protected: Protected
    ctx: ExtractContext
    opened_by: PasswordCandidate | None = None
    guessed: bool = False  # a common password the gateway tried opened it
    read_only: bool | None = None
    tried: set[str] = field(default_factory=set)  # passwords tried on it
    broken: bool = False  # its format's library failed opening it: no more tries
    sent_in: str = ""  # the winmail.dat it came inside (AttachmentReport.sent_in)


@dataclass(slots=True)
class _Run:
    limits: ContentLimits
    registry: ExtractorRegistry
    message: ParsedMessage | None = None
    segments: list[TextSegment] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    attachments: list[_Attachment] = field(default_factory=list)
    budget: Budget = field(default_factory=Budget)
    deadline: float = 0.0
    error: Exception | None = None
    unwrapped: list[Part] = field(default_factory=list)  # files inside a winmail.dat

    def read(self, raw: bytes) -> None:
        self.deadline = time.monotonic() + self.limits.total_timeout_s
        message = parse_message(raw, self.limits, deadline=self.deadline)
        self.message = message
        self.problems.extend(message.problems)
        if message.subject:
            self.segments.append(TextSegment("", SegmentSource.SUBJECT, message.subject))
        for name, value in message.headers:
            canonical = _TOPIC_NAMES.get(name.lower())
            if canonical is not None and value.strip():
                self.segments.append(
                    TextSegment(TOPIC_PATH + canonical, SegmentSource.SUBJECT, value)
                )
        self.header_texts(message)
        for part in message.parts:
            if time.monotonic() > self.deadline:
                self.problems.append(
                    Problem(part.path, "timeout", "message inspection took too long")
                )
                break
            if part.content_type == HEADERS_CONTENT_TYPE:
                source = SegmentSource.BODY if part.is_body else SegmentSource.ATTACHMENT
                self.segments.append(TextSegment(part.path, source, header_text(part.payload)))
            elif part.is_body:
                self.body(part)
            else:
                self.attachment(part)

    def header_texts(self, message: ParsedMessage) -> None:
        """The display names of the address headers, Organization, the X-
        headers staff's programs add and each part's Content-Description,
        as SUBJECT segments (they travel in clear like it)."""
        texts: list[tuple[str, str]] = []  # (part_path, value)
        addresses: list[tuple[str, str]] = []
        for name, value in message.headers:
            canonical = _ADDRESS_NAMES.get(name.lower())
            if canonical is not None:
                addresses.append((header_path(canonical, display_name=True), value))
            elif reads_as_text(name):
                texts.append((header_path(name), value))
        texts.extend((header_path(name, part=path), value)
                     for path, name, value in message.part_headers)
        if sum(len(value) for _, value in (*texts, *addresses)) > MAX_HEADER_TEXT:
            # Not a message staff write: refused as uninspectable rather
            # than read at length on the event loop.
            self.problems.append(Problem("", "header_too_large",
                                         f"more than {MAX_HEADER_TEXT} characters of header text"))
            return
        for path, value in addresses:
            shown = display_text(value)
            if not only_names(shown):
                texts.append((path, shown))
        self.segments.extend(TextSegment(path, SegmentSource.SUBJECT, value)
                             for path, value in texts if value.strip())

    def finish(self) -> Inspection:
        message = self.message
        assert message is not None  # read() set it, or failed and set `error`
        found = find_passwords(message, self.segments)
        openers = self.try_passwords(found)
        self.try_tokens(message, found, openers)
        self.try_common()
        return Inspection(
            message=message,
            segments=tuple(self.segments),
            attachments=tuple(self.report(a) for a in self.attachments),
            problems=tuple(self.problems + [p for a in self.attachments for p in a.ctx.problems]),
            passwords=_ordered(found, openers),
            unwrapped=tuple(self.unwrapped),
        )

    def failed(self, exc: BaseException) -> Inspection:
        message = self.message or ParsedMessage(subject="", headers=(), parts=())
        return Inspection(
            message=message,
            segments=tuple(self.segments),
            attachments=(),
            problems=(*self.problems, Problem("", "internal_error", type(exc).__name__)),
        )

    def context(self, part: Part) -> ExtractContext:
        return ExtractContext.start(
            self.limits,
            self.registry,
            part.path,
            deadline=self.deadline,
            budget=self.budget,
            charset=part.charset,
        )

    def add(
        self, part: Part, source: SegmentSource, texts: list[ExtractedText], *, inside: bool = False
    ) -> None:
        for item in texts:
            if not item.text.strip():
                continue
            name = part.filename
            if item.member:
                name = f"{name or part.path}/{item.member}"
            self.segments.append(
                TextSegment(part.path, source, item.text, filename=name, inside_encrypted=inside)
            )

    def body(self, part: Part) -> None:
        ctx = self.context(part)
        fmt = HTML if part.content_type == "text/html" else TEXT
        if _PGP_ARMOUR in part.payload:
            # Inline PGP: the text a recipient's program decrypts and shows
            # is not the text read here.
            ctx.problem(PGP_MESSAGE, "PGP-encrypted text in the message text")
        self.add(part, SegmentSource.BODY, self.registry.extract(part.payload, ctx, fmt))
        self.problems.extend(ctx.problems)

    def attachment(self, part: Part, *, sent_in: str = "") -> None:
        ctx = self.context(part)
        fmt = detect_format(part.payload)
        if fmt == TNEF and not sent_in:
            self.outlook(part, ctx)
            return
        if part.filename:
            self.segments.append(
                TextSegment(
                    part.path, SegmentSource.ATTACHMENT, name_as_words(part.filename),
                    filename=part.filename,
                )
            )
        protected = self.protection(part.payload, fmt, ctx)
        texts = list(protected.texts)
        if protected.extract_as is not None:
            texts.extend(self.registry.extract(part.payload, ctx, protected.extract_as))
        self.add(part, SegmentSource.ATTACHMENT, texts)
        self.attachments.append(
            _Attachment(part, fmt, protected, ctx, read_only=protected.read_only,
                        sent_in=sent_in)
        )

    def outlook(self, part: Part, ctx: ExtractContext) -> None:
        """A winmail.dat: its own text (bodies, properties) is its segments,
        and each file inside is an attachment of its own, at depth 0 like a
        MIME attachment, so that its encryption is reported and opened
        rather than refused as hidden content.  (A winmail.dat inside one
        of those files is read as content, not taken apart again.)"""
        if part.filename:
            self.segments.append(
                TextSegment(
                    part.path, SegmentSource.ATTACHMENT, name_as_words(part.filename),
                    filename=part.filename,
                )
            )
        unwrapped = _unwrapped(part.payload, ctx)
        self.add(part, SegmentSource.ATTACHMENT, list(unwrapped.texts))
        self.attachments.append(_Attachment(part, TNEF, Protected(Encryption.NONE, None), ctx))
        for index, file in enumerate(unwrapped.files, start=1):
            inner = Part(
                path=f"{part.path}.TNEF.{index}",
                content_type="application/octet-stream",
                payload=file.data,
                filename=file.name,
            )
            self.unwrapped.append(inner)
            self.attachment(inner, sent_in=part.path)
            if file.properties.strip():
                self.add(inner, SegmentSource.ATTACHMENT,
                         [ExtractedText(file.properties, "(properties)")])

    def protection(self, data: bytes, fmt: str, ctx: ExtractContext) -> Protected:
        try:
            if fmt in (ZIP, DOCX, XLSX, PPTX, ODF):
                zipped = inspect_zip(data, ctx, fmt)
                if zipped.encryption is not Encryption.NONE or zipped.opener is not None:
                    return zipped
                if fmt == ODF:
                    return inspect_odf(data, ctx, fmt)
                if fmt != ZIP:
                    return inspect_ooxml(data, ctx, fmt)
                return zipped
            if fmt == PDF:
                return inspect_pdf(data, ctx)
            if fmt == OLE:
                return inspect_ole(data, ctx)
            if fmt in (PGP, CMS):
                return Protected(Encryption.UNKNOWN, None)
        except (ExtractionError, ExtractionLimit) as exc:
            # Damaged or unreadable is not encrypted: the Problem says what
            # it is, and `unknown` stays for real encryption of an unknown kind.
            ctx.problem(exc.code, exc.detail)
            return Protected(Encryption.NONE, None)
        except Exception as exc:  # a third-party parser failing on hostile input
            ctx.problem("inspect_failed", f"{fmt}: {type(exc).__name__}")
            return Protected(Encryption.NONE, None)
        return Protected(Encryption.NONE, None, extract_as=fmt)

    def try_passwords(self, found: list[Found]) -> set[int]:
        """Try candidates on each encrypted attachment; indexes of those that opened one."""
        openers: set[int] = set()
        if not found:
            return openers
        for attachment in self.attachments:
            opener = attachment.protected.opener
            if opener is None:
                continue
            tries = 0
            for index, item in enumerate(found):
                if attachment.opened_by is not None or tries >= self.limits.max_password_tries:
                    break
                for spelling in item.spellings:
                    if tries >= self.limits.max_password_tries or time.monotonic() > self.deadline:
                        break
                    tries += 1
                    attachment.tried.add(spelling)
                    opened = self.attempt(attachment, opener, spelling)
                    if opened is _BROKEN:
                        tries = self.limits.max_password_tries
                        break
                    if opened is None:
                        continue
                    candidate = item.candidate
                    if spelling != candidate.value:
                        found[index] = Found(replace(candidate, value=spelling), item.spellings)
                    self.opened(attachment, found[index].candidate, opened)
                    openers.add(index)
                    break
        return openers

    def attempt(self, attachment: _Attachment, opener: Opener, password: str) -> Opened | None:
        """`opener(password)`; `_BROKEN` when the format's library failed."""
        try:
            return opener(password)
        except (ExtractionError, ExtractionLimit) as exc:
            attachment.ctx.problem(exc.code, exc.detail)
            return None
        except Exception as exc:  # a third-party parser failing on hostile input
            # The attachment stays unopened (so not clean); the rest of the
            # message is still inspected.
            attachment.ctx.problem(
                "extract_failed", f"opening {attachment.fmt}: {type(exc).__name__}"
            )
            attachment.broken = True
            return _BROKEN

    def opened(
        self, attachment: _Attachment, by: PasswordCandidate | None, opened: Opened
    ) -> None:
        """`opened` by the message's password `by`, or (None) a common one."""
        if by is None:
            attachment.guessed = True
        else:
            attachment.opened_by = by
        if opened.read_only is not None:
            attachment.read_only = opened.read_only
        self.add(attachment.part, SegmentSource.ATTACHMENT, opened.texts, inside=True)

    def try_tokens(self, message: ParsedMessage, found: list[Found], openers: set[int]) -> None:
        """Step 5: the message's words on attachments still unopened, then
        every place an opening password is written (appended to `found`,
        their indexes to `openers`)."""
        encrypted = [a for a in self.attachments if a.protected.opener is not None]
        if not encrypted:
            return
        tokens = message_tokens(message, self.segments)
        opening = {found[i].candidate.value for i in openers}
        stop = min(self.deadline, time.monotonic() + _TOKEN_SECONDS)
        for attachment in encrypted:
            opener = attachment.protected.opener
            if attachment.opened_by is not None or attachment.broken or opener is None:
                continue
            slow = attachment.fmt not in _TOKEN_TRIES
            cap = _TOKEN_TRIES.get(attachment.fmt, _SLOW_TOKEN_TRIES)
            tries = 0
            for item in tokens:
                if attachment.opened_by is not None or tries >= cap:
                    break
                if slow and not item.candidate.removable:
                    continue  # a labelled line's value only: ~110 ms a try
                for spelling in item.spellings:
                    if tries >= cap or time.monotonic() > stop:
                        tries = cap
                        break
                    if spelling in attachment.tried:
                        continue
                    tries += 1
                    attachment.tried.add(spelling)
                    opened = self.attempt(attachment, opener, spelling)
                    if opened is _BROKEN:
                        tries = cap
                        break
                    if opened is None:
                        continue
                    self.opened(attachment, replace(item.candidate, value=spelling), opened)
                    opening.add(spelling)
                    break
        known = {(f.candidate.value, f.candidate.location, f.candidate.part_path,
                  f.candidate.removable) for f in found}
        for item in tokens:
            for spelling in item.spellings:
                if spelling not in opening:
                    continue
                candidate = replace(item.candidate, value=spelling)
                key = (spelling, candidate.location, candidate.part_path, candidate.removable)
                if key not in known:
                    known.add(key)
                    openers.add(len(found))
                    found.append(Found(candidate, item.spellings))
                break

    def try_common(self) -> None:
        """Step 6: the most common passwords on attachments still unopened.

        Bounded by the number of tries (`_COMMON_TRIES`), not by a clock:
        a stop after a tenth of a second let a busy machine accept an
        attachment `qwerty` opens as protected (the answer must not depend
        on the load); only the inspection's own deadline cuts it short."""
        stop = self.deadline
        for attachment in self.attachments:
            opener = attachment.protected.opener
            cap = _COMMON_TRIES.get(attachment.fmt, 0)
            if attachment.opened_by is not None or attachment.broken or opener is None:
                continue
            for password in COMMON_PASSWORDS[:cap]:
                if time.monotonic() > stop:
                    return
                if password in attachment.tried:
                    continue
                attachment.tried.add(password)
                opened = self.attempt(attachment, opener, password)
                if opened is _BROKEN:
                    break
                if opened is not None:
                    self.opened(attachment, None, opened)
                    break

    def report(self, attachment: _Attachment) -> AttachmentReport:
        by = attachment.opened_by
        return AttachmentReport(
            part_path=attachment.part.path,
            filename=attachment.part.filename,
            content_type=content_type_of(attachment.fmt),
            encryption=attachment.protected.encryption,
            read_only=attachment.read_only,
            password_opens=by is not None,
            password_length=len(by.value) if by is not None else 0,
            common_password=attachment.guessed or (by is not None and is_common(by.value)),
            entries=attachment.protected.entries,
            inline=attachment.part.is_inline,
            declared_type=attachment.part.content_type,
            sent_in=attachment.sent_in,
            security=attachment.part.security,
        )


def _unwrapped(data: bytes, ctx: ExtractContext) -> Unwrapped:
    """`unwrap_tnef`, every failure a Problem in `ctx` (as the registry's)."""
    try:
        ctx.check_time()
        return unwrap_tnef(data, ctx)
    except (ExtractionLimit, ExtractionError) as exc:
        ctx.problem(exc.code, exc.detail)
    except RecursionError:
        ctx.problem("too_deep", "tnef structure nested too deeply")
    except MemoryError:
        ctx.problem("too_large", "tnef content too large to hold")
    except Exception as exc:  # a parser failing on hostile input
        ctx.problem("extract_failed", f"tnef: {type(exc).__name__}")
    return Unwrapped((), ())


def _ordered(found: list[Found], openers: set[int]) -> tuple[PasswordCandidate, ...]:
    first = [replace(f.candidate, opens=True) for i, f in enumerate(found) if i in openers]
    rest = [f.candidate for i, f in enumerate(found) if i not in openers]
    return tuple(first + rest)
