"""Echoes: a person's name found in one place of a message, written again
where it travels in clear.

    findings + segments --echoes(targets)--> more Findings (person_name)

A name on its own says little: "William Jennings referral" could be anyone
or anything, so the name recognizer wants context (a title, "child:", a
date of birth nearby) and a subject line or a file name rarely has any.
But once the message's text (or an attachment the gateway opened) names
William Jennings as the person it is about, the same two words in the
subject, in Outlook's Thread-Topic, in an attachment's file name or in the
names an encrypted archive shows without its password are that person's
name, in clear.

Only names of two words or more are echoed: a lone first name ("Will",
"Grace") is also an ordinary word.  The match is case-sensitive and
word-bounded, as a name is written.  A Finding never carries the value;
the names live only in this call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from gateway.model import Finding, InformationType, SegmentSource, TextSegment

RECOGNIZER = "echo"
# Longest name taken from a finding: a span longer than this is not a name
# the recognizer would have found, and a pattern built from it would be slow.
_LONGEST_NAME = 80
# Words of letters joined by spaces, apostrophes or hyphens ("Ellie-Mae
# O'Connor"); a full stop only before a space ("J. Smith"), so that a file
# name ("report.zip") sharing the finding's place never passes for a name.
_NAME_CHARACTERS = re.compile(r"^[^\W\d_]+(?:(?:[ '’-]+|\.[ ]+)[^\W\d_]+)+$")


def names_found(findings: Iterable[Finding], segments: Sequence[TextSegment]) -> frozenset[str]:
    """The multi-word names `findings` point at in `segments`."""
    by_place: dict[tuple[str, SegmentSource], list[TextSegment]] = {}
    for segment in segments:
        by_place.setdefault((segment.part_path, segment.source), []).append(segment)
    names: set[str] = set()
    for finding in findings:
        if finding.info_type is not InformationType.PERSON_NAME:
            continue
        if not 0 < finding.end - finding.start <= _LONGEST_NAME:
            continue
        # Several segments can share a place (an attachment's texts); the
        # finding's span is a name in the one it came from.
        for segment in by_place.get((finding.part_path, finding.source), ()):
            value = " ".join(segment.text[finding.start:finding.end].split())
            if _NAME_CHARACTERS.match(value):
                names.add(value)
    return frozenset(names)


def name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """One word-bounded pattern for `names` (longest first), or None."""
    ordered = sorted(set(names), key=len, reverse=True)
    if not ordered:
        return None
    # Between the words any run of spaces, or what a file name puts there
    # ("William_Jennings.csv", "William-Jennings plan.docx").
    alternatives = "|".join(
        r"[\s_.-]+".join(re.escape(w) for w in name.split()) for name in ordered
    )
    return re.compile(rf"(?<![^\W_])(?:{alternatives})(?![^\W_])")


def echoes(
    names: Iterable[str], findings: Sequence[Finding], targets: Sequence[TextSegment]
) -> tuple[Finding, ...]:
    """A person_name finding wherever one of `names` (`names_found`) is
    written in one of `targets` and no finding covers it yet."""
    pattern = name_pattern(names)
    if pattern is None:
        return ()
    covered = {(f.part_path, f.source, f.start, f.end) for f in findings}
    found: list[Finding] = []
    for target in targets:
        for match in pattern.finditer(target.text):
            place = (target.part_path, target.source, match.start(), match.end())
            if place in covered:
                continue
            covered.add(place)
            found.append(Finding(InformationType.PERSON_NAME, target.part_path, target.source,
                                 match.start(), match.end(), 1.0, RECOGNIZER))
    return tuple(found)


def spans_in(text: str, names: Iterable[str]) -> list[tuple[int, int]]:
    """Where `names` are written in `text` (for redacting a file name)."""
    pattern = name_pattern(names)
    if pattern is None:
        return []
    return [(m.start(), m.end()) for m in pattern.finditer(text)]
