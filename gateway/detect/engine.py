"""Detection: segments of text in, Findings out.

For each segment, in order (the Presidio flow, on one combined pass):

    1. recognize   one pass of every recognizer's patterns over the folded
                   text; each candidate is validated (check digits) by its
                   recognizer, which may move its span or change its score
    2. context     context words in a window around the match raise the score,
                   negative context words lower it
    3. suppress    business-contact types (phone, e-mail, name, postcode,
                   special category) inside a signature or reply-header block
                   are dropped; those blocks are only looked for when such a
                   candidate exists
    4. support     a candidate still below the threshold is raised when a
                   finding of a type it is SUPPORTED_BY lies close by (a
                   postcode next to a child's name and NHS number)
    5. dedupe      overlapping candidates of one type keep the best; a
                   candidate inside a stronger one of another type is dropped
    6. threshold   what is left at or above the threshold becomes a Finding

Findings carry the type, the place (part, offsets) and the score, never the
matched text; nothing here logs.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.detect._regex import BACKEND, MultiPattern, fold
from gateway.detect.recognizer import Recognizer, words_regex
from gateway.detect.registry import Registry, build_registry
from gateway.detect.signature import business_blocks
from gateway.model import Finding, InformationType, SegmentSource, TextSegment

__all__ = ["DEFAULT_THRESHOLD", "DetectionEngine", "build_engine"]

DEFAULT_THRESHOLD = 0.5
# How far before a contact detail its signature's sign-off line can be.
_SIGNATURE_REACH = 2000


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One recognizer's pattern with the regexes the engine needs for it."""

    recognizer: Recognizer
    pattern_name: str
    score: float
    context: re.Pattern[str] | None
    negative: re.Pattern[str] | None


@dataclass(slots=True)
class _Scored:
    entry: _Compiled
    start: int
    end: int
    score: float

    @property
    def info_type(self) -> InformationType:
        return self.entry.recognizer.info_type


def _is_word_byte(data: bytes, index: int) -> bool:
    if index < 0 or index >= len(data):
        return False
    byte = data[index]
    return 48 <= byte <= 57 or 65 <= byte <= 90 or 97 <= byte <= 122


