"""Raw message bytes -> `ParsedMessage`: every leaf part, decoded, within limits.

Flow:

1. The top header block is measured before anything else: a block over
   `max_header_bytes` is refused (`header_too_large`) without parsing further.
2. The stdlib feed parser (compat32 policy: raw header values kept, no lazy
   header objects, linear on long headers) is fed in chunks so a time budget
   can stop it; its own recursion limit on absurd nesting becomes `too_deep`.
3. The tree is walked once, depth first, numbering parts like IMAP sections
   ("1", "2.1"; an attached message's headers are "N.HEADER").  Each entity is
   checked for ambiguity (duplicate Content-Type, Content-Transfer-Encoding or
   boundary, an encoded word that decodes to a line break, a multipart with a
   transfer encoding) and for structural defects; each leaf is transfer-decoded
   and counted against the part, depth and decoded-size limits.  A
   multipart's preamble and epilogue, which travel with it unshown, become
   parts of text ("N.PREAMBLE", "N.EPILOGUE"); an attached message sent in
   base64 or quoted-printable is decoded and parsed as the message it is.

Nothing here raises on bad input: every refusal is a `Problem`, and the caller
(policy) treats any of them as content that could not be inspected.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
import time
from dataclasses import dataclass, field
from email import errors as email_errors
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesFeedParser, BytesHeaderParser
from email.policy import compat32
from io import BytesIO

from gateway.model import ENCRYPTION, SIGNATURE, ParsedMessage, Part, Problem
from gateway.parse.charsets import decode_surrogates, exact_text, normalise_charset
from gateway.parse.headers import (
    clean_newlines,
    decode_header_value,
    decode_param,
    reads_as_text,
    unfold,
)
from gateway.parse.indexed import IndexedMessage
from gateway.parse.limits import ContentLimits
from gateway.parse.smime import signed_content

HEADERS_CONTENT_TYPE = "text/rfc822-headers"
"""Content type of the synthetic part holding an attached message's headers."""

OUTSIDE_PARTS_CONTENT_TYPE = "text/x-outside-parts"
"""Content type of the synthetic parts holding a multipart's preamble and
epilogue: text, but not a body part the transform edits."""

_FEED_CHUNK = 64 * 1024
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_PARAM_NAME = re.compile(r"^([^*]*)")
_BODY_TYPES = frozenset({"text/plain", "text/html"})
_KNOWN_CTE = frozenset(
    {
        "",
        "7bit",
        "8bit",
        "binary",
        "quoted-printable",
        "base64",
        "x-uuencode",
        "uuencode",
        "uue",
        "x-uue",
    }
)
_IDENTITY_CTE = frozenset({"", "7bit", "8bit", "binary"})
_MESSAGE_CTE = frozenset({"base64", "quoted-printable"})
_OUTSIDE_PARTS = ("PREAMBLE", "EPILOGUE")
_SMIME_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
# smime-type values of encrypted S/MIME ("": not given, as old programs write
# x-pkcs7-mime; signed content was read above when it could be).
_SMIME_ENCRYPTED = frozenset({"enveloped-data", "authenveloped-data", ""})
_SIGNATURES = frozenset(
    {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature"}
)

# Defects after which two readers could disagree on where parts begin and end.
_STRUCTURE_DEFECTS: tuple[type[email_errors.MessageDefect], ...] = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
    email_errors.MissingHeaderBodySeparatorDefect,
    email_errors.FirstHeaderLineIsContinuationDefect,
    email_errors.MisplacedEnvelopeHeaderDefect,
)
# Defects in base64 data: decoders differ on what they skip or stop at.
_PAYLOAD_DEFECTS: tuple[type[email_errors.MessageDefect], ...] = (
    email_errors.InvalidBase64CharactersDefect,
    email_errors.InvalidBase64LengthDefect,
)


