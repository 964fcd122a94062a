"""An attached message (an `.eml` file, or one found inside an archive).

It goes through the same parser as the outer message, with the same limits
and the remaining time budget; its headers (subject, senders, recipients) are
text like any other, and each of its parts is extracted one level deeper.
"""

from __future__ import annotations

from gateway.extract.base import ExtractContext, ExtractedText, Extractor
from gateway.extract.detect import EML, content_type_of
from gateway.parse.headers import decode_header_value, reads_as_text
from gateway.parse.parser import HEADERS_CONTENT_TYPE, parse_message

_SHOWN_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "subject", "date", "sender"})


def header_text(raw: bytes) -> str:
    """The `Name: value` lines of a raw header block that a reader of the
    message sees (senders, recipients, subject, date, and the free-text
    headers staff's programs write: `reads_as_text`), RFC 2047 decoded.

    Not its Message-ID, Received, Return-Path, DKIM or References: machine
    identifiers such as `<CAJ+x9@mail.gmail.com>` read as a personal email
    address, and a forwarded "fire drill moved to Thursday" would be
    refused as personal data."""
    lines: list[str] = []
    keep = False
    for line in raw.decode("utf-8", "surrogateescape").splitlines():
        if not line[:1].isspace():
            name = line.split(":", 1)[0].strip().lower()
            keep = name in _SHOWN_HEADERS or reads_as_text(name)
        if keep:
            lines.append(decode_header_value(line)[0])
    return "\n".join(lines)


class EmlExtractor(Extractor):
    name = EML
    content_type = content_type_of(EML)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        message = parse_message(data, ctx.limits, deadline=ctx.deadline)
        for problem in message.problems:
            ctx.problem(
                problem.code, f"attached message part {problem.part_path}: {problem.detail}"
            )
        shown = "\n".join(
            f"{name}: {value}" for name, value in message.headers if name.lower() in _SHOWN_HEADERS
        )
        results = [ExtractedText(shown)]
        for part in message.parts:
            ctx.check_time()
            if part.content_type == HEADERS_CONTENT_TYPE:
                results.append(ExtractedText(header_text(part.payload), part.path))
                continue
            if part.filename:
                results.append(ExtractedText(part.filename, part.path))
            results.extend(ctx.nested(part.payload, part.path, charset=part.charset))
        return results
