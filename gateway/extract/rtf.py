"""RTF to text: a small, bounded control-word stripper (one regex pass, a group stack).

Text, `\\'hh` escapes (in the document's ANSI code page), `\\uN` Unicode
escapes (skipping their `\\ucN` fallback characters) and escaped braces are
kept; `\\par`, `\\line`, `\\row` become line breaks and `\\tab`, `\\cell` tabs.
Destinations that hold no readable text (font and colour tables, pictures,
embedded objects, `\\*` groups) are skipped; `\\binN` data is jumped over.  The
group stack is bounded: deeper nesting than any real document is refused.
"""

from __future__ import annotations

import re

from compressed_rtf import decompress as decompress_rtf  # type: ignore[import-untyped]

from gateway.extract.base import (
    ExtractContext,
    ExtractedText,
    ExtractionError,
    Extractor,
    TextCollector,
    finish,
)
from gateway.extract.detect import RTF, content_type_of

_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\([^a-zA-Z])|([{}])|([^\\{}\r\n]+)|[\r\n]+"
)
_SKIP_DESTINATIONS = frozenset(
    {
        b"fonttbl",
        b"colortbl",
        b"stylesheet",
        b"listtable",
        b"listoverridetable",
        b"pict",
        b"object",
        b"objdata",
        b"themedata",
        b"colorschememapping",
        b"datastore",
        b"latentstyles",
        b"rsidtbl",
        b"xmlnstbl",
        b"generator",
        b"filetbl",
        b"revtbl",
        b"mmathPr",
        b"fldinst",
        b"wgrffmtfilter",
        b"pgdsctbl",
    }
)
_BREAKS = {
    b"par": "\n",
    b"line": "\n",
    b"row": "\n",
    b"sect": "\n",
    b"page": "\n",
    b"tab": "\t",
    b"cell": "\t",
    b"emdash": "—",
    b"endash": "–",
    b"bullet": "•",
    b"lquote": "‘",
    b"rquote": "’",
    b"ldblquote": "“",
    b"rdblquote": "”",
}
_MAX_GROUPS = 1000


def rtf_to_text(data: bytes, ctx: ExtractContext) -> str:
    collector = TextCollector(ctx.limits.max_text_chars)
    codepage = "cp1252"
    stack: list[tuple[bool, int]] = []
    skipping = False
    uc = 1  # fallback characters after each \uN
    pending_skip = 0
    position = 0
    tokens = 0
    length = len(data)
    while position < length:
        match = _TOKEN.match(data, position)
        if match is None:
            position += 1
            continue
        position = match.end()
        tokens += 1
        if tokens % 50_000 == 0:
            ctx.check_time()
        word, arg, hexbyte, symbol, brace, text = match.groups()
        if pending_skip and (text is not None or hexbyte is not None):
            # The fallback of a \uN escape: drop that many characters.
            if text is not None:
                drop = min(pending_skip, len(text))
                pending_skip -= drop
                text = text[drop:]
                if not text:
                    continue
            else:
                pending_skip -= 1
                continue
        if brace == b"{":
            if len(stack) >= _MAX_GROUPS:
                raise ExtractionError("malformed_document", "RTF groups nested too deeply")
            stack.append((skipping, uc))
        elif brace == b"}":
            if stack:
                skipping, uc = stack.pop()
        elif word is not None:
            if word == b"bin" and arg:
                position += max(0, int(arg))
            elif word in _SKIP_DESTINATIONS:
                skipping = True
            elif word == b"ansicpg" and arg:
                codepage = f"cp{int(arg)}"
            elif word == b"uc" and arg:
                uc = max(0, int(arg))
            elif word == b"u" and arg:
                if not skipping:
                    value = int(arg)
                    collector.add(chr(value + 65536 if value < 0 else value))
                pending_skip = uc
            elif not skipping and word in _BREAKS:
                collector.add(_BREAKS[word])
        elif symbol is not None:
            if symbol == b"*":
                skipping = True
            elif not skipping:
                if symbol in (b"\\", b"{", b"}"):
                    collector.add(symbol.decode("ascii"))
                elif symbol == b"~":
                    collector.add(" ")
                elif symbol in (b"\n", b"\r"):
                    collector.add("\n")
        elif hexbyte is not None:
            if not skipping:
                collector.add(_decode_byte(int(hexbyte, 16), codepage))
        elif text is not None and not skipping:
            collector.add(
                text.decode("latin-1") if codepage == "latin-1" else _decode(text, codepage)
            )
        if collector.truncated:
            break
    return finish(collector, ctx)


def _decode(raw: bytes, codepage: str) -> str:
    try:
        return raw.decode(codepage)
    except (LookupError, UnicodeDecodeError):
        return raw.decode("cp1252", errors="replace")


def _decode_byte(value: int, codepage: str) -> str:
    return _decode(bytes((value,)), codepage)


class RtfExtractor(Extractor):
    name = RTF
    content_type = content_type_of(RTF)

    def extract(self, data: bytes, ctx: ExtractContext) -> list[ExtractedText]:
        return [ExtractedText(rtf_to_text(data, ctx))]


def compressed_rtf_text(compressed: bytes, ctx: ExtractContext, member: str) -> list[ExtractedText]:
    """An Outlook body in compressed RTF (MS-OXRTFCP, `LZFu`: a TNEF's or a
    .msg's PR_RTF_COMPRESSED), decompressed and read as RTF; one that does
    not decompress is a problem."""
    try:
        rtf = decompress_rtf(bytes(compressed) + b"\x00")
    except Exception:  # compressed_rtf raises bare Exceptions on junk
        ctx.problem("malformed_document", f"{member}: compressed RTF does not decompress")
        return []
    return ctx.registry.extract(rtf, ctx.child(member), RTF)
