"""Extract stage: the text inside each part, one extractor per format, bounded.

build_registry() -> ExtractorRegistry      every extractor, built explicitly
ExtractContext.start(limits, registry, part_path) -> ExtractContext
registry.extract(data, ctx) -> list[ExtractedText]   (never raises; Problems in ctx)
detect_format(data) -> str                  from content, never from the declared type
"""

from __future__ import annotations

from gateway.extract.base import (
    Budget,
    ExtractContext,
    ExtractedText,
    ExtractionError,
    ExtractionLimit,
    Extractor,
    ExtractorRegistry,
    normalise_text,
)
from gateway.extract.detect import content_type_of, detect_format
from gateway.extract.html import html_to_text
from gateway.extract.registry import build_registry, default_extractors

__all__ = [
    "Budget",
    "ExtractContext",
    "ExtractedText",
    "ExtractionError",
    "ExtractionLimit",
    "Extractor",
    "ExtractorRegistry",
    "build_registry",
    "content_type_of",
    "default_extractors",
    "detect_format",
    "html_to_text",
    "normalise_text",
]
