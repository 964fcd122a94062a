"""Detection: segments of text in, Findings out.

For each segment, in order (the Presidio flow, on combined passes):

    1. recognize   one pass of every recognizer's patterns over the folded
                   text; over a body (not a subject) the pass also stops at
                   the lines where a signature, reply header or
                   disclaimer may start
                   (`signature.BLOCK_START`).  When a block starts at such a
                   line (`signature.block_at`), only the patterns of types
                   that are not business contacts run over it and the pass
                   goes on after it: the sender's phone, e-mail, name,
                   postcode and special category words there are never
                   candidates (suppression).  A pass costs one regex search
                   per place something starts, and a segment without any
                   ends after one.
    2. context     context words in a window around the match raise the score,
                   negative context words lower it; a recognizer whose
                   validation leaves span and score alone has its context
                   weighed first, and its check digits run only when the
                   score could still reach the threshold (with support)
    3. validate    each remaining candidate is validated (check digits) by
                   its recognizer, which may move its span or change its
                   score
    4. support     a candidate still below the threshold is raised when a
                   finding of a type it is SUPPORTED_BY lies close by (a
                   postcode next to a child's name and NHS number; in the
                   same paragraph for SUPPORT_IN_PARAGRAPH)
    5. dedupe      overlapping candidates of one type keep the best; a
                   candidate inside a stronger one of another type is dropped
    6. threshold   what is left at or above the threshold becomes a Finding

A candidate below the threshold after context and support changes nothing:
only candidates at the threshold support others or take part in the dedupe.
Findings carry the type, the place (part, offsets) and the score, never the
matched text; nothing here logs.

Given a `Deadline`, detection looks at it before each segment and every
`_STEPS` places a pass stops and candidates assessed, and raises
`LimitExceeded` once it has passed: text built to be slow to read (a small
zip of digits expanding to megabytes of candidates) ends the inspection,
which the pipeline refuses as content it could not check, rather than
running on.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.detect._regex import BACKEND, MAX_MATCH, Candidate, MultiPattern, fold
from gateway.detect.recognizer import Recognizer, words_regex
from gateway.detect.registry import Registry, build_registry
from gateway.detect.signature import BLOCK_START, block_at, business_blocks, unsigned_signature
from gateway.model import Finding, InformationType, SegmentSource, TextSegment
from gateway.parse.limits import Deadline

__all__ = ["DEFAULT_THRESHOLD", "DetectionEngine", "FirstStop", "build_engine"]

DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One recognizer's pattern with the regexes the engine needs for it."""

    recognizer: Recognizer
    pattern_name: str
    score: float
    context: re.Pattern[str] | None
    negative: re.Pattern[str] | None
    order: int  # its place among every pattern: candidates at one start keep this order
    # The recognizer validates without moving the span or changing the score
    # (the base `assess`), so context can be weighed before the check digits.
    plain: bool
    # What support could still add (SUPPORT_BOOST when SUPPORTED_BY is set).
    reach: float


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
_NEWLINE = ord("\n")
# Bytes of text after the first block line from which a look for any
# candidate after it (to stop the pass early) is worth its search.
_LOOK_AHEAD_FROM = 4096
# Steps of a loop (places a pass stops, candidates assessed) between two
# looks at the deadline: a counter in the loop, the clock read once per many
# (a step costs microseconds, so the deadline is seen within milliseconds).
_STEPS = 256
# No deadline: never reached.
_NEVER = Deadline(float("inf"))
# A candidate: (where the pass stopped, pattern order, pattern, value start, value end);
# a segment's candidates come in that order, as the passes find them.
_Raw = tuple[int, int, _Compiled, int, int]


@dataclass(frozen=True, slots=True)
class FirstStop:
    """A segment's folded text and where its pass first stops, found ahead
    (`DetectionEngine.first_stops`); -1 when it never stops."""

    text: str  # the segment's own text object: used only for that very text
    data: bytes
    folded: str
    first: int


