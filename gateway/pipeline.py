"""The content stages, composed: inspect -> detect -> marking -> recipients ->
decide -> transform.

    Pipeline(settings)              registries built once (detection engine,
                                    allow-list, content limits)
    Pipeline.run(envelope, raw) -> Decision

`run` is synchronous and does no network or database I/O (the allow-list
looks at its file's mtime at most every few seconds), so it runs in the
event loop for small messages and in a worker thread for large ones.  In
between (64 to 256 KB), it runs in three steps:

    Pipeline.read(raw) -> Reading                  parse and extract
    Pipeline.search_ahead(reading) -> Ahead        the first passes over texts
                                                   of SEARCH_AHEAD_FROM or more
    Pipeline.conclude(envelope, raw, reading, ahead) -> Decision

The first two run in the worker thread where the receive stage checks the
message's line endings (`Gateway._read_ahead`): RE2 lets go of the
interpreter lock while it searches, so the event loop serves other sessions
meanwhile, and no thread hop is added (each costs a busy loop a few of its
turns in latency).  The searches made ahead are the ones the stages would
make first (detection's first stop, the keyword mentions); given them, the
stages start from their results, so the three steps decide exactly what
`run` decides.

The `Decision` carries everything the composition root needs to commit: the
verdict, the bytes to deliver, each recipient's route, the password to hold
and the audit facts (never the personal data nor a password: the subject,
the sharing facts and the file names are redacted where either was found in
them).

`gateway scan` calls the same `run`, so a scanned file and live mail always
get the same verdict.

Cost: the message is parsed once (by the inspect stage); detection is one
combined regex pass per segment; mail that turns out to carry nothing to act
on (no personal data, marking, password or sharing headers) skips the
transform and is delivered byte for byte.

Content the transform can never make fit to deliver (a password in a body
part it cannot rewrite: gateway.errors.UnrewritableContent) is refused as
the policy refuses, never answered 451 for every retry.

Bounds: one deadline covers the whole inspection, extraction and detection
(`ContentLimits.total_timeout_s`, from the reading on; detection looks at it
as it goes, `gateway.detect.engine`), and the text extracted from a message
has a budget (`max_message_text_chars`).  Either passed, the message could
not be inspected: a Problem (`timeout`, `text_too_large`) the policy refuses
as `uninspectable_content`, a definite answer, and the thread inspecting it
ends there.  `run` and `conclude` called `on_loop` (on the event loop, where
every other session waits meanwhile) work to a far smaller bound
(`LOOP_TEXT_CHARS`, `LOOP_SECONDS`) and raise `NotForTheLoop` past it: the
caller inspects the message again in a thread, under the full bounds.
"""

from __future__ import annotations

import email.utils
import functools
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from gateway.detect import DetectionEngine, FirstStop, build_engine, find_marking
from gateway.detect.echoes import echoes, names_found, spans_in
from gateway.errors import LimitExceeded, UnrewritableContent
from gateway.extract.base import SeenText, name_as_words
from gateway.inspect import Reading, read_message
from gateway.inspect.passwords import stated_passwords
from gateway.model import (
    Action,
    AttachmentReport,
    Encryption,
    Envelope,
    Finding,
    InformationType,
    Inspection,
    PasswordCandidate,
    Problem,
    ReasonCode,
    RecipientEntry,
    SegmentSource,
    TextSegment,
    Verdict,
)
from gateway.parse import ContentLimits
from gateway.parse.headers import (
    ID_HEADERS,
    IDENTIFIER_TYPES,
    header_path,
    identifier_lefts,
    identifier_text,
    is_display_name_path,
    is_topic_path,
    without_contacts,
)
from gateway.parse.keywords import Mentions, known, mentions
from gateway.parse.limits import Deadline
from gateway.policy import decide, match_recipients, unrewritable
from gateway.policy.recipients import RecipientsFile
from gateway.settings import Settings
from gateway.transform import SharingFacts, prepare_outbound, sharing_facts
from gateway.transform.sharing import without_statements

__all__ = [
    "Ahead", "Decision", "NotForTheLoop", "Pipeline", "received_header", "redact_decision",
    "redact_sharing",
    "redact_subject",
]

