"""TNEF (`winmail.dat`): Outlook's wrapper for a message body and its attachments.

`tnefparse` copies the remaining input for every object it reads, so a file
of many tiny objects costs objects x size; the object chain is walked first
(offsets only, no copies) and refused when that product is too large.  The
plain, HTML and compressed-RTF bodies are extracted, and each attachment is
extracted one level deeper.
"""

from __future__ import annotations

import struct

from tnefparse import TNEF

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    ExtractionError,
    ExtractionLimit,
    Extractor,
)
from gateway.extract.detect import HTML, TEXT, content_type_of
from gateway.extract.detect import TNEF as TNEF_FORMAT
from gateway.extract.rtf import compressed_rtf_text

_COPY_BUDGET = 512 * 1024 * 1024  # bytes tnefparse may copy while walking objects


def _count_objects(data: bytes, limit: int) -> int:
    offset, count = 6, 0
    while offset + 12 < len(data):
        (length,) = struct.unpack_from("<I", data, offset + 5)
        offset += min(len(data) - offset, length + 11)
        count += 1
        if count > limit:
            break
    return count


class TnefExtractor(Extractor):
    name = TNEF_FORMAT
    content_type = content_type_of(TNEF_FORMAT)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        objects = _count_objects(data, ctx.limits.max_archive_entries)
        if objects > ctx.limits.max_archive_entries or objects * len(data) > _COPY_BUDGET:
            raise ExtractionLimit("too_large", "TNEF with too many objects")
        try:
            tnef = TNEF(data, do_checksum=False)
        except (ValueError, IndexError, struct.error, UnicodeDecodeError, LookupError) as exc:
            raise ExtractionError("malformed_document", f"TNEF: {type(exc).__name__}") from None
        registry = ctx.registry
        results: list[ExtractedText] = []
        for value in (tnef.body, tnef.htmlbody):
            if not value:
                continue
            raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            fmt = HTML if value is tnef.htmlbody else TEXT
            results.extend(registry.extract(raw, ctx.child("body"), fmt))
        compressed = getattr(tnef, "_rtfbody", None)
        if compressed:
            results.extend(compressed_rtf_text(compressed, ctx, "body.rtf"))
        for prop in tnef.msgprops:
            if isinstance(prop.data, str) and prop.data.strip():
                results.append(ExtractedText(prop.data, "properties"))
        for index, attachment in enumerate(tnef.attachments, start=1):
            ctx.check_time()
            try:
                name = str(attachment.long_filename() or f"attachment-{index}")
            except (UnicodeDecodeError, AttributeError):
                name = f"attachment-{index}"
            results.append(ExtractedText(name, name))
            if attachment.data:
                results.extend(ctx.nested(bytes(attachment.data), name))
        return results