class DetectionEngine:
    """Runs every registered recognizer over text segments in combined passes."""

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
            plain = type(recognizer).assess is Recognizer.assess
            reach = recognizer.SUPPORT_BOOST if recognizer.SUPPORTED_BY else 0.0
            for pattern in recognizer.PATTERNS:
                self._entries.append(
                    _Compiled(
                        recognizer,
                        pattern.name,
                        pattern.score,
                        context,
                        negative,
                        len(self._entries),
                        plain,
                        reach,
                    )
                )
                regexes.append(pattern.regex)
        # Subjects (never a signature) get one pass of every pattern.  A body
        # gets one pass of every pattern and of the lines where a signature
        # or reply header may start; inside each block found, only the
        # patterns of types that are not business contacts run (its phone,
        # e-mail, name and postcode are the correspondents' own, never
        # candidates).
        self._full = MultiPattern(regexes)
        self._inner_entries = [e for e in self._entries if not e.recognizer.BUSINESS_CONTACT]
        self._has_business = len(self._inner_entries) < len(self._entries)
        self._body = MultiPattern([*regexes, BLOCK_START])
        self._inner = (
            MultiPattern([regexes[e.order] for e in self._inner_entries])
            if self._inner_entries
            else None
        )
        self._block_start = re.compile(BLOCK_START.encode("ascii"))

    def first_stops(
        self, segments: Sequence[TextSegment], min_length: int = 0
    ) -> dict[int, FirstStop]:
        """Step 1's first search over each segment of at least `min_length`
        characters that `detect` would read, by index in `segments`.

        Callable in any thread: over a large text, this search is most of
        the pass (all of it when the text holds no candidate), and RE2 lets
        go of the interpreter lock while it runs.  `detect` given the result
        starts each pass from it.
        """
        skipped = _alternatives_read_elsewhere(segments)
        found: dict[int, FirstStop] = {}
        for index, segment in enumerate(segments):
            if index in skipped or not segment.text or len(segment.text) < min_length:
                continue
            data, text = fold(segment.text)
            scanner = self._full if self._whole_pass(segment) else self._body
            found[index] = FirstStop(segment.text, data, text, scanner.first(data))
        return found

    def detect(
        self,
        segments: Sequence[TextSegment],
        first_stops: Mapping[int, FirstStop] | None = None,
        deadline: Deadline | None = None,
    ) -> tuple[Finding, ...]:
        """Every finding in every segment, in segment order then offset order.

        A body whose text is another body's, line endings and the blank
        lines around it aside, is read once: the text/plain and text/html
        alternatives of one message, which a reader sees as the same text,
        give the same verdict, so only one is scanned (as Rspamd compares
        alternative parts).  The shorter is read (LF rather than CRLF line
        endings): its context and support windows reach at least as far.
        Any other difference, a hidden line in the HTML say, and both are.

        Past `deadline` (see the module's docstring) it raises `LimitExceeded`.
        """
        findings: list[Finding] = []
        skipped = _alternatives_read_elsewhere(segments)
        ahead = first_stops or {}
        clock = deadline or _NEVER
        for index, segment in enumerate(segments):
            if index not in skipped:
                clock.check()
                findings.extend(self._detect_segment(segment, ahead.get(index), clock))
        return tuple(findings)

    # ------------------------------------------------------------------

    def _whole_pass(self, segment: TextSegment) -> bool:
        """One pass of every pattern, no signature blocks (see __init__)."""
        return segment.source is SegmentSource.SUBJECT or not self._has_business

    def _detect_segment(
        self, segment: TextSegment, ahead: FirstStop | None, deadline: Deadline
    ) -> list[Finding]:
        if not segment.text:
            return []
        first: int | None = None
        if ahead is not None and ahead.text is segment.text:
            data, text, first = ahead.data, ahead.folded, ahead.first
        else:
            data, text = fold(segment.text)
        if self._whole_pass(segment):
            raw = self._recognize(self._full, self._entries, data, 0, len(data), first=first,
                                  deadline=deadline)
        else:
            raw = self._recognize_outside_blocks(data, text, first, deadline)
        if not raw:
            return []
        lower = text.lower()  # ASCII (folded): same offsets; context words are lower case
        candidates = self._assess(text, lower, raw, deadline)
        if not candidates:
            return []
        self._support(text, candidates)
        kept = self._dedupe([c for c in candidates if c.score >= self.threshold])
        if not self._whole_pass(segment) and any(
            c.info_type is InformationType.UK_PHONE_NUMBER for c in kept
        ):
            kept = _without_own_numbers(text, kept)
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
        self, data: bytes, text: str, first: int | None = None, deadline: Deadline = _NEVER
    ) -> list[_Raw]:
        """Every candidate, except business contacts inside signatures and reply headers.

        The pass stops at every line where a block may start (`BLOCK_START`)
        as well as at candidates; when a block does start there
        (`block_at`), only the other types' patterns run over it and the
        pass goes on after its last line.  A signature's phone number,
        e-mail address and name are never even candidates, so they cost
        neither a match nor a `phonenumbers` lookup.  Blocks are whole lines
        and every pattern matches within one line, so a candidate is inside
        a block exactly when it starts there.  These are the blocks
        `business_blocks` finds: each starts at the first such line after
        the one before.  `first`, when given, is where the pass first stops
        (`first_stops`).
        """
        scanner = self._body
        # The loop runs at every stop of the pass: its lookups are locals.
        next_start, matches_at, token_end = scanner.next_start, scanner.matches_at, scanner.token_end
        block_start = self._block_start.match
        accept, entries = self._accept, self._entries
        raw: list[_Raw] = []
        size = len(data)
        position = 0
        looked_ahead = False
        steps = _STEPS
        while position < size:
            steps -= 1
            if not steps:
                steps = _STEPS
                deadline.check()
            if first is None:
                at = next_start(data, position, size)
            else:
                at, first = first, None
            if at < 0:
                break
            if (at == 0 or data[at - 1] == _NEWLINE) and block_start(data, at):
                # Blocks only matter to candidates: at the first such line,
                # one search tells whether any follows (prose has none).  Not
                # in a short rest, where the few blocks left cost less than
                # the search (typical mail: a signature with its phone number).
                if not looked_ahead:
                    looked_ahead = True
                    if size - at > _LOOK_AHEAD_FROM and self._full.next_start(data, at, size) < 0:
                        break
                block = block_at(text, at)
                if block is not None:
                    # A block ends at a line end: the search stops there.
                    raw += self._recognize(
                        self._inner, self._inner_entries, data, at, block[1], reach=0,
                        deadline=deadline,
                    )
                    position = block[1]
                    continue
            found = matches_at(data, at)
            if found:
                accept(entries, data, at, found, raw)
            position = token_end(data, at)
        return raw

    def _recognize(
        self,
        scanner: MultiPattern | None,
        entries: list[_Compiled],
        data: bytes,
        start: int,
        stop: int,
        reach: int = MAX_MATCH,
        first: int | None = None,
        deadline: Deadline = _NEVER,
    ) -> list[_Raw]:
        """Every pattern match starting in `data[start:stop]` whose value is a whole token
        (`reach`: see `MultiPattern.next_start`; `first`: where the pass
        first stops, when already known)."""
        raw: list[_Raw] = []
        if scanner is None:
            return raw
        next_start, matches_at, token_end = scanner.next_start, scanner.matches_at, scanner.token_end
        accept = self._accept
        position = start
        steps = _STEPS
        while position < stop:
            steps -= 1
            if not steps:
                steps = _STEPS
                deadline.check()
            if first is None:
                at = next_start(data, position, stop, reach)
            else:
                at, first = first, None
            if at < 0:
                break
            accept(entries, data, at, matches_at(data, at), raw)
            position = token_end(data, at)
        return raw

    @staticmethod
    def _accept(
        entries: list[_Compiled], data: bytes, at: int, found: list[Candidate], raw: list[_Raw]
    ) -> None:
        """Add the matches at `at` whose value is a whole token to `raw`."""
        size = len(data)
        for index, match in found:
            if index >= len(entries):  # BLOCK_START, not a pattern of a recognizer
                continue
            if match.re.groups:
                begin, end = match.span(1)
            else:
                begin, end = match.span()
            # Identifiers are whole tokens: "X9434765919" is not an NHS number.
            if 0 < begin < size and data[begin - 1] in _WORD and data[begin] in _WORD:
                continue
            if 0 < end < size and data[end] in _WORD and data[end - 1] in _WORD:
                continue
            entry = entries[index]
            raw.append((at, entry.order, entry, begin, end))

    def _assess(
        self, text: str, lower: str, raw: list[_Raw], deadline: Deadline = _NEVER
    ) -> list[_Scored]:
        """Validate each candidate and add its context score (`lower`: text lower-cased)."""
        scored: list[_Scored] = []
        steps = _STEPS
        for _, _, entry, value_start, value_end in raw:
            steps -= 1
            if not steps:
                steps = _STEPS
                deadline.check()
            if entry.plain:
                # The span and score stay as they are: weigh the context first,
                # and skip the check digits of a candidate that could not
                # reach the threshold even with support (it would change
                # nothing: only candidates at the threshold support others).
                reachable = self._reachable_score(entry, lower, value_start, value_end)
                if reachable is None:
                    continue
                score = reachable
                if entry.recognizer.validate(text[value_start:value_end]):
                    scored.append(_Scored(entry, value_start, value_end, score))
                continue
            assessment = entry.recognizer.assess(text, value_start, value_end, entry.score)
            if assessment is None:
                continue
            start, end, score = assessment
            score += self._context_score(entry, lower, start, end)
            scored.append(_Scored(entry, start, end, score))
        return scored

    def _reachable_score(
        self, entry: _Compiled, text: str, start: int, end: int
    ) -> float | None:
        """`entry`'s score with its context, or None once it cannot reach the
        threshold even with support (negative context is then not looked for:
        it could only lower the score)."""
        low, high = _window(entry, text, start, end)
        score = entry.score
        if _has_context(entry, text, low, start, end, high):
            score += entry.recognizer.CONTEXT_BOOST
        if score + entry.reach < self.threshold:
            return None
        if _has_negative_context(entry, text, low, start, end, high):
            score -= entry.recognizer.NEGATIVE_PENALTY
            if score + entry.reach < self.threshold:
                return None
        return score

    @staticmethod
    def _context_score(entry: _Compiled, text: str, start: int, end: int) -> float:
        """The context adjustment; `text` is the segment's folded text in lower case."""
        low, high = _window(entry, text, start, end)
        adjustment = 0.0
        if _has_context(entry, text, low, start, end, high):
            adjustment += entry.recognizer.CONTEXT_BOOST
        if _has_negative_context(entry, text, low, start, end, high):
            adjustment -= entry.recognizer.NEGATIVE_PENALTY
        return adjustment

    def _support(self, text: str, candidates: list[_Scored]) -> None:
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
                other.info_type in recognizer.SUPPORTED_BY
                and other.end + reach >= candidate.start
                and not (recognizer.SUPPORT_IN_PARAGRAPH and _apart(text, candidate, other))
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


