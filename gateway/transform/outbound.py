"""The outbound message: what the recipient gets, and the password to hold.

Flow of `prepare_outbound` (every step on the parsed copy; the raw bytes are
returned untouched when no step changed anything):

1. the sharing headers (`X-Sharing-Purpose`, `X-Sharing-Consent`,
   `X-Authorised-By`), `X-Attachment-Password` and `Bcc:` are removed;
2. the body's `Purpose:` / `Consent:` / `Authorised by:` lines are removed,
   and so are the password statements of a sender's password that opened an
   attachment (it is returned, to be held and sent separately);
3. protect (verdict PROTECT, or HOLD in protect mode) with clear personal
   data: the message text and every attachment without encryption go into an
   AES-256 zip of read-only entries, under a generated password; the body
   becomes a notice saying where the content is and how the password comes;
   a winmail.dat (Outlook's TNEF, which no program opens from a zip) is
   replaced by the files inside it, each zipped or kept as a MIME
   attachment would be; otherwise, mail with personal data gets the
   handling notice as the first
   paragraph of its text (plain and HTML), or as a part of its own where the
   text cannot be edited without harm (signed or encrypted content);
4. protect: the subject is marked (once), and replaced by the marking alone
   when the subject itself carried personal data (the original subject is
   then in the protected file); a header read with the subject that held
   personal data goes (Thread-Topic, Keywords, Comments, Organization, an
   X- header; a kept attachment's Content-Description), and an address
   header whose display names did keeps its bare addresses;
5. the result is parsed again and checked: MIME no worse than it came, the
   removed headers and password statements gone, the zip present and
   identical.  Any failure is a ContentError, never a half-made message:
   UnrewritableContent where the content itself can never be made fit (a
   password left in a body part that cannot be rewritten, read as the
   inspect stage reads it: the pipeline refuses the message as
   password_in_message), otherwise the client is told 451 and keeps it.

Signed content (multipart/signed) is not rewritten, since that would break
its signature: purpose lines inside it stay, and the notice goes in a part of
its own beside it.  Protected, its detached signature is left out of the zip
(what it signed is no longer there to verify); an opaque-signed entity
(smime.p7m) goes into the zip whole, and still verifies.  A sender's password inside signed content must still go,
so the signature is then removed (the content would not verify anyway).
"""

from __future__ import annotations

import html
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.utils import getaddresses
from urllib.parse import quote, unquote

from gateway.errors import ContentError, UnrewritableContent
from gateway.extract.base import SeenText, seen_text
from gateway.inspect import PASSWORD_HEADER, scan_text
from gateway.model import (
    Action,
    Encryption,
    Finding,
    Inspection,
    Part,
    ReasonCode,
    SegmentSource,
    Verdict,
)
from gateway.parse.headers import decode_header_value, header_place, is_topic_path
from gateway.settings import Settings
from gateway.transform.mime import (
    SIGNATURE_TYPES,
    HtmlText,
    Node,
    body_nodes,
    get_text,
    html_visible_text,
    insert_html,
    nodes,
    parse,
    readings,
    serialise,
    set_text,
    structure_defects,
    text_part,
)
from gateway.transform.notice import handling_html, handling_text, prepend_text, protected_text
from gateway.transform.protect import (
    ZIP_NAME,
    Entry,
    build_zip,
    generate_password,
    neutral_name,
    safe_name,
)
from gateway.transform.sharing import (
    SHARING_HEADERS,
    SharingFacts,
    strip_html,
    strip_text,
)
from gateway.transform.subject import decoded_subject, mark_message, marked, set_subject