REDACTED = "[redacted]"
# Messages from this size on are inspected one at a time (see Pipeline.run).
_LARGE = 4 * 1024 * 1024
# Texts from this many characters on are searched ahead: below it the search
# costs the loop little (RE2 reads about 500 MB/s).
SEARCH_AHEAD_FROM = 32 * 1024
_MONITOR_METHOD = "email (monitor mode: delivered unchanged)"
# The bounds of an inspection on the event loop (`on_loop`): ordinary mail
# is well inside them (a long letter is some tens of kilobytes of text,
# read in milliseconds); more is inspected in a thread.
LOOP_TEXT_CHARS = 256 * 1024
LOOP_SECONDS = 0.5


class NotForTheLoop(Exception):
    """The message is past the event loop's bounds (`Pipeline.run`'s
    `on_loop`): inspect it again in a thread.  Nothing was decided."""


@dataclass(frozen=True, slots=True)
class Ahead:
    """The first searches over a message's large texts, made off the loop
    (`Pipeline.search_ahead`)."""

    first_stops: dict[int, FirstStop] = field(default_factory=dict)
    mentions: tuple[Mentions, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """What the pipeline decided about one message, ready to be committed."""

    verdict: Verdict
    content: bytes = field(repr=False)
    routes: tuple[str, ...]
    subject: str = ""  # for the audit trail: personal data found in it replaced
    message_id: str | None = None
    password: str | None = field(default=None, repr=False)  # to hold, never logged
    password_state: str = "none"  # none | held | in_message (`gateway scan`)
    purpose: str | None = None
    consent: str | None = None
    authorised_by: str | None = None
    attachments: tuple[AttachmentReport, ...] = ()
    recipients: tuple[RecipientEntry | None, ...] = ()  # allow-list row per recipient
    method: str = ""
    subject_has_personal_data: bool = False


def received_header(
    envelope: Envelope, hostname: str, queue_id: str, when: datetime, tls: bool = False
) -> bytes:
    """The trace header the gateway adds (RFC 5321 section 4.4)."""
    protocol = "UTF8SMTP" if envelope.smtputf8 else "ESMTP"
    if tls:
        protocol += "S"
    if envelope.auth_user:
        protocol += "A"
    recipient = f"\r\n\tfor <{envelope.rcpt_tos[0]}>" if len(envelope.rcpt_tos) == 1 else ""
    line = (
        f"Received: from {_helo_text(envelope.helo)} ([{envelope.peer}])\r\n"
        f"\tby {hostname} (secure-sharing gateway) with {protocol} id {queue_id}"
        f"{recipient};\r\n\t{_date_text(when.replace(microsecond=0))}\r\n"
    )
    return line.encode("utf-8")


# A busy gateway writes the same date, and mostly the same few HELO names,
# into hundreds of Received headers a second: each is worked out once.
@functools.lru_cache(maxsize=4)
def _date_text(when: datetime) -> str:
    return email.utils.format_datetime(when)


@functools.lru_cache(maxsize=256)
def _helo_text(helo: str) -> str:
    return "".join(ch for ch in helo if ch.isprintable() and ch not in "()\\")[:100] or "unknown"


def _echo_targets(clear: list[TextSegment], inspection: Inspection) -> list[TextSegment]:
    """Where a name travels in clear without the context that would show it
    is a name: the subject and the headers read with it, attachments' file
    names, and what an encrypted attachment shows without its password (its
    archive's member names).  Not a display name: a name there is the
    correspondent's own (the person the message is about, writing or
    written to)."""
    encrypted = {a.part_path for a in inspection.attachments if a.encryption != Encryption.NONE}
    return [
        s for s in clear
        if (s.source is SegmentSource.SUBJECT and not is_display_name_path(s.part_path))
        or (s.source is SegmentSource.ATTACHMENT
            and ((s.filename is not None and s.text == name_as_words(s.filename))
                 or s.part_path in encrypted))
    ]


def redact_subject(inspection: Inspection, findings: tuple[Finding, ...]) -> str:
    """The subject with every span where personal data was found replaced,
    and every password written in it (the audit record and the sender's
    notification quote the subject; neither may hold a password)."""
    subject = inspection.message.subject
    spans = [(f.start, f.end) for f in findings
             if f.source == SegmentSource.SUBJECT and not is_topic_path(f.part_path)]
    if spans:
        text = next(
            (s.text for s in inspection.segments
             if s.source == SegmentSource.SUBJECT and not is_topic_path(s.part_path)), None
        )
        if text is None or text != subject:
            return REDACTED  # offsets would not line up: hide it all rather than leak
    # A password stated in the subject, and one that opened an attachment
    # wherever the subject holds it (policy: password_in_message).
    values = {c.value for c in inspection.passwords if c.location == "subject" or c.opens}
    return _redacted(subject, spans + _written(subject, values))


_ID_NAMES = {name.lower(): name for name in ID_HEADERS}
_MESSAGE_ID_PATH = header_path("Message-ID")


def identifier_findings(
    engine: DetectionEngine, headers: Iterable[tuple[str, str]]
) -> tuple[Finding, ...]:
    """The personal data certainly named in the message's identifier headers
    (Message-ID, In-Reply-To, References: gateway.parse.headers.ID_HEADERS),
    part_path "header:<name>", offsets into the header's value.  Only
    `IDENTIFIER_TYPES`, in the identifiers' left parts: a mail program's
    identifier looks like an e-mail address and holds random letters and
    digits, so anything looser would refuse ordinary mail."""
    segments = [
        TextSegment(header_path(_ID_NAMES[name.lower()]), SegmentSource.SUBJECT,
                    identifier_text(value))
        for name, value in headers if name.lower() in _ID_NAMES and value.strip()
    ]
    if not segments:
        return ()
    return tuple(f for f in engine.detect(segments) if f.info_type in IDENTIFIER_TYPES)


def redact_message_id(
    engine: DetectionEngine, message_id: str | None, passwords: Iterable[str],
    named: bool = True,
) -> str | None:
    """The Message-ID as the audit record keeps it: an identifier's left
    part where `identifier_findings` reads personal data replaced whole (the
    rest of "Jack.Wilson.<date of birth>" is the same person's), and every
    password of `passwords` (those that opened an attachment) written in
    it.  `named`: whether the message's findings hold one in its Message-ID
    (when not, it is not read again)."""
    if not message_id:
        return message_id
    found = identifier_findings(engine, [("Message-ID", message_id)]) if named else ()
    spans = [(start, end) for start, end in identifier_lefts(message_id)
             if any(start <= f.start < end for f in found)]
    return _redacted(message_id, spans + _written(message_id, passwords))


def _written(text: str, values: Iterable[str]) -> list[tuple[int, int]]:
    """Every span of `text` where one of `values` is written, as its reader
    sees it (`SeenText`): "V\u200bq\u200b7" is where "Vq7" is written, the
    zero-width spaces between its characters included."""
    seen = SeenText(text)
    spans: list[tuple[int, int]] = []
    for value in values:
        start = seen.text.find(value) if value else -1
        while start >= 0:
            spans.append(seen.source(start, start + len(value)))
            start = seen.text.find(value, start + 1)
    return spans


def _redacted(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each of `spans` (which may overlap) replaced by REDACTED."""
    if not spans:
        return text
    out: list[str] = []
    position = 0
    for start, end in sorted(spans):
        if end <= position:
            continue
        start = max(start, position)
        out.append(text[position:start])
        out.append(REDACTED)
        position = end
    out.append(text[position:])
    return "".join(out)


# What the purpose and the limits to consent may name without redaction:
# the kind of information shared is what they are for ("safeguarding
# referral").  The authoriser is a member of staff, named with their work
# contact details, which the record must keep.
_PURPOSE_KEEPS = frozenset({InformationType.SPECIAL_CATEGORY})
_AUTHORISER_KEEPS = _PURPOSE_KEEPS | {
    InformationType.PERSON_NAME, InformationType.EMAIL_ADDRESS, InformationType.UK_PHONE_NUMBER,
}


# Name findings that say the name is someone the message is about ("the
# child Oliver Smith", "Jack Wilson DOB ..."), not who authorised it.
_ABOUT_SOMEONE = frozenset({"person_name.role", "person_name.cue"})
# How close after a name other personal data makes it that person's.
_BESIDE = 12


def _about_someone(
    finding: Finding, findings: tuple[Finding, ...], keeps: frozenset[InformationType]
) -> bool:
    """Whether a name kept in the authoriser ("Dr Amit Patel") is instead
    a person the message is about: "re Jack Wilson DOB 14/06/2013", "Jack
    Wilson of 12 Acacia Road" (a name found so, or with other personal
    data right after it; not the authoriser's own e-mail or telephone
    number, which `keeps` keeps)."""
    if finding.info_type is not InformationType.PERSON_NAME:
        return False
    if finding.recognizer in _ABOUT_SOMEONE:
        return True
    return any(
        other.info_type not in keeps
        and finding.end <= other.start <= finding.end + _BESIDE
        for other in findings
    )


def redact_sharing(
    engine: DetectionEngine, sharing: SharingFacts, passwords: Iterable[str] = ()
) -> SharingFacts:
    """`sharing` with the personal data its values name replaced, and every
    password written in them: `passwords` (those that opened an attachment)
    and any a statement in the value gives ("the password is ...").

    The purpose, the limits to consent and the authoriser are staff's own
    words, written in a header or a line of the text, and they travel in
    clear in the handling notice and stay in the audit record for years:
    "assessment of <a child's name>, NHS <number>" must do neither.  A line
    of the text was read with the body, so the verdict has seen it; a
    header's value is read here only (a password in it that opens an
    attachment is among the message's words the inspect stage tried, and
    refused as password_in_message)."""
    opening = frozenset(passwords)
    return SharingFacts(
        purpose=_staff_words(engine, sharing.purpose, _PURPOSE_KEEPS, opening),
        consent=_staff_words(engine, sharing.consent, _PURPOSE_KEEPS, opening),
        authorised_by=_staff_words(engine, sharing.authorised_by, _AUTHORISER_KEEPS, opening),
    )


def _staff_words(
    engine: DetectionEngine, value: str | None, keeps: frozenset[InformationType],
    passwords: frozenset[str] = frozenset(),
) -> str | None:
    """`value` with the personal data it names (other than `keeps`), the
    passwords of `passwords` and any password it states replaced."""
    if not value:
        return value
    findings = engine.detect([TextSegment("", SegmentSource.SUBJECT, value)])
    spans = [(f.start, f.end) for f in findings
             if f.info_type not in keeps or _about_someone(f, findings, keeps)]
    spans += _written(value, passwords.union(stated_passwords(value)))
    return _redacted(value, spans)


def redact_decision(engine: DetectionEngine, by: str, note: str) -> tuple[str, str]:
    """An approver's name and note as the audit trail keeps them
    (`gateway held approve|reject --by --note`, the console's forms): redacted
    as the authoriser and the purpose are.  Staff type "ok for NHS <number>,
    <the child's name>" there, and the trail keeps it for years."""
    return (_staff_words(engine, by, _AUTHORISER_KEEPS) or "",
            _staff_words(engine, note, _PURPOSE_KEEPS) or "")


def redact_file_names(
    engine: DetectionEngine,
    attachments: tuple[AttachmentReport, ...],
    names: frozenset[str] = frozenset(),
    passwords: tuple[PasswordCandidate, ...] = (),
) -> tuple[AttachmentReport, ...]:
    """`attachments` with the personal data their file names show replaced,
    and the passwords written in them (as the subject's are: one that
    opened an attachment, one stated in the name itself): what the audit
    record keeps of them, and (where it differs) the names protect mode does
    not let travel.  `names`: the people the message is about
    (gateway.detect.echoes), whose names a file name shows without context.
    `passwords`: the inspection's.  (The verdict has read the names already,
    as text of their attachments.)"""
    opening = {c.value for c in passwords if c.opens}

    def named(report: AttachmentReport) -> AttachmentReport:
        name = report.filename
        if not name:
            return report
        words = name_as_words(name)
        findings = engine.detect(
            [TextSegment(report.part_path, SegmentSource.ATTACHMENT, words, filename=name)]
        )
        stated = {c.value for c in passwords
                  if c.location == "filename" and c.part_path == report.part_path}
        spans = [(f.start, f.end) for f in findings] + spans_in(words, names)
        spans += _written(name, opening | stated)
        return replace(report, filename=_redacted(name, spans))

    return tuple(named(report) for report in attachments)


def _password_state(verdict: Verdict, inspection: Inspection, password: str | None) -> str:
    """`gateway scan`'s `password`: where the sender's password ends up.

    in_message: it travels with the attachment (it cannot be taken out, or
    monitor mode delivered the message unchanged); held: the gateway holds
    it (or, for a refused message, would hold it once the message is fixed);
    none: no password that opens an attachment, and none generated.
    """
    if any(r.code == ReasonCode.PASSWORD_IN_MESSAGE for r in verdict.reasons):
        return "in_message"
    if password is not None:
        return "held"
    if any(c.opens and c.removable for c in inspection.passwords):
        return "held" if verdict.action == Action.REJECT else "in_message"
    return "none"


class Pipeline:
    """Built once at start-up from the settings; `run` is called per message."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = build_engine()
        # The format characters are listed from the Unicode database on first
        # use (about 0.1 s): at start-up, not in the first message's SMTP time.
        SeenText("\u200b")
        # The whole inspection must finish well inside the SMTP-time bound so
        # a slow message gets a policy answer, not a 451 from the timeout.
        budget = settings.server.inspect_timeout.total_seconds()
        defaults = ContentLimits()
        self.limits = replace(
            defaults,
            total_timeout_s=min(defaults.total_timeout_s, budget * 0.75),
            extract_timeout_s=min(defaults.extract_timeout_s, budget * 0.5),
            max_message_text_chars=settings.server.max_inspected_text,
        )
        self.loop_limits = replace(
            self.limits,
            total_timeout_s=min(self.limits.total_timeout_s, LOOP_SECONDS),
            extract_timeout_s=min(self.limits.extract_timeout_s, LOOP_SECONDS),
            max_message_text_chars=min(self.limits.max_message_text_chars, LOOP_TEXT_CHARS),
        )
        self.recipients = RecipientsFile(settings.recipients_path, settings.routes.keys())
        self._large = threading.Lock()

    def run(self, envelope: Envelope, content: bytes, *, on_loop: bool = False) -> Decision:
        """The decision on `content`.  `on_loop`: within the event loop's
        bounds, else `NotForTheLoop` (see the module's docstring)."""
        if on_loop:
            reading = read_message(content, self.loop_limits)
            return self.conclude(envelope, content, reading, on_loop=True)
        if len(content) < _LARGE:
            return self.conclude(envelope, content, self.read(content))
        # Inspecting a large message holds several copies of its text (decoded
        # payload, extracted text, folded text for detection): one at a time
        # keeps the process's memory bounded when many arrive together.
        with self._large:
            return self.conclude(envelope, content, self.read(content))

    def read(self, content: bytes) -> Reading:
        """The message parsed and its text extracted.  Never raises."""
        return read_message(content, self.limits)

    @staticmethod
    def worth_searching_ahead(reading: Reading) -> bool:
        return any(len(s.text) >= SEARCH_AHEAD_FROM for s in reading.segments)

    def search_ahead(self, reading: Reading) -> Ahead:
        """The first searches over the large texts of `reading`, in any thread."""
        large = [s.text for s in reading.segments if len(s.text) >= SEARCH_AHEAD_FROM]
        found = (mentions(text) for text in large)
        return Ahead(
            first_stops=self.engine.first_stops(
                [s for s in reading.segments if not s.inside_encrypted], SEARCH_AHEAD_FROM
            ),
            mentions=tuple(m for m in found if m is not None),
        )

    def conclude(
        self,
        envelope: Envelope,
        content: bytes,
        reading: Reading,
        ahead: Ahead | None = None,
        *,
        on_loop: bool = False,
    ) -> Decision:
        """The rest of the pipeline, from `read`'s result (and `search_ahead`'s).
        `on_loop`: as `run`'s; the same reading may then be concluded again
        in a thread."""
        if on_loop and reading.text_chars > LOOP_TEXT_CHARS:
            raise NotForTheLoop
        if ahead is None:
            return self._conclude(envelope, content, reading, None, on_loop)
        with known(ahead.mentions):
            return self._conclude(envelope, content, reading, ahead.first_stops, on_loop)

    def _conclude(
        self,
        envelope: Envelope,
        content: bytes,
        reading: Reading,
        first_stops: dict[int, FirstStop] | None,
        on_loop: bool,
    ) -> Decision:
        deadline = Deadline(reading.deadline)
        if on_loop:
            deadline = Deadline(min(reading.deadline, time.monotonic() + LOOP_SECONDS))
        inspection = reading.finish()
        if on_loop and time.monotonic() > deadline.at:
            # Its reading may have been cut short by the loop's bound (its
            # passwords not all tried): not a reading to decide on.
            raise NotForTheLoop
        clear = without_statements(
            inspection, [s for s in inspection.segments if not s.inside_encrypted])
        opened = [s for s in inspection.segments if s.inside_encrypted]
        try:
            findings = without_contacts(self.engine.detect(clear, first_stops, deadline))
            findings += identifier_findings(self.engine, inspection.message.headers)
            protected = self.engine.detect(opened, deadline=deadline) if opened else ()
        except LimitExceeded:
            if on_loop:
                raise NotForTheLoop from None
            # Not read to its end, so never clean: refused as content that
            # could not be checked, a definite answer (never 451 for every
            # retry), and the inspection ends here.
            inspection = replace(inspection, problems=(
                *inspection.problems, Problem("", "timeout", "message inspection took too long")))
            findings, protected = (), ()
        # A name the text gives as the person's is theirs wherever else it
        # is written in clear (gateway.detect.echoes).
        # Each set of findings against the segments it came from: an
        # attachment's clear texts (its file name, its members' names) share
        # its place with what its password opened.
        names = names_found(findings, clear) | names_found(protected, opened)
        if names:
            findings += echoes(names, findings, _echo_targets(clear, inspection))
        marking = find_marking(inspection.message)
        sharing = redact_sharing(self.engine, sharing_facts(inspection),
                                 {c.value for c in inspection.passwords if c.opens})
        allow_list = self.recipients.current()
        matches = match_recipients(envelope, allow_list)
        verdict = decide(
            envelope,
            inspection,
            findings,
            self.settings,
            recipients=allow_list,
            marking=marking,
            purpose=sharing.purpose,
            protected_findings=protected,
        )
        attachments = redact_file_names(self.engine, inspection.attachments, names,
                                        inspection.passwords)
        try:
            outbound, password, method = self._transform(
                content, inspection, verdict, sharing, findings, frozenset(
                    a.part_path for a, named in zip(inspection.attachments, attachments,
                                                    strict=True)
                    if a.filename != named.filename
                ), self._shows_in_clear(clear, inspection, names),
            )
        except UnrewritableContent as exc:
            # Content the transform can never make fit: refused like any
            # rule broken (recorded, 550, the sender told why).  Any other
            # failure propagates, and the client is answered 451.
            verdict = unrewritable(verdict, exc.code, self.settings.policy.mode)
            outbound, password, method = (
                (b"", None, "") if verdict.action == Action.REJECT
                else (content, None, _MONITOR_METHOD)
            )
        routes = tuple(m.secure_route if m and m.secure_route else "upstream" for m in matches)
        return Decision(
            verdict=verdict,
            content=outbound,
            routes=routes,
            subject=redact_subject(inspection, findings),
            message_id=redact_message_id(
                self.engine, inspection.message.message_id,
                {c.value for c in inspection.passwords if c.opens},
                named=any(f.part_path == _MESSAGE_ID_PATH for f in findings)),
            password=password,
            password_state=_password_state(verdict, inspection, password),
            purpose=sharing.purpose,
            consent=sharing.consent,
            authorised_by=sharing.authorised_by,
            attachments=attachments,
            recipients=matches,
            method=method,
            subject_has_personal_data=any(
                f.source == SegmentSource.SUBJECT and not is_topic_path(f.part_path)
                for f in findings
            ),
        )

    def _shows_in_clear(
        self, clear: list[TextSegment], inspection: Inspection, names: frozenset[str]
    ) -> frozenset[str]:
        """Encrypted attachments whose text readable without the password,
        other than their file name (an archive's member names), shows
        personal data: renaming the attachment would not hide it."""
        encrypted = {a.part_path for a in inspection.attachments
                     if a.encryption != Encryption.NONE}
        shown = [s for s in clear if s.source is SegmentSource.ATTACHMENT
                 and s.part_path in encrypted and s.text != s.filename]
        return frozenset(
            s.part_path for s in shown if spans_in(s.text, names) or self.engine.detect([s])
        )

    def _transform(
        self,
        content: bytes,
        inspection: Inspection,
        verdict: Verdict,
        sharing: SharingFacts,
        findings: tuple[Finding, ...],
        names_to_hide: frozenset[str],
        shows_in_clear: frozenset[str],
    ) -> tuple[bytes, str | None, str]:
        if verdict.action == Action.REJECT:
            return b"", None, ""
        nothing_to_do = (
            not verdict.personal_data
            and verdict.marking is None
            and not inspection.passwords
            and not (sharing.purpose or sharing.consent or sharing.authorised_by)
        )
        if nothing_to_do:
            return content, None, "email"
        if self.settings.policy.mode == "monitor" and verdict.reasons:
            # Monitor mode delivers what breaks the rules unchanged and only
            # records what enforce would have done; it never rewrites mail it
            # has found fault with (which may be mail it could not parse).
            return content, None, _MONITOR_METHOD
        # prepare_outbound protects (PROTECT, or HOLD in protect mode) and
        # otherwise strips the sharing lines, takes out the sender's password
        # and adds the handling notice.
        outbound = prepare_outbound(
            content, inspection, verdict, self.settings, sharing, findings=findings,
            names_to_hide=names_to_hide, shows_in_clear=shows_in_clear,
        )
        return outbound.content, outbound.password, outbound.method
