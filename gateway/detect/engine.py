"""Detection: segments of text in, Findings out.

For each segment, in order (the Presidio flow, on one combined pass):

    1. recognize   one pass of every recognizer's patterns over the folded
                   text (a segment without any match ends here); inside a
                   signature or reply-header block only the patterns of
                   types that are not business contacts run, so the
                   sender's phone, e-mail, name and postcode there are never
                   candidates (suppression); each candidate is validated
                   (check digits) by its recognizer, which may move its span
                   or change its score
    2. context     context words in a window around the match raise the score,
                   negative context words lower it
    3. (suppress)  done in 1: business-contact types (phone, e-mail, name,
                   postcode, special category) are not looked for inside the
                   blocks, which are found once per segment that has any
                   candidate and is not a subject
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


# Bytes of a token: ASCII letters and digits.
_WORD = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


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
        # Inside a signature or reply-header block only the patterns of types
        # that are not business contacts are looked for: the others would be
        # dropped there anyway.
        self._inner_entries = [e for e in self._entries if not e.recognizer.BUSINESS_CONTACT]
        self._has_business = len(self._inner_entries) < len(self._entries)
        self._inner = (
            MultiPattern(
                [
                    r
                    for r, e in zip(regexes, self._entries, strict=True)
                    if not e.recognizer.BUSINESS_CONTACT
                ]
            )
            if self._inner_entries
            else None
        )

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
        first = self._scanner.first(data)
        if first < 0:  # most prose: one pass, nothing to look at
            return []
        if segment.source is SegmentSource.SUBJECT or not self._has_business:
            raw = self._recognize(self._scanner, self._entries, data, first, len(data))
        else:
            raw = self._recognize_outside_blocks(data, text, first)
        if not raw:
            return []
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

    def _recognize_outside_blocks(
        self, data: bytes, text: str, first: int
    ) -> list[tuple[_Compiled, int, int]]:
        """Every candidate, except business contacts inside signatures and reply headers.

        The blocks are found first (`business_blocks`), and inside them only
        the other types' patterns run: a signature's phone number, e-mail
        address and name are never even candidates, so they cost neither a
        match nor a `phonenumbers` lookup.  Blocks are whole lines and every
        pattern matches within one line, so a candidate is inside a block
        exactly when it starts there.
        """
        blocks = business_blocks(text)
        if not blocks:
            return self._recognize(self._scanner, self._entries, data, first, len(data))
        raw: list[tuple[_Compiled, int, int]] = []
        position = first
        for block_start, block_end in blocks:
            if block_end <= position:
                continue
            if position < block_start:
                raw += self._recognize(self._scanner, self._entries, data, position, block_start)
                position = block_start
            if self._inner is not None:
                raw += self._recognize(self._inner, self._inner_entries, data, position, block_end)
            position = block_end
        if position < len(data):
            raw += self._recognize(self._scanner, self._entries, data, position, len(data))
        return raw

    @staticmethod
    def _recognize(
        scanner: MultiPattern, entries: list[_Compiled], data: bytes, start: int, stop: int
    ) -> list[tuple[_Compiled, int, int]]:
        """Every pattern match starting in `data[start:stop]` whose value is a whole token."""
        raw: list[tuple[_Compiled, int, int]] = []
        size = len(data)
        for index, match in scanner.candidates(data, start, stop):
            if match.re.groups:
                begin, end = match.span(1)
            else:
                begin, end = match.span()
            # Identifiers are whole tokens: "X9434765919" is not an NHS number.
            if 0 < begin < size and data[begin - 1] in _WORD and data[begin] in _WORD:
                continue
            if 0 < end < size and data[end] in _WORD and data[end - 1] in _WORD:
                continue
            raw.append((entries[index], begin, end))
        return raw

    def _assess(self, text: str, raw: list[tuple[_Compiled, int, int]]) -> list[_Scored]:
        """Validate each candidate and add its context score."""
        scored: list[_Scored] = []
        lower = text.lower()  # ASCII (folded): same offsets; context words are lower case
        for entry, value_start, value_end in raw:
            assessment = entry.recognizer.assess(text, value_start, value_end, entry.score)
            if assessment is None:
                continue
            start, end, score = assessment
            score += self._context_score(entry, lower, start, end)
            scored.append(_Scored(entry, start, end, score))
        return scored

    @staticmethod
    def _context_score(entry: _Compiled, text: str, start: int, end: int) -> float:
        """The context adjustment; `text` is the segment's folded text in lower case."""
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