REMOVED = "(password removed by the mail gateway: it will reach you separately)"
# How the audit record's `method` names the zip the gateway made under a
# password of its own (one the sender never had: gateway.receipts reads it).
PROTECTED_METHOD = "AES-256 zip (read-only)"
_CLEAR_CONTENT = frozenset({ReasonCode.PERSONAL_DATA_IN_BODY, ReasonCode.UNENCRYPTED_ATTACHMENT})
_STRONG = frozenset({Encryption.AES_128, Encryption.AES_192, Encryption.AES_256})
# The words a password statement is made of ("The password for the attached
# file is", "pw:", as gateway.inspect.passwords reads them).  A line holding
# nothing else (bar punctuation) becomes the REMOVED note; in a line with
# other words, the sender's, only the password itself is replaced.
_STATEMENT_WORDS = frozenset({
    "the", "your", "this", "these", "for", "to", "of", "is", "will", "be",
    "password", "passcode", "passphrase", "pass", "word", "pwd", "pw",
    "attached", "encrypted", "protected", "below", "above",
    "zip", "file", "document", "attachment", "pdf", "archive", "spreadsheet", "report", "folder",
    "zips", "files", "documents", "attachments", "pdfs", "archives", "spreadsheets", "reports",
    "folders",
})  # fmt: skip
_WORDS = re.compile(r"[^\W_]+")
# What a line keeps before the note: its indent and reply quoting ("> ").
_LINE_LEAD = re.compile(r"[ \t>]*")


@dataclass(frozen=True)
class Outbound:
    """The message to queue, and the password to hold (never in a repr)."""

    content: bytes = field(repr=False)
    password: str | None = field(repr=False)
    protected: bool
    method: str


def prepare_outbound(
    raw: bytes,
    inspection: Inspection,
    verdict: Verdict,
    settings: Settings,
    sharing: SharingFacts,
    *,
    findings: Sequence[Finding] = (),
    names_to_hide: frozenset[str] = frozenset(),
    shows_in_clear: frozenset[str] = frozenset(),
) -> Outbound:
    """Make the message fit to deliver (see the module docstring).

    `findings` (optional) are the detect stage's; a finding in the subject
    makes protect mode replace the subject by the marking alone.
    `names_to_hide`: parts whose file names show personal data (renamed);
    `shows_in_clear`: encrypted attachments whose member names do (wrapped).
    """
    try:
        return _Transform(raw, inspection, verdict, settings, sharing, findings,
                          names_to_hide, shows_in_clear).run()
    except ContentError:
        raise
    except Exception as exc:  # never deliver a half-made message: the client retries
        raise ContentError(f"outbound message cannot be prepared ({type(exc).__name__})") from exc


def _word_bounded(value: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])")


def states_password(text: str, value: str) -> bool:
    """Whether `text` still says what the password is, as its reader sees
    it (`SeenText`: zero-width characters between the password's own do
    not hide it)."""
    return any(value == found or value in spellings for found, spellings in scan_text(text))


