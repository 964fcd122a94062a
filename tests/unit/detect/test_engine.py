"""The engine as a whole: registry, findings without values, suppression, dedupe."""

import random

import pytest
from engine_support import engine
from synthetic_ids import nhs_number

from gateway.detect import Pattern, Recognizer, Registry, build_engine, build_registry
from gateway.model import InformationType, SegmentSource, TextSegment

rng = random.Random(11)
NHS = nhs_number(rng)


def segment(text: str, source: SegmentSource = SegmentSource.BODY) -> TextSegment:
    return TextSegment("1.2", source, text, filename=None)


def test_registry_holds_one_recognizer_per_information_type() -> None:
    types = {recognizer.info_type for recognizer in build_registry()}
    assert types == set(InformationType)


@pytest.mark.parametrize("thing", [object(), "nhs", Recognizer, 42])
def test_registering_a_non_recognizer_raises(thing: object) -> None:
    with pytest.raises(TypeError):
        Registry().register(thing)


def test_registering_a_name_twice_raises() -> None:
    registry = build_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register(next(iter(build_registry())))


def test_pattern_rejects_unnamed_groups_and_non_ascii() -> None:
    with pytest.raises(ValueError):
        Pattern("bad", r"([0-9]+)", 0.5)
    with pytest.raises(ValueError):
        Pattern("bad", "caf\u00e9", 0.5)


def test_a_custom_recognizer_runs_in_the_same_pass() -> None:
    class StaffNumber(Recognizer):
        name = "staff_number"
        info_type = InformationType.PERSON_NAME
        PATTERNS = (Pattern("staff", r"\bSTF-[0-9]{5}\b", 0.9),)

    registry = Registry()
    registry.register(StaffNumber())
    findings = build_engine(registry).detect([segment("id STF-12345 and " + NHS)])
    assert [f.recognizer for f in findings] == ["staff_number.staff"]


def test_finding_locates_without_carrying_the_value() -> None:
    text = f"Child's NHS number {NHS} as requested"
    (finding,) = engine().detect([segment(text)])
    assert finding.info_type is InformationType.UK_NHS_NUMBER
    assert (finding.part_path, finding.source) == ("1.2", SegmentSource.BODY)
    assert text[finding.start : finding.end] == NHS
    compact = NHS.replace(" ", "")
    for shown in (repr(finding), str(finding)):
        assert NHS not in shown and compact not in shown


def test_offsets_survive_non_ascii_text() -> None:
    spaced = NHS.replace(" ", "\u00a0")
    text = f"Zoë’s NHS\u00a0number\u2002is {spaced} — thanks"
    (finding,) = engine().detect([segment(text)])
    assert text[finding.start : finding.end] == spaced


def test_overlapping_matches_of_one_type_are_reported_once() -> None:
    text = "Mum's mobile: (0113) 496 0555"
    findings = engine().detect([segment(text)])
    assert [f.info_type for f in findings] == [InformationType.UK_PHONE_NUMBER]


def test_one_text_can_be_two_types_when_each_has_its_context() -> None:
    text = "DOB 12-03-15 and sort code 20-00-00 account 12345678"
    types = {f.info_type for f in engine().detect([segment(text)])}
    assert types == {InformationType.DATE_OF_BIRTH, InformationType.UK_BANK_ACCOUNT}


def test_signature_is_not_personal_data_but_a_leak_after_it_is() -> None:
    signature = (
        "Please see the agenda attached.\n\nKind regards,\nJo Bloggs\nHead of Year 9\n"
        "Tel: 0113 496 0999\nM: 07700 900456\nj.bloggs@gmail.com\nLeeds LS1 1UR\n"
    )
    assert engine().detect([segment(signature)]) == ()
    leak = signature + f"Child: Oliver Smith, DOB 12/03/2015, NHS {NHS}\n"
    types = {f.info_type for f in engine().detect([segment(leak)])}
    assert types == {
        InformationType.PERSON_NAME,
        InformationType.DATE_OF_BIRTH,
        InformationType.UK_NHS_NUMBER,
    }


def test_quoted_reply_is_still_scanned() -> None:
    text = (
        "Thanks, will do.\n\nOn Tue, 4 Mar 2025 at 09:12, Sam Lee <sam.lee@gmail.com> wrote:\n"
        f"> Can you check the NHS number {NHS} for me?\n> Thanks\n> Sam\n"
    )
    types = [f.info_type for f in engine().detect([segment(text)])]
    assert types == [InformationType.UK_NHS_NUMBER]


def test_subject_segments_are_scanned() -> None:
    findings = engine().detect([segment(f"Referral NHS {NHS}", SegmentSource.SUBJECT)])
    assert [f.source for f in findings] == [SegmentSource.SUBJECT]


def test_long_runs_do_not_backtrack() -> None:
    hostile = ("a" * 5000 + "@") * 20 + "1 " * 20000 + "A" * 50000
    assert engine().detect([segment(hostile)]) == ()


def test_check_digits_run_only_where_the_score_could_reach_the_threshold() -> None:
    checked: list[str] = []

    class Reference(Recognizer):
        name = "reference"
        info_type = InformationType.UK_PASSPORT_NUMBER
        PATTERNS = (Pattern("digits", r"\b[0-9]{9}\b", 0.2),)
        CONTEXT = ("passport",)

        def validate(self, value: str) -> bool:
            checked.append(value)
            return value != "111111111"

    registry = Registry()
    registry.register(Reference())
    detector = build_engine(registry)
    # Without its context a bare number stays below the threshold: not checked.
    assert detector.detect([segment("order 123456789 arrived")]) == ()
    assert checked == []
    (finding,) = detector.detect([segment("passport 123456789 and passport 111111111")])
    assert finding.start == len("passport ")
    assert checked == ["123456789", "111111111"]


def _alternatives(plain: str, html_text: str) -> list[TextSegment]:
    return [
        TextSegment("", SegmentSource.SUBJECT, "Rota for next week", filename=None),
        TextSegment("1", SegmentSource.BODY, plain, filename=None),
        TextSegment("2", SegmentSource.BODY, html_text, filename=None),
    ]


def test_an_alternative_with_the_same_text_is_read_once() -> None:
    text = f"Hello,\n\nThe child's NHS number is {NHS}.\n\nThanks,\nJo\n"
    plain = "\r\n" + text.replace("\n", "\r\n")  # as a text/plain part reads
    findings = engine().detect(_alternatives(plain, text.strip("\n")))
    # The HTML's text, with LF line endings, is the shorter: it is the one read.
    assert [(f.info_type, f.part_path) for f in findings] == [
        (InformationType.UK_NHS_NUMBER, "2")
    ]
    findings = engine().detect(_alternatives(text, text))
    assert [f.part_path for f in findings] == ["1"]


def test_an_alternative_that_differs_at_all_is_read_too() -> None:
    text = "Hello,\n\nPlease see the rota.\n\nThanks,\nJo\n"
    hidden = text.replace("Please see", f"NHS number {NHS}. Please see")
    findings = engine().detect(_alternatives(text.replace("\n", "\r\n"), hidden))
    assert [(f.info_type, f.part_path) for f in findings] == [
        (InformationType.UK_NHS_NUMBER, "2")
    ]


def test_segments_of_one_part_are_each_read() -> None:
    text = f"The child's NHS number is {NHS}."
    segments = [TextSegment("1", SegmentSource.BODY, text, filename=None)] * 2
    assert [f.part_path for f in engine().detect(segments)] == ["1", "1"]
