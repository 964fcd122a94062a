"""Run the real engine over one piece of text, for the recognizer tables."""

from __future__ import annotations

from functools import cache

from gateway.detect import DetectionEngine, build_engine
from gateway.model import InformationType, SegmentSource, TextSegment


@cache
def engine() -> DetectionEngine:
    return build_engine()


def found(
    text: str, info_type: InformationType, source: SegmentSource = SegmentSource.BODY
) -> list[str]:
    """The texts of every finding of `info_type` (read back here, in the test)."""
    findings = engine().detect([TextSegment("1", source, text)])
    return [text[f.start : f.end] for f in findings if f.info_type is info_type]