# A blank line: where a paragraph, or a newsletter's notice, ends.
_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")


def _apart(text: str, one: _Scored, other: _Scored) -> bool:
    """Whether a blank line stands between the two candidates."""
    low, high = min(one.end, other.end), max(one.start, other.start)
    return low < high and _BLANK_LINE.search(text, low, high) is not None


def _alternatives_read_elsewhere(segments: Sequence[TextSegment]) -> set[int]:
    """Indices of the bodies whose text another part's body repeats (see `detect`)."""
    first_part: str | None = None
    for segment in segments:
        if segment.source is SegmentSource.BODY:
            if first_part is None:
                first_part = segment.part_path
            elif segment.part_path != first_part:
                break
    else:
        return set()  # one body part at most: nothing to compare
    skipped: set[int] = set()
    parts: set[str] = set()
    read: list[tuple[str, int]] = []  # (normalised text, the body read for it)
    for index, segment in enumerate(segments):
        # Only bodies of different parts can be alternatives of each other.
        if segment.source is not SegmentSource.BODY or segment.part_path in parts:
            continue
        parts.add(segment.part_path)
        key = segment.text
        if "\r" in key:
            key = key.replace("\r\n", "\n")
        key = key.strip("\n")
        # A few bodies at most: compared directly (lengths first), not hashed.
        for slot, (other_key, other) in enumerate(read):
            if len(other_key) == len(key) and other_key == key:
                if len(segment.text) < len(segments[other].text):
                    skipped.add(other)
                    read[slot] = (key, index)
                else:
                    skipped.add(index)
                break
        else:
            read.append((key, index))
    return skipped


