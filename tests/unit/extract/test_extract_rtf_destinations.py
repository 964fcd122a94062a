"""RTF destinations that carry text beside the body flow: text boxes (Word
2007 shapes and the older drawing objects, with their `\\shprslt`
fallbacks), comments, Outlook's encapsulated HTML (`\\*\\htmltag` groups and
`\\htmlrtf` runs), embedded objects (their `\\result` rendering and the file
in their `\\*\\objdata`), and the noise an ordinary Word file is full of
(font, colour and style tables, theme data, rsid tables), which must still
yield nothing."""

from __future__ import annotations

import random
import re
import struct
import sys
from pathlib import Path

import pytest
from faker import Faker
from fixtures_content import docx, mail, rtf

from gateway.extract import ExtractContext, ExtractedText, build_registry
from gateway.model import Action, Envelope, InformationType, Problem
from gateway.parse import ContentLimits
from gateway.pipeline import Pipeline
from gateway.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detect"))
from synthetic_ids import nhs_number

REGISTRY = build_registry()
NHS = nhs_number(random.Random(7411))
_FAKE = Faker("en_GB")
_FAKE.seed_instance(7411)
NAME = _FAKE.name()
RECORD = f"NHS number {NHS}"
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{16,}")


def extract(
    data: bytes, limits: ContentLimits | None = None
) -> tuple[list[ExtractedText], list[Problem]]:
    ctx = ExtractContext.start(limits or ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    return texts, ctx.problems


def everything(texts: list[ExtractedText]) -> str:
    return "\n".join(t.text for t in texts)


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def read_clean(data: bytes) -> list[ExtractedText]:
    texts, problems = extract(data)
    assert problems == []
    return texts


# -- builders: OLE 1.0 objects (MS-OLEDS 2.2) and OLE packages --------------------------


def ansi(value: bytes) -> bytes:
    """A LengthPrefixedAnsiString: its length counts the terminating NUL."""
    return struct.pack("<I", len(value) + 1) + value + b"\0" if value else struct.pack("<I", 0)


def ole1(class_name: bytes, native: bytes, *, format_id: int = 2) -> bytes:
    header = struct.pack("<II", 0x0501, format_id) + ansi(class_name) + ansi(b"") + ansi(b"")
    return header + struct.pack("<I", len(native)) + native


def package(name: str, data: bytes) -> bytes:
    """An OLE Package (Packager's native data) holding one file."""
    label = name.encode()
    source = b"C:\\Users\\sender\\Documents\\" + label
    temp = b"C:\\Users\\sender\\AppData\\Local\\Temp\\" + label
    return (
        struct.pack("<H", 2)
        + label
        + b"\0"
        + source
        + b"\0"
        + struct.pack("<HH", 0, 3)  # reserved, 3: an embedded file
        + struct.pack("<I", len(temp) + 1)
        + temp
        + b"\0"
        + struct.pack("<I", len(data))
        + data
    )


def hex_lines(data: bytes) -> str:
    """Bytes as Word writes them in `\\objdata`: hex, 128 digits a line."""
    digits = data.hex()
    return "\n".join(digits[i : i + 128] for i in range(0, len(digits), 128))


PICTURE = "{\\pict\\wmetafile8\\picw2000\\pich2000 010009000003" + "ab" * 40 + "}"


def rtf_object(class_name: str, objdata: str, result: str = PICTURE) -> str:
    return (
        f"{{\\object\\objemb{{\\*\\objclass {class_name}}}\\objw1440\\objh960"
        f"{{\\*\\objdata {objdata}}}{{\\result {result}}}}}"
    )


# -- text boxes ---------------------------------------------------------------------------


def shape(text_box: str, fallback: str) -> str:
    """A Word 2007+ text box and the drawing object Word writes for older readers."""
    return (
        "{\\shp{\\*\\shpinst\\shpleft0\\shptop0\\shpright3000\\shpbottom900\\shpwr2"
        "{\\sp{\\sn shapeType}{\\sv 202}}{\\sp{\\sn fFitShapeToText}{\\sv 1}}"
        "{\\sp{\\sn pWrapPolygonVertices}{\\sv 8;4;(-21,0);(-21,21600);(21600,21600);(21600,0)}}"
        f"{{\\shptxt \\pard\\plain {{\\rtlch\\fcs1 \\insrsid1 {text_box}}}\\par}}}}"
        "{\\shprslt{\\*\\do\\dobxcolumn\\dobypara\\dodhgt8192\\dptxbx"
        f"{{\\dptxbxtext\\pard\\plain {fallback}\\par}}\\dpx0\\dpy0\\dpxsize3000\\dpysize900}}}}}}"
    )


def test_a_word_text_box_is_read_once() -> None:
    texts = read_clean(rtf(f"Please see the box.\\par {shape(RECORD, RECORD)}"))
    assert texts[0].text.strip() == "Please see the box."
    assert everything(texts).count(NHS) == 1  # the fallback says it again: read once
    assert "21600" not in everything(texts)  # shape geometry is no text


def test_an_old_drawing_object_text_box_is_read() -> None:
    drawing = (
        "{\\*\\do\\dobxcolumn\\dobypara\\dodhgt8192\\dptxbx\\dptxbxmar40"
        f"{{\\*\\dptxbxtext\\pard\\plain {{{RECORD}}}\\par}}\\dpx1440\\dpy0\\dpxsize3000}}"
    )
    assert NHS in everything(read_clean(rtf(f"Notes.\\par {drawing}")))


def test_a_shape_fallback_that_differs_is_read() -> None:
    assert NHS in everything(read_clean(rtf(shape("Summary", RECORD))))


def test_a_shape_description_is_read_and_its_numbers_are_not() -> None:
    alt_text = (
        "{\\shp{\\*\\shpinst{\\sp{\\sn shapeType}{\\sv 75}}{\\sp{\\sn fillColor}{\\sv 16777215}}"
        f"{{\\sp{{\\sn wzDescription}}{{\\sv {RECORD}}}}}}}}}"
    )
    text = everything(read_clean(rtf(alt_text)))
    assert NHS in text
    assert "16777215" not in text


# -- comments -----------------------------------------------------------------------------


def test_a_comment_is_read_apart_from_the_body() -> None:
    comment = (
        f"{{\\*\\atnid AC}}{{\\*\\atnauthor {NAME}}}\\chatn"
        "{\\*\\annotation{\\*\\atnref 1234567890}{\\*\\atndate 1870234567}"
        f"\\pard\\plain {{\\chatn }}{RECORD}\\par}}"
    )
    texts = read_clean(rtf(f"Reviewed by the team{comment} yesterday.\\par"))
    # The comment does not run into the sentence it is anchored in.
    assert texts[0].text.strip() == "Reviewed by the team yesterday."
    rest = everything(texts[1:])
    assert NHS in rest
    assert NAME in rest
    assert "1234567890" not in rest and "1870234567" not in rest


def test_a_field_instruction_is_read() -> None:
    link = (
        '{\\field{\\*\\fldinst {HYPERLINK "https://records.example/patient?nhs='
        f'{NHS.replace(" ", "")}"}}}}{{\\fldrslt {{the record}}}}}}'
    )
    texts = read_clean(rtf(f"See {link}.\\par"))
    assert texts[0].text.strip() == "See the record."
    assert NHS.replace(" ", "") in everything(texts)


def test_an_unknown_destination_with_words_is_read_and_one_of_hex_is_not() -> None:
    texts = read_clean(
        rtf(f"Body.{{\\*\\privatenote {RECORD}}}{{\\*\\privateblob {'0f1e2d3c' * 16}}}\\par")
    )
    assert texts[0].text.strip() == "Body."
    assert NHS in everything(texts)
    assert "0f1e2d3c" not in everything(texts)


# -- Outlook's encapsulated HTML ----------------------------------------------------------


def outlook(body: str) -> bytes:
    """An Outlook rich-text body that carries the HTML it was made from."""
    return (
        "{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 \\fbidis \\deff0"
        "{\\fonttbl{\\f0\\fswiss\\fcharset0 Arial;}{\\f1\\fmodern Courier New;}}"
        "{\\colortbl\\red0\\green0\\blue0;\\red5\\green99\\blue193;}\n"
        "\\uc1\\pard\\plain\\deftab360 \\f0\\fs24 "
        "{\\*\\htmltag19 <html>}{\\*\\htmltag34 <head>}"
        "{\\*\\htmltag161 <style>}{\\*\\htmltag241 p.MsoNormal \\{margin:0cm;\\}}"
        "{\\*\\htmltag169 </style>}{\\*\\htmltag41 </head>}\n"
        "{\\*\\htmltag50 <body lang=EN-GB>}\\htmlrtf {\\htmlrtf0 \n"
        + body
        + "\n\\htmlrtf }\\htmlrtf0 {\\*\\htmltag58 </body>}{\\*\\htmltag27 </html>}}"
    ).encode("latin-1")


def paragraph(text: str) -> str:
    return (
        f"{{\\*\\htmltag64}}{{\\*\\htmltag148 <p class=MsoNormal>}}{text}"
        "\\htmlrtf\\par\n\\htmlrtf0 {\\*\\htmltag244 <o:p>}{\\*\\htmltag84 &nbsp;}"
        "\\htmlrtf\\'a0\\htmlrtf0 {\\*\\htmltag252 </o:p>}{\\*\\htmltag104 </p>}"
    )


HTML_ONLY = [
    pytest.param(f"{{\\*\\htmltag1 <!-- {RECORD} -->}}", id="comment"),
    pytest.param(
        f'{{\\*\\htmltag84 <span data-ref="{RECORD}">}}x{{\\*\\htmltag92 </span>}}',
        id="attribute-value",
    ),
    pytest.param(
        f'{{\\*\\htmltag84 <div style="display:none">{RECORD}</div>}}', id="hidden-element"
    ),
    pytest.param(
        f"{{\\*\\htmltag84 <b>NHS number {NHS[:2]}&#{ord(NHS[2])};{NHS[3:]}</b>}}",
        id="shown-by-html-only",
    ),
]


@pytest.mark.parametrize("html_only", HTML_ONLY)
def test_text_in_an_html_tag_is_read(html_only: str) -> None:
    texts = read_clean(outlook(paragraph("Dear team,") + html_only + paragraph("Thanks.")))
    assert NHS not in texts[0].text  # the rich-text rendering does not show it
    assert NHS in everything(texts)


def test_text_only_the_rich_text_rendering_shows_is_read() -> None:
    texts = read_clean(outlook(paragraph("Dear team,") + f"\\htmlrtf {RECORD}\\htmlrtf0 "))
    assert NHS in texts[0].text


def test_text_both_renderings_show_is_read_once() -> None:
    texts = read_clean(outlook(paragraph("Dear team,") + paragraph(RECORD)))
    assert NHS in texts[0].text
    assert everything(texts).count(NHS) == 1
    assert "MsoNormal" not in texts[0].text


# -- embedded objects ---------------------------------------------------------------------


def test_an_object_result_is_read() -> None:
    result = f"{{\\pard\\plain {RECORD}\\par}}"
    texts = read_clean(rtf("Attached:\\par " + rtf_object("Paint.Picture", "", result)))
    assert NHS in texts[0].text


def test_a_packaged_text_file_is_read() -> None:
    objdata = hex_lines(ole1(b"Package", package("notes.txt", f"{RECORD}\r\n".encode())))
    texts = read_clean(rtf("Attached:\\par " + rtf_object("Package", objdata)))
    members = {t.member: t.text for t in texts}
    assert NHS in members["notes.txt"]
    assert not _HEX_RUN.search(everything(texts))


def test_a_packaged_word_document_is_read() -> None:
    document = docx([["Referral for ", NAME], [RECORD]])
    objdata = hex_lines(ole1(b"Package", package("referral.docx", document)))
    texts = read_clean(rtf(rtf_object("Package", objdata)))
    inside = [t.text for t in texts if (t.member or "").startswith("referral.docx/")]
    assert NHS in "".join(inside)


def test_the_native_data_of_another_class_is_read() -> None:
    objdata = hex_lines(ole1(b"Word.Document.12", docx([[RECORD]])))
    texts = read_clean(rtf(rtf_object("Word.Document.12", objdata)))
    assert NHS in everything(texts)


def test_object_data_written_as_binary_is_read() -> None:
    raw = ole1(b"Package", package("notes.txt", RECORD.encode()))
    written = b"{\\object\\objemb{\\*\\objdata \\bin%d %b}{\\result x}}" % (len(raw), raw)
    texts = read_clean(rtf("X").replace(b"X}", written + b"}"))
    assert NHS in everything(texts)


def test_a_linked_object_names_its_file() -> None:
    linked = (
        struct.pack("<II", 0x0501, 1)
        + ansi(b"Word.Document.12")
        + ansi(f"C:\\Shared\\{NAME}.docx".encode())
        + ansi(b"")
        + ansi(b"")
        + b"\0" * 8
    )
    texts = read_clean(rtf(rtf_object("Word.Document.12", hex_lines(linked))))
    assert NAME in everything(texts)


def test_a_link_written_as_its_header_alone_is_no_problem() -> None:
    header = struct.pack("<II", 0x0501, 1) + ansi(b"Word.Document.8")
    texts = read_clean(rtf("Linked." + rtf_object("Word.Document.8", header.hex(), "{x}")))
    assert texts[0].text == "Linked.x"


MALFORMED = [
    pytest.param("0105000002000000080000005061636b616765000", id="odd-hex"),
    pytest.param("01050000020000000800zz005061636b61676500", id="not-hex"),
    pytest.param(hex_lines(ole1(b"Package", package("a.txt", b"hello"))[:-9]), id="cut-short"),
    pytest.param(hex_lines(ole1(b"Package", b"hello", format_id=7)), id="unknown-format"),
    pytest.param(hex_lines(ole1(b"Package", b"\x02\x00no terminators")), id="bad-package"),
    pytest.param(
        hex_lines(struct.pack("<II", 0x0501, 2) + struct.pack("<I", 4000)),
        id="class-name-past-the-end",
    ),
]


@pytest.mark.parametrize("objdata", MALFORMED)
def test_object_data_that_does_not_parse_is_a_problem(objdata: str) -> None:
    texts, problems = extract(rtf(f"Body text.\\par {rtf_object('Package', objdata, 'x')}"))
    assert "malformed_document" in codes(problems)
    assert texts[0].text.startswith("Body text.")  # the rest is still read


def test_object_data_over_the_size_limit_is_a_problem() -> None:
    objdata = hex_lines(ole1(b"Package", package("big.txt", b"x" * 5000)))
    _, problems = extract(
        rtf(rtf_object("Package", objdata)), ContentLimits(max_archive_total=2000)
    )
    assert "too_large" in codes(problems)


def test_objects_nest_only_so_deep() -> None:
    inner = rtf(rtf_object("Package", hex_lines(ole1(b"Package", package("a.txt", b"hi")))))
    for level in range(8):
        inner = rtf(
            rtf_object("Package", hex_lines(ole1(b"Package", package(f"{level}.rtf", inner))))
        )
    _, problems = extract(inner)
    assert "too_deep" in codes(problems)


# -- noise: an ordinary Word file ---------------------------------------------------------

THEME = "504b030414000600080000002100e9de0fbfff0000001c020000130000005b436f6e74656e745f54797065735d2e786d6c"
WORD_FILE = (
    "{\\rtf1\\adeflang1025\\ansi\\ansicpg1252\\uc1\\adeff31507\\deff0\\stshfdbch31505"
    "\\stshfloch31506\\stshfhich31506\\stshfbi31507\\deflang2057\\deflangfe2057\\themelang2057\n"
    "{\\fonttbl{\\f0\\fbidi \\froman\\fcharset0\\fprq2{\\*\\panose 02020603050405020304}Times New Roman;}"
    "{\\f37\\fbidi \\fswiss\\fcharset0\\fprq2{\\*\\panose 020f0502020204030204}Calibri;}"
    "{\\flomajor\\f31500\\fbidi \\froman\\fcharset0\\fprq2{\\*\\panose 02020603050405020304}"
    "Times New Roman{\\*\\falt Times};}}\n"
    "{\\colortbl;\\red0\\green0\\blue0;\\red0\\green0\\blue255;\\ctextone\\ctint255\\cshade255"
    "\\red0\\green0\\blue0;}\n"
    "{\\*\\defchp \\f31506\\fs22\\lang2057\\langfe1033 }{\\*\\defpap \\ql \\li0\\ri0\\sa160 }\n"
    "\\noqfpromote {\\stylesheet{\\ql \\li0\\ri0\\sa160\\sl259\\slmult1 \\snext0 \\sqformat "
    "\\spriority0 Normal;}{\\*\\cs10 \\additive \\ssemihidden \\sunhideused \\spriority1 "
    "Default Paragraph Font;}{\\*\\ts11\\tsrowd\\trftsWidthB3 \\snext11 \\ssemihidden Normal Table;}}\n"
    "{\\*\\listtable{\\list\\listtemplateid-1{\\listlevel\\levelnfc23{\\leveltext\\leveltemplateid1"
    "\\'01\\u-3913 ?;}{\\levelnumbers;}}{\\listname ;}\\listid1}}\n"
    "{\\*\\listoverridetable{\\listoverride\\listid1\\listoverridecount0\\ls1}}\n"
    "{\\*\\pgdsctbl{\\pgdsc0\\pgdscuse195\\pgwsxn11906{\\*\\pgdscnxt0 Default;}}}\n"
    "{\\*\\rsidtbl \\rsid1465912\\rsid9516263\\rsid12872018}\n"
    "{\\mmathPr\\mmathFont34\\mbrkBin0\\mbrkBinSub0\\msmallFrac0\\mdispDef1\\mlMargin0}\n"
    "{\\info{\\title Team rota}{\\author Alex Carter}{\\operator Alex Carter}"
    "{\\creatim\\yr2024\\mo3\\dy14\\hr9\\min30}{\\revtim\\yr2024\\mo3\\dy14\\hr9\\min31}"
    "{\\version2}{\\edmins1}{\\nofpages1}{\\nofwords5}{\\*\\company Example Council}"
    "{\\nofcharsws34}{\\vern57}}\n"
    "{\\*\\xmlnstbl {\\xmlns1 http://schemas.microsoft.com/office/word/2003/wordml}}\n"
    "{\\*\\generator Microsoft Word 16.0;}\n"
    "\\paperw11906\\paperh16838\\margl1440\\margr1440\\margt1440\\margb1440\\gutter0\\ltrsect\n"
    "\\widowctrl\\ftnbj\\aenddoc\\trackmoves0\\trackformatting1\\donotembedsysfont1\\relyonvml0\n"
    "{\\*\\wgrffmtfilter 2450}\\nofeaturethrottle1\\ilfomacatclnup0\\ltrpar \\sectd \\ltrsect"
    "\\linex0\\headery708\\footery708\\colsx708\\endnhere\\sectlinegrid360\\sectdefaultcl\\sftnbj "
    "{\\*\\pnseclvl1\\pnucrm\\pnstart1\\pnindent720\\pnhang {\\pntxta .}}\n"
    "\\pard\\plain \\ltrpar\\ql \\li0\\ri0\\sa160\\sl259\\slmult1\\widctlpar\\wrapdefault "
    "\\rtlch\\fcs1 \\af31507\\afs22\\alang1025 \\ltrch\\fcs0 \\f31506\\fs22\\lang2057 "
    "{\\*\\bkmkstart _GoBack}{\\*\\bkmkend _GoBack}"
    "{\\rtlch\\fcs1 \\af31507 \\ltrch\\fcs0 \\insrsid9516263 Rota for next month: Sam on Monday, "
    "Alex on Tuesday.}{\\rtlch\\fcs1 \\af31507 \\ltrch\\fcs0 \\insrsid1465912 \\par }"
    "{\\*\\shppict{\\pict{\\*\\picprop\\shplid1025{\\sp{\\sn shapeType}{\\sv 75}}"
    "{\\sp{\\sn fLine}{\\sv 0}}}\\picscalex100\\picscaley100\\pngblip"
    "\\bliptag255{\\*\\blipuid 9a3c7f5e1b2d4a6c8e0f1a2b3c4d5e6f}89504e470d0a1a0a0000000d4948445200}}"
    "{\\nonshppict{\\pict\\picscalex100\\wmetafile8 010009000003ab00000000}}\n"
    "{\\*\\themedata " + (THEME + "\n") * 40 + "}\n"
    "{\\*\\colorschememapping 3c3f786d6c2076657273696f6e3d22312e302220656e636f64696e673d225554462d38"
    "22207374616e64616c6f6e653d22796573223f3e0d0a3c613a636c724d}\n"
    "{\\*\\latentstyles\\lsdstimax376\\lsdlockeddef0{\\lsdlockedexcept \\lsdqformat1 \\lsdpriority0 "
    "\\lsdlocked0 Normal;\\lsdqformat1 \\lsdpriority9 \\lsdlocked0 heading 1;}}\n"
    "{\\*\\datastore 01050000\n02000000180000004d73786d6c322e534158584d4c5265616465722e362e3000000000"
    "000000000000060000\nd0cf11e0a1b11ae1000000000000000000000000000000003e000300feff0900060000000000"
    "}}"
)


def test_an_ordinary_word_file_yields_only_its_text() -> None:
    texts = read_clean(WORD_FILE.encode("latin-1"))
    assert texts[0].text.strip() == "Rota for next month: Sam on Monday, Alex on Tuesday."
    # Its properties are read apart, once each; the tables and data are not text.
    assert [t.text.split("\n") for t in texts[1:]] == [
        ["Team rota", "Alex Carter", "Example Council"]
    ]
    text = everything(texts)
    assert not _HEX_RUN.search(text)
    for noise in ("Calibri", "Normal", "heading", "Microsoft Word", "wordml", "_GoBack", "Times"):
        assert noise not in text


# -- cost -------------------------------------------------------------------------------
# Linear, or the suite's per-test timeout (pyproject.toml) stops them: these
# inputs took minutes when a destination, or a near-geometry value, was
# scanned again from each place it could start.  No timing is asserted.


def test_deeply_nested_destinations_are_read_in_linear_time() -> None:
    words = ("lorem ipsum dolor sit amet " * 40_000).encode()
    data = rtf("x").replace(b"x}", b"{\\*\\a " * 900 + words + b"}" * 900 + b"}")
    texts, problems = extract(data)
    assert problems == []
    assert "lorem ipsum" in everything(texts)


def test_many_small_destinations_are_read_quickly() -> None:
    groups = b"".join(
        b"{\\*\\atnid A%d}{\\*\\annotation c%d}{\\sv %d}" % (i, i, i) for i in range(60_000)
    )
    texts, _ = extract(rtf("x").replace(b"x}", groups + b"}"))
    assert "c59999" in everything(texts)


def test_a_long_shape_value_that_nearly_is_geometry_is_read_quickly() -> None:
    value = "1;" * 500_000 + "x"
    texts = read_clean(rtf(f"{{\\shp{{\\*\\shpinst{{\\sp{{\\sn x}}{{\\sv {value}}}}}}}}}"))
    assert everything(texts).endswith(";x")


# -- the whole pipeline ------------------------------------------------------------------

RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)