def parse_message(
    raw: bytes, limits: ContentLimits | None = None, *, deadline: float | None = None
) -> ParsedMessage:
    """Take `raw` apart into decoded leaf parts; never raises on bad input.

    `deadline` is a `time.monotonic()` instant after which parsing stops with a
    `timeout` problem (defaults to now + `limits.extract_timeout_s`).
    """
    limits = limits or ContentLimits()
    if deadline is None:
        deadline = time.monotonic() + limits.extract_timeout_s

    header_end = _HEADER_END.search(raw)
    header_size = header_end.start() if header_end else len(raw)
    if header_size > limits.max_header_bytes:
        return _refused("header_too_large", f"header block is {header_size} bytes")

    try:
        root = _single_part(raw, header_end)
        if root is None:
            parser = BytesFeedParser(IndexedMessage, policy=compat32)
            for start in range(0, len(raw), _FEED_CHUNK):
                if time.monotonic() > deadline:
                    return _refused("timeout", "parsing took too long", raw, header_end, limits)
                parser.feed(raw[start : start + _FEED_CHUNK])
            root = parser.close()
    except RecursionError:
        return _refused("too_deep", "MIME nesting deeper than the parser can follow", raw,
                        header_end, limits)
    if not isinstance(root, Message):
        return _refused("malformed_mime", "no message")

    walker = _Walker(limits)
    headers = walker.top_headers(root)
    walker.body(root, "", 0, in_attachment=False, top=True)
    return _with_headers(headers, tuple(walker.parts), tuple(walker.problems),
                         tuple(walker.part_headers), tuple(walker.sealed))


def _with_headers(
    headers: tuple[tuple[str, str], ...],
    parts: tuple[Part, ...],
    problems: tuple[Problem, ...],
    part_headers: tuple[tuple[str, str, str], ...] = (),
    sealed: tuple[str, ...] = (),
) -> ParsedMessage:
    def first(name: str) -> str | None:
        lowered = name.lower()
        return next((value for key, value in headers if key.lower() == lowered), None)

    message_id = first("message-id")
    return ParsedMessage(
        subject=first("subject") or "",
        headers=headers,
        parts=parts,
        # Stored in a text column of its own (the audit record, the receipt
        # request): a NUL an encoded-word made, which PostgreSQL's text
        # cannot hold, is U+FFFD, on every database alike.
        message_id=message_id.strip().replace("\x00", "\ufffd") if message_id else None,
        problems=problems,
        part_headers=part_headers,
        sealed=sealed,
    )


def _single_part(raw: bytes, header_end: re.Match[bytes] | None) -> Message | None:
    """A message that is neither multipart nor message/*, without its body split.

    For such a message the feed parser reads the body line by line only to
    join the lines again (a third of the relay's time for a 200 KB message).
    Here only the header block is parsed (`_header_block`) and the body is
    set as the very string the parser would have produced (ASCII with
    surrogateescape; or, without a transfer encoding, the bytes themselves).
    None -- parse the whole message -- unless the header block parsed
    without a defect and ended exactly at the blank line found by
    _HEADER_END (a header block ended otherwise, e.g. by a line that is not
    a header, leaves some of it in the payload).
    """
    if header_end is None:
        return None
    root = _header_block(raw[: header_end.end()])
    if (
        not isinstance(root, Message)
        or root.defects
        or root.get_content_maintype() in ("multipart", "message")
        or _payload_left(root)
    ):
        return None
    body = raw[header_end.end() :]
    cte = str(root.get("content-transfer-encoding", "")).strip().lower()
    if cte in _IDENTITY_CTE and isinstance(root, IndexedMessage):
        # No transfer encoding to undo: the bytes as they are (`keep_body`).
        root.keep_body(body)
    else:
        root.set_payload(body.decode("ascii", "surrogateescape"))
    return root


def _payload_left(root: Message) -> bool:
    """Did the header block leave anything in the payload?"""
    try:
        return root.get_payload() != ""
    except ValueError:
        # The stdlib decodes a leftover with 8-bit bytes by the declared
        # charset, and a charset name with a NUL in it raises ValueError
        # ("embedded null character"), not the LookupError it catches.
        # Something was left, then: the feed parser reads the whole message.
        return True