def _window(entry: _Compiled, text: str, start: int, end: int) -> tuple[int, int]:
    """Where context for a match at `start:end` is looked for (within its
    paragraph for a recognizer with CONTEXT_IN_PARAGRAPH)."""
    before, after = entry.recognizer.CONTEXT_WINDOW
    low, high = max(0, start - before), min(len(text), end + after)
    if entry.recognizer.CONTEXT_IN_PARAGRAPH:
        for blank in _BLANK_LINE.finditer(text, low, start):
            low = blank.end()
        following = _BLANK_LINE.search(text, end, high)
        if following is not None:
            high = following.start()
    return low, high


def _has_context(entry: _Compiled, text: str, low: int, start: int, end: int, high: int) -> bool:
    # Context may sit on an earlier line (a "DOB" column heading) ...
    context = entry.context
    return context is not None and bool(
        context.search(text, low, start) or context.search(text, end, high)
    )


# A UK number as signatures write it: +44 (0)..., +44 ..., or 0...
_NUMBER_IN_BLOCK = re.compile(r"(?:\+44[ ]?(?:\(0\)[ ]?)?|\(?0)[1-9][0-9 ()\-]{7,14}[0-9]")


def _national(value: str) -> str:
    """A UK number's digits as dialled at home: 0 and the rest."""
    digits = "".join(filter(str.isdigit, value))
    if value.lstrip().startswith("+44"):
        digits = "0" + digits[2:].removeprefix("0")
    return digits