def _replaced(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """`text` with each of `spans` (in order, not overlapping) made REMOVED."""
    out: list[str] = []
    position = 0
    for start, end in spans:
        out.append(text[position:start])
        out.append(REMOVED)
        position = end
    out.append(text[position:])
    return "".join(out)


def remove_from_text(text: str, values: Sequence[str]) -> str:
    """Plain text without the statements of `values`, each marked REMOVED.

    A line that only states the password ("Password: X") becomes the note; in
    any other line only the password is replaced, so the sender's words
    around it ("The list is attached. The password is X") stay.  The
    password is looked for as the reader sees the line (`SeenText`) and
    taken out as it is written, with the zero-width spaces, joiners, soft
    hyphens or byte order marks between its characters."""
    if not values:
        return text
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        seen = SeenText(line)
        hit = next((v for v in values if v in seen.text and states_password(seen.text, v)), None)
        if hit is None:
            continue
        shown = seen.text.rstrip("\r\n")
        if _only_states(shown, hit):
            body = line.rstrip("\r\n")
            lead = _LINE_LEAD.match(body)
            lines[index] = (lead.group() if lead else "") + REMOVED + line[len(body):]
        else:  # the sender's other words on the line stay
            found = re.finditer(re.escape(hit), seen.text)
            lines[index] = _replaced(line, [seen.source(*m.span()) for m in found])
    result = "".join(lines)
    for value in values:
        # A statement spread over lines ("Password:" then the value below it).
        seen = SeenText(result)
        if states_password(seen.text, value):
            found = _word_bounded(value).finditer(seen.text)
            result = _replaced(result, [seen.source(*m.span()) for m in found])
    return result


def _only_states(line: str, value: str) -> bool:
    """Whether `line` says nothing but that `value` is the password."""
    before, _, after = line.partition(value)
    words = _WORDS.findall(before.casefold())
    return not _WORDS.search(after) and all(w in _STATEMENT_WORDS for w in words)


def remove_from_html(document: str, values: Sequence[str]) -> str:
    """HTML whose visible text no longer holds `values`.

    The values are found in the text a reader sees (`HtmlText`: a password
    Outlook split with a spell-check <span>, or wrote with an entity, reads
    whole there; `SeenText`: so does one with zero-width characters, or
    their entities, &#8203; or &zwnj;, between its characters), and only
    the source characters that make them are replaced; the markup around
    and between them stays."""
    if not values:
        return document
    text = HtmlText(document)
    seen = SeenText(text.text)
    if not any(states_password(seen.text, v) for v in values):
        return document
    cuts: list[tuple[int, int]] = []
    for value in values:
        for found in _word_bounded(value).finditer(seen.text):
            spans = text.spans(*seen.source(found.start(), found.end()))
            if spans:
                cuts.append((spans[0][0], spans[0][0]))  # where the note goes
                cuts.extend(spans)
    out: list[str] = []
    position = 0
    for start, end in sorted(set(cuts)):
        if start < position:  # inside a cut already made (overlapping values)
            start = position
            if end <= start:
                continue
        out.append(document[position:start])
        if start == end:
            out.append(html.escape(REMOVED))
        position = end
    out.append(document[position:])
    return "".join(out)


class _Transform:
    def __init__(
        self,
        raw: bytes,
        inspection: Inspection,
        verdict: Verdict,
        settings: Settings,
        sharing: SharingFacts,
        findings: Sequence[Finding],
        names_to_hide: frozenset[str] = frozenset(),
        shows_in_clear: frozenset[str] = frozenset(),
    ) -> None:
        self.raw = raw
        # Parts whose file names show personal data: protecting renames them.
        self.names_to_hide = names_to_hide
        # Encrypted attachments that show personal data without their
        # password other than in their file name (an archive's member names).
        self.shows_in_clear = shows_in_clear
        self.inspection = inspection
        self.verdict = verdict
        self.settings = settings
        self.sharing = sharing
        self.findings = findings
        self.reports = {a.part_path: a for a in inspection.attachments}
        # The files inside each winmail.dat, by the winmail.dat's path.
        self.unwrapped: dict[str, list[Part]] = {}
        for inner in inspection.unwrapped:
            report = self.reports.get(inner.path)
            if report is not None:
                self.unwrapped.setdefault(report.sent_in, []).append(inner)
        openers = [c for c in inspection.passwords if c.opens and c.removable and c.value]
        self.sender_passwords = list(dict.fromkeys(c.value for c in openers))
        self.body_passwords = list(
            dict.fromkeys(c.value for c in openers if c.location == "body")
        )
        self.kept: list[EmailMessage] = []
        self.generated: str | None = None
        self.zip_bytes = b""
        self.subject_marked = False
        # Parts' headers found to hold personal data (Content-Description).
        self.part_headers: set[str] = set()

    # -- decisions -----------------------------------------------------------------

    @property
    def protecting(self) -> bool:
        action = self.verdict.action
        if action == Action.PROTECT:
            return True
        # Protect mode holds a sensitive message already protected, so that the
        # approver releases exactly what was checked.
        return action == Action.HOLD and self.settings.policy.mode == "protect"

    @property
    def zipping(self) -> bool:
        return self.protecting and any(r.code in _CLEAR_CONTENT for r in self.verdict.reasons)

    @property
    def needs_notice(self) -> bool:
        return self.verdict.personal_data or self.verdict.marking is not None

    # -- the run -----------------------------------------------------------------------

    def run(self) -> Outbound:
        message = parse(self.raw)
        defects_before = structure_defects(message)
        changed = self.strip_headers(message)
        if self.body_passwords and any(n.in_signed for n in body_nodes(message)):
            changed |= unwrap_signed(message)
        changed |= self.edit_bodies(message)
        subject = decoded_subject(message)
        if self.zipping:
            self.protect(message, subject)
            changed = True
        elif self.needs_notice:
            self.add_notice(message)
            changed = True
        if self.protecting:
            changed |= self.mark(message, subject)
        password = self.password_to_hold()
        if not changed:
            # Nothing was edited, yet a password to take out may be there in
            # a reading other than the one edited (see check_taken_out).
            self.check_taken_out(message)
            return Outbound(self.raw, password, False, self.method())
        if "mime-version" not in message:
            message["MIME-Version"] = "1.0"
        content = serialise(message)
        self.verify(content, defects_before)
        return Outbound(content, password, self.generated is not None, self.method())

    def strip_headers(self, message: EmailMessage) -> bool:
        changed = False
        # X-Attachment-Password is addressed to the gateway: it never travels,
        # whether or not its value opened anything.
        for name in (*SHARING_HEADERS, PASSWORD_HEADER):
            if name in message:
                del message[name]
                changed = True
        # A Bcc: header left in the submitted text (a script, a case system)
        # would show every copy's reader who else got it: the envelope says
        # who gets a copy, and Postfix's cleanup drops the header as well.
        if "bcc" in message:
            del message["bcc"]
            changed = True
        if self.zipping:
            # A header found to hold personal data (Thread-Topic, Keywords,
            # Comments, Organization, an X- header) goes, as the subject's
            # text does; an address header keeps its addresses only.
            for name, display_name, part in {header_place(f.part_path) for f in self.findings
                                             if is_topic_path(f.part_path)}:
                if part:
                    self.part_headers.add(name)  # the parts kept lose it (protect)
                elif display_name:
                    changed |= _bare_addresses(message, name)
                elif name in message:
                    del message[name]
                    changed = True
        return changed

    def edit_bodies(self, message: EmailMessage) -> bool:
        changed = False
        for node in body_nodes(message):
            if node.in_signed:
                continue
            text = get_text(node.part)
            if text is None:
                self.check_undecodable(node)
                continue
            if node.content_type == "text/html":
                new = remove_from_html(strip_html(text), self.body_passwords)
            else:
                new = remove_from_text(strip_text(text), self.body_passwords)
            if new != text:
                set_text(node.part, new)
                changed = True
        return changed

    def check_taken_out(self, message: EmailMessage) -> None:
        """No text of `message` still states a password to take out, in any
        reading the inspect stage makes, not only the one edited: a part
        declared UTF-16 whose bytes are ASCII is edited (if at all) as
        symbols, while a program that ignores the label shows the text."""
        if not self.body_passwords:
            return
        for node in body_nodes(message):
            for text in readings(node.part):
                visible = html_visible_text(text) if node.content_type == "text/html" else text
                visible = seen_text(visible)  # "V\u200bq\u200b7..." says it too
                if any(states_password(visible, value) for value in self.body_passwords):
                    raise UnrewritableContent(
                        ReasonCode.PASSWORD_IN_MESSAGE,
                        "the password could not be taken out of the message")

    def check_undecodable(self, node: Node) -> None:
        """A part that cannot be rewritten must not hold the password: not
        in its bytes, nor in any reading of them the inspect stage made
        (a UTF-16 text with no charset declared holds no byte of its UTF-8)."""
        data = node.part.get_payload(decode=True)
        if not isinstance(data, bytes):
            return
        texts = [seen_text(text) for text in readings(node.part)]
        for value in self.body_passwords:
            if (value.encode("utf-8") in data or value.encode("latin-1", "ignore") in data
                    or any(value in text for text in texts)):
                raise UnrewritableContent(
                    ReasonCode.PASSWORD_IN_MESSAGE,
                    "the password sits in a body part that cannot be rewritten")

    def add_notice(self, message: EmailMessage) -> None:
        plain_done = html_done = False
        for node in body_nodes(message):
            if node.in_signed:
                continue
            is_html = node.content_type == "text/html"
            if (html_done if is_html else plain_done):
                continue
            text = get_text(node.part)
            if text is None:
                continue
            if is_html:
                set_text(node.part, insert_html(text, handling_html(self.sharing)))
                html_done = True
            else:
                set_text(node.part, prepend_text(handling_text(self.sharing), text))
                plain_done = True
        if plain_done or html_done:
            return
        # No text that can be edited without harm: the notice goes first, as a
        # part of its own (a signed entity is carried whole inside the mixed).
        notice = text_part(handling_text(self.sharing) + "\n")
        if message.get_content_type() != "multipart/mixed":
            message.make_mixed()
        payload = message.get_payload()
        if not isinstance(payload, list):
            raise ContentError("a notice part cannot be added")
        payload.insert(0, notice)

    def subject_has_personal_data(self) -> bool:
        return any(f.source is SegmentSource.SUBJECT and not is_topic_path(f.part_path)
                   for f in self.findings)

    def mark(self, message: EmailMessage, subject: str) -> bool:
        marking = self.settings.policy.subject_marking
        if self.zipping and self.subject_has_personal_data():
            set_subject(message, marked("", marking))
            self.subject_marked = True
            return True
        self.subject_marked = mark_message(message, marking)
        return self.subject_marked

    # -- protect --------------------------------------------------------------------

    def keeps(self, node: Node) -> bool:
        """An attachment the sender encrypted with AES stays as it is; all else
        is zipped, including content that could not be inspected or is weakly
        encrypted (fail closed: wrapping it can only add protection).  So is
        an AES one that shows personal data without its password beyond its
        file name (which renaming hides): an archive's member names are not
        encrypted."""
        if node.is_body or node.container or node.content_type in SIGNATURE_TYPES:
            return False
        return self.strong(node.path)

    def strong(self, path: str) -> bool:
        report = self.reports.get(path)
        return (report is not None and report.encryption in _STRONG
                and path not in self.shows_in_clear)

    def outlook_files(self, node: Node, index: int, attachments: list[Entry]) -> None:
        """The files of a winmail.dat, in its place: each AES one kept as an
        attachment of its own, the others zipped, under the names the other
        files get.  (Its text is Outlook's copy of the message text, which
        goes into message.txt from the message's own text part.)"""
        for number, inner in enumerate(self.unwrapped[node.path], start=1):
            fallback = f"attachment-{index}-{number}"
            if inner.path in self.names_to_hide:
                name = neutral_name(inner.filename, fallback)
            else:
                name = safe_name(inner.filename, "application/octet-stream", fallback)
            if self.strong(inner.path):
                # Only AES files are kept (zips, PDFs, Office files): an
                # application/ type, as their extension says.
                guessed = mimetypes.guess_type(name)[0] or ""
                subtype = guessed.partition("/")[2] if guessed.startswith("application/") \
                    else "octet-stream"
                part = EmailMessage(policy=node.part.policy)
                part.set_content(inner.payload, maintype="application", subtype=subtype,
                                 filename=name)
                del part["MIME-Version"]  # a part, not a message
                self.kept.append(part)
            else:
                attachments.append(Entry(name, inner.payload))

    def protect(self, message: EmailMessage, subject: str) -> None:
        plain: list[str] = []
        entries: list[Entry] = []
        attachments: list[Entry] = []
        pictures: dict[str, str] = {}  # Content-ID -> the zip entry the part became
        for index, node in enumerate(nodes(message), start=1):
            if node.in_signed and node.content_type in SIGNATURE_TYPES:
                # A detached signature signs the entity the zip replaces:
                # beside message.txt it verifies nothing, so it goes.
                continue
            if self.keeps(node):
                for name in self.part_headers:
                    del node.part[name]
                if node.path in self.names_to_hide:
                    _rename(node.part, neutral_name(node.part.get_filename(),
                                                    f"attachment-{index}"))
                self.kept.append(node.part)
            elif node.is_body:
                text = get_text(node.part)
                if text is None:
                    data = node.part.get_payload(decode=True)
                    extension = "html" if node.content_type == "text/html" else "txt"
                    entries.append(Entry(f"message-part-{index}.{extension}", _bytes(data)))
                elif node.content_type == "text/html":
                    entries.append(Entry("message.html", text.encode("utf-8")))
                else:
                    plain.append(text)
            elif node.path in self.unwrapped and not node.is_body:
                self.outlook_files(node, index, attachments)
            elif node.container:
                inner = node.part.get_payload(0)
                data = serialise(inner) if isinstance(inner, EmailMessage) else b""
                # An attached message is named after its subject, a line
                # staff never chose as a file name and often the one that
                # names the person; its name in the zip can be read without
                # the password, so it is neutral (the subject is inside).
                name = f"message-{index}.eml"
                attachments.append(Entry(name, data))
            else:
                data = node.part.get_payload(decode=True)
                name = self.entry_name(node, node.content_type, f"attachment-{index}")
                attachments.append(Entry(name, _bytes(data)))
                content_id = str(node.part.get("Content-ID") or "").strip().strip("<>")
                if content_id:
                    pictures[content_id] = name
        if pictures:
            entries = [_pictures_beside(e, pictures) for e in entries]
        summary = self.summary(message, subject)
        if plain:
            text = summary + "\n\n" + "\n\n".join(p.strip("\r\n") for p in plain)
        elif entries:
            text = summary + "\n\n(The message text is in message.html.)"
        else:
            text = summary
        entries.insert(0, Entry("message.txt", _crlf(text + "\n").encode("utf-8")))
        password = generate_password()
        archive = build_zip(entries + attachments, password)
        self.generated = password
        self.zip_bytes = archive

        message.clear_content()
        # The text outside the parts (preamble, epilogue) goes too: it is
        # read as message text, and clear_content leaves it to be written.
        message.preamble = message.epilogue = None
        body = protected_text(self.sharing, ZIP_NAME, self.settings.passwords.release,
                              len(self.kept))
        message.set_content(body, subtype="plain", charset="utf-8",
                            cte="7bit" if body.isascii() else "quoted-printable")
        attachment = EmailMessage(policy=message.policy)
        attachment.set_content(archive, maintype="application", subtype="zip",
                               filename=ZIP_NAME)
        del attachment["MIME-Version"]  # a part, not a message
        message.make_mixed()
        message.attach(attachment)
        for part in self.kept:
            message.attach(part)

    def entry_name(self, node: Node, content_type: str, fallback: str) -> str:
        name = node.part.get_filename()
        if node.path in self.names_to_hide:
            return neutral_name(name, fallback)
        return safe_name(name, content_type, fallback)

    def summary(self, message: EmailMessage, subject: str) -> str:
        lines = []
        for name in ("From", "To", "Cc", "Date"):
            for key, raw in message.raw_items():
                if key.lower() == name.lower():
                    lines.append(f"{name}: {decode_header_value(str(raw))[0]}")
        lines.append(f"Subject: {subject}")
        return "\n".join(lines)

    # -- results -----------------------------------------------------------------------

    def password_to_hold(self) -> str | None:
        secrets: list[tuple[str, str]] = []
        if self.generated is not None:
            secrets.append((f"Protected file {ZIP_NAME}", self.generated))
        count = len(self.sender_passwords)
        for number, value in enumerate(self.sender_passwords, start=1):
            label = "Attachment encrypted by the sender"
            if count > 1:
                label += f" (password {number} of {count})"
            secrets.append((label, value))
        if not secrets:
            return None
        if len(secrets) == 1:
            return secrets[0][1]
        # Two files, two passwords: the one secret to hold says which is which.
        return "\n".join(f"{label}: {value}" for label, value in secrets)

    def method(self) -> str:
        parts = ["email"]
        if self.generated is not None:
            parts.append(PROTECTED_METHOD)
        elif any(a.encryption is not Encryption.NONE for a in self.inspection.attachments):
            parts.append("encrypted attachment")
        if self.generated is not None or self.sender_passwords:
            parts.append(
                f"password held for separate delivery ({self.settings.passwords.release})"
            )
        if self.subject_marked:
            parts.append("subject marked")
        return ", ".join(parts)

    def verify(self, content: bytes, defects_before: int) -> None:
        """The promise that the message is never made worse, checked."""
        message = parse(content)
        if structure_defects(message) > defects_before:
            raise ContentError("the rewritten message is not well-formed MIME")
        for name in (*SHARING_HEADERS, PASSWORD_HEADER):
            if name in message:
                raise ContentError(f"{name} is still in the outbound message")
        self.check_taken_out(message)
        if self.generated is not None:
            if self.generated.encode("ascii") in content:
                raise ContentError("the generated password is in the outbound message")
            zips = [
                n.part for n in nodes(message)
                if n.part.get_filename() == ZIP_NAME
                and n.part.get_content_type() == "application/zip"
            ]
            if len(zips) != 1 or zips[0].get_payload(decode=True) != self.zip_bytes:
                raise ContentError("the protected file did not survive the rewrite")


# A reference to a part by its Content-ID (RFC 2392), as an HTML body's
# inline pictures (a signature's logo) are written.
_CID = re.compile(r"cid:([^\s\"'<>()]+)", re.IGNORECASE)


def _pictures_beside(entry: Entry, pictures: dict[str, str]) -> Entry:
    """message.html with its `cid:` pictures pointing at the files beside it
    in the zip: a browser opening it from a folder resolves no `cid:`, and
    the recipient saw a broken picture where the logo was."""
    if entry.name != "message.html":
        return entry

    def beside(match: re.Match[str]) -> str:
        name = pictures.get(unquote(match.group(1)))
        return quote(name) if name is not None else match.group(0)

    text = entry.data.decode("utf-8")
    return replace(entry, data=_CID.sub(beside, text).encode("utf-8"))


def _rename(part: EmailMessage, name: str) -> None:
    """Give an attachment another file name, wherever its headers say one."""
    if part.get_param("filename", header="content-disposition") is not None:
        part.set_param("filename", name, header="content-disposition")
    else:
        part.add_header("Content-Disposition", "attachment", filename=name)
    if part.get_param("name") is not None:
        part.set_param("name", name)


def _bare_addresses(message: EmailMessage, name: str) -> bool:
    """Every `name` header (To, From...) rewritten to its bare addresses:
    what its display names, comments and group names said is gone."""
    raws = [str(raw) for key, raw in message.raw_items() if key.lower() == name.lower()]
    if not raws:
        return False
    del message[name]
    for raw in raws:
        addresses = [address for _, address in getaddresses([raw]) if "@" in address]
        if not addresses and name.lower() in ("from", "sender"):
            raise ContentError(f"the {name} header has no address to keep")
        message[name] = ", ".join(addresses) or "undisclosed-recipients:;"
    return True


def unwrap_signed(message: EmailMessage) -> bool:
    """Replace each multipart/signed outside attachments by its signed content."""
    changed = False

    def visit(part: EmailMessage, parent: EmailMessage | None, index: int) -> None:
        nonlocal changed
        if part.get_content_type() == "multipart/signed":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], EmailMessage):
                inner = payload[0]
                if parent is None:
                    _adopt(message, inner)
                    part = message
                else:
                    siblings = parent.get_payload()
                    assert isinstance(siblings, list)
                    siblings[index] = inner
                    part = inner
                changed = True
        if part.get_content_maintype() == "multipart" and part.get_content_disposition() != (
            "attachment"
        ):
            children = part.get_payload()
            if isinstance(children, list):
                for position, child in enumerate(list(children)):
                    if isinstance(child, EmailMessage):
                        visit(child, part, position)

    visit(message, None, 0)
    return changed


def _adopt(root: EmailMessage, inner: EmailMessage) -> None:
    """The root takes `inner`'s content (its Content-* headers and payload)."""
    for name in {n for n, _ in root.raw_items() if n.lower().startswith("content-")}:
        del root[name]
    for name, value in inner.raw_items():
        if name.lower().startswith("content-"):
            root.set_raw(name, value)
    root.set_payload(inner.get_payload())
    root.preamble, root.epilogue = inner.preamble, inner.epilogue


def _bytes(data: object) -> bytes:
    return data if isinstance(data, bytes) else b""


def _crlf(text: str) -> str:
    return "\r\n".join(text.splitlines()) + ("\r\n" if text.endswith("\n") else "")