class DetectionEngine:
    """Runs every registered recognizer over text segments in one pass each."""

    def __init__(self, registry: Registry, threshold: float = DEFAULT_THRESHOLD) -> None:
        if len(registry) == 0:
            raise ValueError("the registry holds no recognizers")
        self.threshold = threshold
        self.backend = BACKEND
        self._entries: list[_Compiled] = []
        regexes: list[str] = []
        for recognizer in registry:
            context = words_regex(recognizer.CONTEXT)
            negative = words_regex(recognizer.NEGATIVE_CONTEXT)
            for pattern in recognizer.PATTERNS:
                self._entries.append(
                    _Compiled(recognizer, pattern.name, pattern.score, context, negative)
                )
                regexes.append(pattern.regex)
        self._scanner = MultiPattern(regexes)

    def detect(self, segments: Sequence[TextSegment]) -> tuple[Finding, ...]:
        """Every finding in every segment, in segment order then offset order."""
        findings: list[Finding] = []
        for segment in segments:
            findings.extend(self._detect_segment(segment))
        return tuple(findings)

    # ------------------------------------------------------------------

    def _detect_segment(self, segment: TextSegment) -> list[Finding]:
        if not segment.text:
            return []
        data, text = fold(segment.text)
        raw = self._recognize(data)
        if not raw:
            return []
        if segment.source is not SegmentSource.SUBJECT:
            raw = self._suppress_business(text, raw)
        candidates = self._assess(text, raw)
        self._support(candidates)
        kept = self._dedupe([c for c in candidates if c.score >= self.threshold])
        return [
            Finding(
                info_type=c.info_type,
                part_path=segment.part_path,
                source=segment.source,
                start=c.start,
                end=c.end,
                score=round(min(c.score, 1.0), 3),
                recognizer=f"{c.entry.recognizer.name}.{c.entry.pattern_name}",
            )
            for c in kept
        ]

    def _recognize(self, data: bytes) -> list[tuple[_Compiled, int, int]]:
        """Every pattern match in the text whose value is a whole token."""
        raw: list[tuple[_Compiled, int, int]] = []
        entries = self._entries
        for index, match in self._scanner.candidates(data):
            if match.re.groups:
                start, end = match.span(1)
            else:
                start, end = match.span()
            # Identifiers are whole tokens: "X9434765919" is not an NHS number.
            if _is_word_byte(data, start - 1) and _is_word_byte(data, start):
                continue
            if _is_word_byte(data, end) and _is_word_byte(data, end - 1):
                continue
            raw.append((entries[index], start, end))
        return raw

    def _assess(self, text: str, raw: list[tuple[_Compiled, int, int]]) -> list[_Scored]:
        """Validate each candidate and add its context score."""
        scored: list[_Scored] = []
        for entry, value_start, value_end in raw:
            assessment = entry.recognizer.assess(text, value_start, value_end, entry.score)
            if assessment is None:
                continue
            start, end, score = assessment
            score += self._context_score(entry, text, start, end)
            scored.append(_Scored(entry, start, end, score))
        return scored

    @staticmethod
    def _context_score(entry: _Compiled, text: str, start: int, end: int) -> float:
        recognizer = entry.recognizer
        before, after = recognizer.CONTEXT_WINDOW
        low, high = max(0, start - before), min(len(text), end + after)
        adjustment = 0.0
        # Context may sit on an earlier line (a "DOB" column heading) ...
        if entry.context is not None and (
            entry.context.search(text, low, start) or entry.context.search(text, end, high)
        ):
            adjustment += recognizer.CONTEXT_BOOST
        # ... but negative context must be on the match's own line: "invoice"
        # in the paragraph above says nothing about the number on this one.
        if entry.negative is not None:
            line_start = text.rfind("\n", low, start) + 1 or low
            line_end = text.find("\n", end, high)
            line_end = high if line_end < 0 else line_end
            if entry.negative.search(text, max(low, line_start), start) or entry.negative.search(
                text, end, line_end
            ):
                adjustment -= recognizer.NEGATIVE_PENALTY
        return adjustment

    @staticmethod
    def _suppress_business(
        text: str, raw: list[tuple[_Compiled, int, int]]
    ) -> list[tuple[_Compiled, int, int]]:
        """Drop business-contact candidates inside signatures and reply headers.

        Done before validation, so a signature's phone number never costs a
        `phonenumbers` lookup.  Blocks are only looked for from a little before
        the first such candidate to the last one.
        """
        business = [start for entry, start, _ in raw if entry.recognizer.BUSINESS_CONTACT]
        if not business:
            return raw
        low = text.rfind("\n", 0, max(0, min(business) - _SIGNATURE_REACH)) + 1
        blocks = business_blocks(text, low, max(business) + 1)
        if not blocks:
            return raw
        starts = [block_start for block_start, _ in blocks]  # sorted, not overlapping

        def inside(start: int, end: int) -> bool:
            index = bisect_right(starts, start) - 1
            return index >= 0 and end <= blocks[index][1]

        return [
            (entry, start, end)
            for entry, start, end in raw
            if not (entry.recognizer.BUSINESS_CONTACT and inside(start, end))
        ]

    def _support(self, candidates: list[_Scored]) -> None:
        threshold = self.threshold
        strong = sorted((c for c in candidates if c.score >= threshold), key=lambda c: c.start)
        if not strong:
            return
        starts = [c.start for c in strong]
        longest = max(c.end - c.start for c in strong)
        for candidate in candidates:
            recognizer = candidate.entry.recognizer
            if candidate.score >= threshold or not recognizer.SUPPORTED_BY:
                continue
            reach = recognizer.SUPPORT_WINDOW
            # Only findings starting within reach (plus the longest span) can touch it.
            low = bisect_left(starts, candidate.start - reach - longest)
            high = bisect_right(starts, candidate.end + reach)
            if any(
                other.info_type in recognizer.SUPPORTED_BY and other.end + reach >= candidate.start
                for other in strong[low:high]
            ):
                candidate.score += recognizer.SUPPORT_BOOST

    @staticmethod
    def _dedupe(candidates: list[_Scored]) -> list[_Scored]:
        kept: list[_Scored] = []
        # Only candidates in one run of overlapping spans can clash: split into
        # such runs first, so a long attachment is not compared pairwise.
        for cluster in _overlapping_runs(candidates):
            if len(cluster) == 1:
                kept.extend(cluster)
                continue
            # Best first, so each candidate only has to look at those kept.
            ordered = sorted(cluster, key=lambda c: (-c.score, c.start, -(c.end - c.start)))
            chosen: list[_Scored] = []
            for candidate in ordered:
                if not any(_clashes(candidate, other) for other in chosen):
                    chosen.append(candidate)
            kept.extend(sorted(chosen, key=lambda c: (c.start, c.end)))
        return kept


def _clashes(candidate: _Scored, better: _Scored) -> bool:
    """Same type and overlapping, or wholly inside a better finding of another type."""
    if not (candidate.start < better.end and better.start < candidate.end):
        return False
    inside = better.start <= candidate.start and candidate.end <= better.end
    return candidate.info_type == better.info_type or inside


def _overlapping_runs(candidates: list[_Scored]) -> list[list[_Scored]]:
    runs: list[list[_Scored]] = []
    run_end = -1
    for candidate in sorted(candidates, key=lambda c: (c.start, c.end)):
        if runs and candidate.start < run_end:
            runs[-1].append(candidate)
            run_end = max(run_end, candidate.end)
        else:
            runs.append([candidate])
            run_end = candidate.end
    return runs


def build_engine(
    registry: Registry | None = None, threshold: float = DEFAULT_THRESHOLD
) -> DetectionEngine:
    """The engine over `registry` (every built-in recognizer by default)."""
    return DetectionEngine(registry if registry is not None else build_registry(), threshold)