# A field's first line: a name of printable ASCII but the colon, then a colon
# (the feed parser's header pattern, without its "From " and continuation
# alternatives, which the fast path leaves to it).
_FIELD_START = re.compile(r"[\041-\071\073-\176]+:")


def _header_block(block: bytes) -> Message:
    """The header block (up to and with its blank line) as a message with no body.

    A block whose every line ends in CRLF and is either a field's first
    line or a continuation of one -- what mail from any mail client looks
    like -- is split here, each field going through the same
    `header_source_parse` the feed parser calls: the same names and raw
    values, without the feed parser's line-by-line generator machinery (the
    largest part of inspecting a small message).  Anything else (LF or CR
    line endings, a "From " line, a continuation first, a line that is no
    field) goes to the feed parser, which records its defects.  (For a
    multipart or message/* type the feed parser would go on to note what the
    missing body lacks; `_single_part` parses those messages whole anyway.)
    """
    fields = _clean_fields(block.decode("ascii", "surrogateescape"))
    if fields is None:
        parser = BytesFeedParser(IndexedMessage, policy=compat32)
        parser.feed(block)
        return parser.close()
    message = IndexedMessage(policy=compat32)
    for lines in fields:
        message.set_raw(*compat32.header_source_parse(lines))
    message.set_payload("")  # as the feed parser leaves a body it read nothing of
    return message


