"""Streaming XML to text for office documents (expat, no DTDs, bounded).

Office XML is parsed with expat handlers rather than a tree, so a 50 MB sheet
costs no more memory than its text.  Any DOCTYPE or entity declaration is
refused: no office format uses one, and refusing them closes off entity
expansion bombs and external entities in one move.

A `TextRules` value says, per format, which elements hold text, which end a
line, which separate cells and which stand for a tab, space or break.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

from gateway.extract.base import ExtractContext, ExtractionError, TextCollector

_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class TextRules:
    text: frozenset[str]  # character data is kept only inside these (local names)
    blocks: frozenset[str] = frozenset()  # end of one of these = a line break
    cells: frozenset[str] = frozenset()  # end of one of these = a tab
    specials: dict[str, str] = field(default_factory=dict)  # empty elements that stand for text


class _Refused(Exception):
    pass


def xml_text(data: bytes, rules: TextRules, collector: TextCollector, ctx: ExtractContext) -> None:
    """Append the text of one XML document to `collector` following `rules`."""
    parser = expat.ParserCreate(namespace_separator="}")
    inside = 0

    def local(name: str) -> str:
        return name.rsplit("}", 1)[-1]

    def start(name: str, _attrs: dict[str, str]) -> None:
        nonlocal inside
        tag = local(name)
        if tag in rules.text:
            inside += 1
        special = rules.specials.get(tag)
        if special is not None:
            collector.add(special)

    def end(name: str) -> None:
        nonlocal inside
        tag = local(name)
        if tag in rules.text:
            inside -= 1
        if tag in rules.blocks:
            collector.add("\n")
        elif tag in rules.cells:
            collector.add("\t")

    def chars(data: str) -> None:
        if inside > 0:
            collector.add(data)

    def refuse(*_args: object) -> None:
        raise _Refused

    def refuse_entity(*_args: object) -> int:
        raise _Refused

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse_entity
    parser.buffer_text = True
    try:
        for offset in range(0, len(data), _CHUNK):
            ctx.check_time()
            parser.Parse(data[offset : offset + _CHUNK], False)
            if collector.truncated:
                return
        parser.Parse(b"", True)
    except _Refused:
        raise ExtractionError("malformed_document", "XML with a DOCTYPE or entity") from None
    except expat.ExpatError as exc:
        raise ExtractionError("malformed_document", f"XML error: {exc.code}") from None
