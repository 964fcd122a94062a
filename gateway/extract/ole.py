"""Legacy binary Office files and Outlook `.msg` items (OLE compound files): strings.

There is no parser for the old binary formats here, so the text is taken the
way `strings` would: runs of printable UTF-16LE and 8-bit characters from
every stream.  That finds the text of a .doc or .msg, but numbers stored as
binary values (e.g. in .xls cells) are invisible, so the extraction is
recorded as partial (`partial_extraction`) and the policy decides.  Encrypted
files are not read here: the inspect stage reports and opens them.
"""

from __future__ import annotations

import io
import re

import olefile  # type: ignore[import-untyped]

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    ExtractionError,
    ExtractionLimit,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.detect import OLE, content_type_of

_UTF16 = re.compile(rb"(?:[\x09\x0a\x0d\x20-\x7e\xa0-\xff]\x00){4,}")
_BYTES = re.compile(rb"[\x09\x0a\x0d\x20-\x7e\x80-\xff]{4,}")
_ENCRYPTED_STREAMS = ("EncryptionInfo", "EncryptedPackage")


def ole_strings(data: bytes, ctx: ExtractContext) -> str:
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except (OSError, ValueError, IndexError) as exc:
        raise ExtractionError("malformed_document", f"OLE: {type(exc).__name__}") from None
    collector = TextCollector(ctx.limits.max_text_chars)
    total = 0
    try:
        for entry in ole.listdir(streams=True, storages=False):
            ctx.check_time()
            name = "/".join(entry)
            collector.add(name + "\n")
            if entry[-1] in _ENCRYPTED_STREAMS:
                ctx.hidden("encrypted Office document")
                continue
            size = ole.get_size(entry)
            total += size
            if total > ctx.limits.max_archive_total:
                raise ExtractionLimit("too_large", "compound file streams too large")
            stream = ole.openstream(entry).read()
            for match in _UTF16.finditer(stream):
                collector.add(match.group().decode("utf-16-le", "replace") + "\n")
            for match in _BYTES.finditer(stream):
                collector.add(match.group().decode("cp1252", "replace") + "\n")
            if collector.truncated:
                break
    finally:
        ole.close()
    return finish(collector, ctx)


class OleExtractor(Extractor):
    name = OLE
    content_type = content_type_of(OLE)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        text = ole_strings(data, ctx)
        ctx.problem(
            "partial_extraction", "legacy binary Office or Outlook item: text read as strings"
        )
        return [ExtractedText(text)]
