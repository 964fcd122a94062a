"""Detect: find UK personal data in text segments, and protective markings.

    segments (from inspect) --DetectionEngine.detect--> Findings
    ParsedMessage           --find_marking-----------> "OFFICIAL-SENSITIVE" | None

One recognizer per information type (`recognizers/`), each mostly data:
patterns with base scores, context words, and check-digit validation.
`build_registry()` lists them explicitly; `build_engine()` compiles every
pattern into combined passes (RE2 when installed) and applies context,
signature suppression, support between nearby findings, dedupe and the
threshold.  A Finding never carries the matched value.
"""

from __future__ import annotations

from gateway.detect.engine import DEFAULT_THRESHOLD, DetectionEngine, FirstStop, build_engine
from gateway.detect.marking import MARKINGS, find_marking
from gateway.detect.recognizer import Assessment, Pattern, Recognizer
from gateway.detect.registry import Registry, build_registry

__all__ = [
    "DEFAULT_THRESHOLD",
    "MARKINGS",
    "Assessment",
    "DetectionEngine",
    "FirstStop",
    "Pattern",
    "Recognizer",
    "Registry",
    "build_engine",
    "build_registry",
    "find_marking",
]