def _without_own_numbers(text: str, kept: list[_Scored]) -> list[_Scored]:
    """Telephone numbers given again in the text's own signature or reply
    header ("call me on ..." above "Tel: ..."): the writer's or the
    correspondent's business contact, as the block itself is, not a person's
    data being shared.  Looked for only when the text has a telephone
    finding.  A number on a signature with no sign-off above it
    (`unsigned_signature`, looked for only around the numbers kept) is one
    too."""
    blocks = business_blocks(text)
    for candidate in kept:
        if candidate.info_type is InformationType.UK_PHONE_NUMBER and not any(
            start <= candidate.start < end for start, end in blocks
        ):
            block = unsigned_signature(text, candidate.start)
            if block is not None:
                blocks.append(block)
    if not blocks:
        return kept
    own = {_national(m.group()) for start, end in blocks
           for m in _NUMBER_IN_BLOCK.finditer(text, start, end)}
    return [c for c in kept if c.info_type is not InformationType.UK_PHONE_NUMBER
            or _national(text[c.start:c.end]) not in own]


def _has_negative_context(
    entry: _Compiled, text: str, low: int, start: int, end: int, high: int
) -> bool:
    # ... but negative context must be on the match's own line: "invoice"
    # in the paragraph above says nothing about the number on this one.
    negative = entry.negative
    if negative is None:
        return False
    line_start = text.rfind("\n", low, start) + 1 or low
    line_end = text.find("\n", end, high)
    line_end = high if line_end < 0 else line_end
    return bool(negative.search(text, max(low, line_start), start) or negative.search(text, end, line_end))


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