def _clean_fields(text: str) -> list[list[str]] | None:
    """Each field's lines (with their CRLF) of a header block made only of
    CRLF-ended field and continuation lines; None for any other block."""
    if not text.endswith("\r\n\r\n") or not (
        text.count("\n") == text.count("\r") == text.count("\r\n")
    ):
        return None
    fields: list[list[str]] = []
    for line in text[:-4].split("\r\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1].append(line + "\r\n")
        elif _FIELD_START.match(line):
            fields.append([line + "\r\n"])
        else:
            return None
    return fields


_Param = str | tuple[str | None, str | None, str] | None


def _param(part: Message, name: str, header: str) -> _Param:
    """A parameter of `header`, as `Message.get_param` gives it, except
    that raw 8-bit bytes in the header (RFC 6532: UTF-8 under SMTPUTF8,
    `filename="Überweisung März.pdf"`) are read as the text they are: the
    compat32 parser hands them over as replacement characters, which the
    audit trail would keep and detection could not read."""
    value: _Param = part.get_param(name, None, header)
    text = value[2] if isinstance(value, tuple) else value
    if text is None or "\ufffd" not in text:
        return value
    raw = next((v for k, v in part.raw_items() if k.lower() == header), None)
    if not isinstance(raw, str):
        return value
    decoded = Message(policy=compat32)
    decoded[header] = decode_surrogates(raw)
    found: _Param = decoded.get_param(name, None, header)
    return found


def _smime_type(part: Message) -> str | None:
    """The smime-type of an S/MIME entity ("" when not given), None for
    any other part."""
    if part.get_content_type() not in _SMIME_TYPES:
        return None
    return str(part.get_param("smime-type", "") or "").strip().lower()


def _security_in(multipart: Message, index: int, child: Message) -> str:
    """What the mail program made the child at `index` (from 1) of a
    multipart: a signed message's signature, the parts of its PGP/MIME (or
    S/MIME) encryption, or "" (content)."""
    kind = multipart.get_content_type()
    if kind == "multipart/encrypted":
        return ENCRYPTION
    if kind == "multipart/signed" and index > 1 and child.get_content_type() in _SIGNATURES:
        return SIGNATURE
    return ""


def _mime_entity(content: bytes) -> Message | None:
    """Signed content parsed as the MIME entity RFC 8551 says it is; None
    when it is not one (no Content-Type in a header block of its own: a
    signed PDF, a .p7m file of some other kind), which stays unread."""
    header_end = _HEADER_END.search(content)
    if header_end is None:
        return None
    block = _header_block(content[: header_end.end()])
    if block.defects or "content-type" not in block:
        return None
    parser = BytesFeedParser(IndexedMessage, policy=compat32)
    try:
        parser.feed(content)
        inner = parser.close()
    except RecursionError:
        return None
    return inner if isinstance(inner, Message) else None


def is_outside_parts(path: str) -> bool:
    """Whether `path` names a multipart's preamble or epilogue: text read
    like the message text, but not in a part the transform can edit."""
    return path.rpartition(".")[2] in _OUTSIDE_PARTS


def reads_exactly(message: ParsedMessage, part_path: str) -> bool:
    """Whether the part at `part_path` is text its declared charset reads
    exactly (`gateway.parse.charsets.exact_text`), as the transform stage
    must read a part to rewrite it."""
    part = next((p for p in message.parts if p.path == part_path), None)
    return part is not None and exact_text(part.payload, part.declared_charset) is not None


def _encoded_text(message: Message) -> bytes:
    """The text the parser took for an attached message, as it came.

    Base64 has no colon, so all of it is a body under no header and is
    that body itself; quoted-printable text may have parsed as headers and
    a body, and is written out again (raw header values, no refolding)."""
    if not message.keys() and not message.is_multipart():
        payload = message.get_payload()
        if isinstance(payload, bytes):
            return payload
        return payload.encode("ascii", "surrogateescape") if isinstance(payload, str) else b""
    buffer = BytesIO()
    BytesGenerator(buffer, mangle_from_=False, maxheaderlen=0).flatten(message)
    return buffer.getvalue()


def _refused(
    code: str,
    detail: str,
    raw: bytes = b"",
    header_end: re.Match[bytes] | None = None,
    limits: ContentLimits | None = None,
) -> ParsedMessage:
    """Nothing of the body; the top header block when it was measured and
    could still be read (the body, nested past the parser's depth or too
    slow to take apart, is what failed).  Without it the subject read as
    empty, and a sender whose message was refused as uninspectable was
    also told, wrongly, that its subject was not marked."""
    problem = Problem("", code, detail)
    if header_end is None:
        return ParsedMessage(subject="", headers=(), parts=(), problems=(problem,))
    walker = _Walker(limits or ContentLimits())
    top = BytesHeaderParser(IndexedMessage, policy=compat32).parsebytes(
        raw[: header_end.end()])
    headers = walker.top_headers(top)
    return _with_headers(headers, (), (problem, *walker.problems))


def _join(path: str, index: int) -> str:
    return f"{path}.{index}" if path else str(index)


@dataclass(slots=True)
class _Walker:
    """One depth-first pass over the parsed tree, collecting parts and problems."""

    limits: ContentLimits
    parts: list[Part] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    entities: int = 0
    decoded_bytes: int = 0
    stopped: set[str] = field(default_factory=set)
    part_headers: list[tuple[str, str, str]] = field(default_factory=list)
    sealed: list[str] = field(default_factory=list)

    def problem(self, path: str, code: str, detail: str = "") -> None:
        self.problems.append(Problem(path, code, detail))

    def once(self, code: str, path: str, detail: str) -> None:
        """Record a limit problem the first time only: one is enough to refuse."""
        if code not in self.stopped:
            self.stopped.add(code)
            self.problem(path, code, detail)

    def top_headers(self, root: Message) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        for name, raw_value in root.raw_items():
            value, injected = decode_header_value(str(raw_value))
            if injected:
                self.problem(
                    "", "ambiguous_mime", f"encoded word in {name} decodes to a line break"
                )
                value = clean_newlines(value)
            out.append((name, value))
        return tuple(out)

    # -- tree ------------------------------------------------------------------

    def body(
        self, message: Message, path: str, depth: int, *, in_attachment: bool, top: bool = False
    ) -> None:
        """The body of a message (top-level or attached) whose sections start at `path`."""
        target = path if message.is_multipart() else _join(path, 1)
        # The top header block was measured before parsing; an attached
        # message's headers are measured like any part's.  A message's own
        # headers are read elsewhere (the top ones, or an attached message's
        # as its ".HEADER" part), not as a part's.
        self.entity(message, target, depth, in_attachment=in_attachment, is_root=top,
                    headers_read=True)

    def entity(
        self, part: Message, path: str, depth: int, *, in_attachment: bool, is_root: bool = False,
        headers_read: bool = False, security: str = "",
    ) -> None:
        self.entities += 1
        if self.entities > self.limits.max_parts:
            self.once("too_many_parts", path, f"more than {self.limits.max_parts} MIME parts")
            return
        self.check_entity(part, path or "1", is_root=is_root)
        if not headers_read:
            self.text_headers(part, path or "1")
        # Only a multipart's payload is fetched here: fetching a leaf's would
        # decode 8-bit text with its declared charset, which can be junk.
        if part.is_multipart():
            payload = part.get_payload()
            assert isinstance(payload, list)
            if depth + 1 > self.limits.max_depth:
                self.once("too_deep", path, f"MIME nesting deeper than {self.limits.max_depth}")
                return
            attached = in_attachment or self.is_attachment(part)
            if part.get_content_maintype() == "multipart":
                self.outside_parts(part.preamble, path, "PREAMBLE")
                for index, child in enumerate(payload, start=1):
                    if isinstance(child, Message):
                        self.entity(child, _join(path, index), depth + 1, in_attachment=attached,
                                    security=_security_in(part, index, child))
                self.outside_parts(part.epilogue, path, "EPILOGUE")
                self.check_epilogue(part, path)
            else:
                inner = [m for m in payload if isinstance(m, Message)]
                inner = self.transfer_decoded(part, inner, path or "1")
                self.container(part, inner, path or "1", depth + 1, in_attachment=attached)
            return
        if self.opaque_signed(part, path or "1", depth, in_attachment=in_attachment,
                              message_content=headers_read):
            return
        if _smime_type(part) in _SMIME_ENCRYPTED:
            security = security or ENCRYPTION
        self.leaf(part, path or "1", in_attachment=in_attachment, security=security)

    def opaque_signed(
        self, part: Message, path: str, depth: int, *, in_attachment: bool,
        message_content: bool,
    ) -> bool:
        """An opaque-signed S/MIME entity (smime.p7m, signed-data) read as the
        MIME entity it carries, its parts numbered under `path` as an
        attached message's are; False (the part is read as a leaf: a file the
        gateway cannot read, never clean) when its content cannot be had.

        A mail program shows that content in the signed entity's place: as
        the message when the entity is a message's content, whatever its
        Content-Disposition ("attachment; filename=smime.p7m" is what
        Outlook and Thunderbird write)."""
        if _smime_type(part) not in ("signed-data", ""):
            return False
        cte = str(part.get("content-transfer-encoding", "")).strip().lower()
        if cte not in _KNOWN_CTE or any(isinstance(d, _PAYLOAD_DEFECTS) for d in part.defects):
            return False
        data = part.get_payload(decode=True)
        content = signed_content(data) if isinstance(data, bytes) else None
        if content is None:
            return False
        inner = _mime_entity(content)
        if inner is None:
            return False
        if self.decoded_bytes + len(data) > self.limits.max_decoded_bytes:
            self.once(
                "too_large", path, f"decoded content over {self.limits.max_decoded_bytes} bytes"
            )
            return True
        self.decoded_bytes += len(data)
        if depth + 1 > self.limits.max_depth:
            self.once("too_deep", path, f"MIME nesting deeper than {self.limits.max_depth}")
            return True
        self.sealed.append(path)
        attached = in_attachment or (not message_content and self.is_attachment(part))
        target = path if inner.is_multipart() else _join(path, 1)
        self.entity(inner, target, depth + 1, in_attachment=attached)
        return True

    def container(
        self, part: Message, inner: list[Message], path: str, depth: int, *, in_attachment: bool
    ) -> None:
        """message/rfc822 (and kin): the inner headers as a part, then the inner body."""
        disposition = part.get_content_disposition()
        # An attached message is an attachment unless explicitly shown inline.
        attached = in_attachment or disposition != "inline"
        header_lines: list[str] = []
        for message in inner:
            if not isinstance(message, Message):
                continue
            header_lines.extend(f"{k}: {unfold(str(v))}" for k, v in message.raw_items())
        self.add(
            Part(
                path=f"{path}.HEADER",
                content_type=HEADERS_CONTENT_TYPE,
                payload="\r\n".join(header_lines).encode("utf-8", "surrogateescape"),
                is_body=not attached,
            )
        )
        if len(inner) == 1 and isinstance(inner[0], Message):
            self.body(inner[0], path, depth, in_attachment=attached)

    def leaf(self, part: Message, path: str, *, in_attachment: bool, security: str = "") -> None:
        content_type = part.get_content_type()
        declared_multipart = content_type.startswith("multipart/")
        if declared_multipart or content_type.startswith("message/"):
            # A container the parser could not split (e.g. no boundary): its
            # text is still inspected, but as the raw bytes it is.
            content_type = "application/octet-stream"
        raw_cte = part.get("content-transfer-encoding")
        cte = str(raw_cte or "").strip().lower()
        if cte not in _KNOWN_CTE:
            self.problem(path, "malformed_mime", "unknown Content-Transfer-Encoding")
        elif raw_cte is not None and str(raw_cte) != cte:
            # `base64 ` with a trailing space, or folded onto a second line:
            # every mail reader decodes it, but the stdlib compares the
            # value unstripped and would hand the encoded text over as is.
            part.replace_header("Content-Transfer-Encoding", cte)
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            data = b""
        for defect in part.defects:
            if isinstance(defect, _PAYLOAD_DEFECTS):
                self.problem(path, "malformed_mime", type(defect).__name__)
        if self.decoded_bytes + len(data) > self.limits.max_decoded_bytes:
            self.once(
                "too_large", path, f"decoded content over {self.limits.max_decoded_bytes} bytes"
            )
            return
        self.decoded_bytes += len(data)

        filename = self.filename(part, path)
        declared = part.get_content_charset()
        disposition = part.get_content_disposition()
        is_inline = disposition == "inline" or (
            disposition is None and part.get("content-id") is not None
        )
        is_body = (
            not in_attachment
            and content_type in _BODY_TYPES
            and disposition != "attachment"
            and filename is None
        )
        self.add(
            Part(
                path=path,
                content_type=content_type,
                payload=data,
                filename=filename,
                charset=normalise_charset(declared),
                declared_charset=declared,
                is_body=is_body,
                is_inline=is_inline,
                security=security,
            )
        )

    def add(self, part: Part) -> None:
        self.parts.append(part)

    def outside_parts(self, text: str | None, path: str, where: str) -> None:
        """A multipart's preamble or epilogue, as a part of text.

        Mail programs do not show it, but it travels with the message and
        "view source" shows it: what it says is read like the message text
        (`is_body`, wherever the multipart is, so that an attached message's
        usual "This is a multi-part message" is no attachment of its own).
        Its own content type keeps it out of the body parts the transform
        edits."""
        if not text or not text.strip():
            return
        data = text.encode("ascii", "surrogateescape")
        if self.decoded_bytes + len(data) > self.limits.max_decoded_bytes:
            self.once(
                "too_large", path, f"decoded content over {self.limits.max_decoded_bytes} bytes"
            )
            return
        self.decoded_bytes += len(data)
        self.add(
            Part(
                path=f"{path}.{where}" if path else where,
                content_type=OUTSIDE_PARTS_CONTENT_TYPE,
                payload=data,
                is_body=True,
            )
        )

    def check_epilogue(self, part: Message, path: str) -> None:
        """A part written after a multipart's closing delimiter is in its
        epilogue: read as text, but a lenient reader may take it for a part
        (and undo its transfer encoding), so two readers could disagree."""
        epilogue = part.epilogue
        boundary = part.get_boundary()
        if not epilogue or not boundary or f"--{boundary}" not in epilogue:
            return
        delimiter = f"--{boundary}"
        if any(line.rstrip() == delimiter for line in epilogue.splitlines()):
            self.problem(path, "ambiguous_mime", "a part after the closing boundary")

    def transfer_decoded(self, part: Message, inner: list[Message], path: str) -> list[Message]:
        """An attached message sent in base64 or quoted-printable, decoded
        and parsed again.

        RFC 2046 allows neither for message/rfc822, but some mail programs
        and servers use them: the parser then took the encoded text for the
        message, which reads as a damaged one.  A recipient's program
        decodes it and shows the message, so it is read as one.  A
        transfer encoding that does not decode is a problem (fail closed)."""
        cte = str(part.get("content-transfer-encoding", "")).strip().lower()
        if cte not in _MESSAGE_CTE or len(inner) != 1:
            return inner
        try:
            # Text outside ASCII where base64 or quoted-printable should be
            # is a UnicodeEncodeError: a ValueError, as a bad encoding is.
            encoded = _encoded_text(inner[0])
            if cte == "base64":
                compact = re.sub(rb"\s+", b"", encoded)
                decoded = base64.b64decode(compact + b"=" * (-len(compact) % 4), validate=True)
            else:
                decoded = quopri.decodestring(encoded)
        except (binascii.Error, ValueError):
            self.problem(path, "malformed_mime", f"attached message in {cte} that does not decode")
            return []
        if self.decoded_bytes + len(decoded) > self.limits.max_decoded_bytes:
            self.once(
                "too_large", path, f"decoded content over {self.limits.max_decoded_bytes} bytes"
            )
            return []
        parser = BytesFeedParser(IndexedMessage, policy=compat32)
        try:
            parser.feed(decoded)
            message = parser.close()
        except RecursionError:
            self.once("too_deep", path, "MIME nesting deeper than the parser can follow")
            return []
        return [message] if isinstance(message, Message) else []

    def text_headers(self, part: Message, path: str) -> None:
        """A part's free-text headers (Content-Description, X-*), decoded."""
        for name, raw_value in part.raw_items():
            if not reads_as_text(name):
                continue
            value, injected = decode_header_value(str(raw_value))
            if injected:
                self.problem(path, "ambiguous_mime", f"encoded word in {name} decodes to a line break")
                value = clean_newlines(value)
            self.part_headers.append((path, name, value))

    # -- checks ----------------------------------------------------------------

    def check_entity(self, part: Message, path: str, *, is_root: bool) -> None:
        """Ambiguity and structure checks that apply to any entity."""
        for name in ("content-type", "content-transfer-encoding", "content-disposition"):
            values = part.get_all(name) or []
            if len(values) > 1:
                self.problem(path, "ambiguous_mime", f"{len(values)} {name} headers")
        params = part.get_params(header="content-type") or []
        counts: dict[str, int] = {}
        for key, _ in params[1:]:
            match = _PARAM_NAME.match(key.lower())
            base = match.group(1).strip() if match else key.lower()
            counts[base] = counts.get(base, 0) + 1
        for base in ("boundary", "charset"):
            if counts.get(base, 0) > 1:
                self.problem(path, "ambiguous_mime", f"duplicate {base} parameter")
        if part.get_content_maintype() == "multipart":
            cte = str(part.get("content-transfer-encoding", "")).strip().lower()
            if cte not in _IDENTITY_CTE:
                self.problem(path, "ambiguous_mime", "multipart with a transfer encoding")
        for defect in part.defects:
            if isinstance(defect, _STRUCTURE_DEFECTS):
                self.problem(path, "malformed_mime", type(defect).__name__)
        if not is_root:
            size = sum(len(k) + len(str(v)) + 4 for k, v in part.raw_items())
            if size > self.limits.max_header_bytes:
                self.problem(path, "header_too_large", f"part header block is {size} bytes")

    def filename(self, part: Message, path: str) -> str | None:
        raw = _param(part, "filename", "content-disposition")
        if raw is None:
            raw = _param(part, "name", "content-type")
        if raw is None:
            return None
        name, injected = decode_param(raw)
        if injected:
            self.problem(path, "ambiguous_mime", "file name decodes to a line break")
            name = clean_newlines(name)
        return name.strip()

    @staticmethod
    def is_attachment(part: Message) -> bool:
        return part.get_content_disposition() == "attachment"