def decide(tmp_path: Path, document: bytes) -> tuple[Action, list[InformationType]]:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    settings = Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": "enforce"}})
    raw = mail(
        "Please see the attached.",
        subject="Notes",
        attachments=[("notes.rtf", document, "application/rtf")],
    )
    decision = Pipeline(settings).run(
        Envelope("worker@council.example", ("team@recipient.example",)), raw
    )
    assert decision.verdict.action == Action.DELIVER or decision.verdict.reasons
    return decision.verdict.action, list(decision.verdict.information_types)


PATIENT = f"Patient: {NAME}, NHS number {NHS}"
PIPELINE = [
    pytest.param(rtf(f"Please see the box.\\par {shape(PATIENT, 'Summary')}"), id="text-box"),
    pytest.param(
        rtf(f"Reviewed{{\\*\\atnid AC}}\\chatn{{\\*\\annotation {PATIENT}}}.\\par"), id="comment"
    ),
    pytest.param(
        rtf(
            "Attached.\\par "
            + rtf_object(
                "Package", hex_lines(ole1(b"Package", package("notes.txt", PATIENT.encode())))
            )
        ),
        id="embedded-package",
    ),
]


@pytest.mark.parametrize("document", PIPELINE)
def test_an_rtf_with_personal_data_beside_its_body_is_not_delivered(
    tmp_path: Path, document: bytes
) -> None:
    action, types = decide(tmp_path, document)
    assert action != Action.DELIVER
    assert InformationType.UK_NHS_NUMBER in types


def test_a_clean_word_file_is_delivered(tmp_path: Path) -> None:
    action, types = decide(tmp_path, WORD_FILE.encode("latin-1"))
    assert action == Action.DELIVER
    assert types == []
