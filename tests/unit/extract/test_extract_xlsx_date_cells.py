"""An XLSX date cell is read as the date Excel shows, not as its serial number.

Excel stores every date typed into a cell as a number (days since 1900, or
since 1904 when the workbook says `date1904`) with a date number format in
the cell's style (xl/styles.xml cellXfs: a built-in date format, or a custom
code of days, months and years).  Read as digits, a column of dates of birth
is no date at all: alone it went out in clear, and beside a name the record
left "date of birth" out.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date
from xml.sax.saxutils import quoteattr

import pytest
from faker import Faker
from fixtures_content import mail

from gateway.detect import build_engine
from gateway.extract import ExtractContext, build_registry
from gateway.inspect import inspect_message
from gateway.model import InformationType
from gateway.parse import ContentLimits

REGISTRY = build_registry()
_FAKE = Faker("en_GB")
_FAKE.seed_instance(9021)
BIRTHS = [_FAKE.date_of_birth(minimum_age=5, maximum_age=15) for _ in range(4)]
NAMES = [_FAKE.name() for _ in BIRTHS]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

S = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
CT = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
    "</Types>"
)


def serial(day: date, *, date1904: bool = False) -> int:
    return (day - (date(1904, 1, 1) if date1904 else date(1899, 12, 30))).days


def shown(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def workbook(
    rows: list[str], *, formats: dict[int, str] | None = None, cell_formats: list[int],
    date1904: bool = False,
) -> bytes:
    """One sheet of `rows`; style i of the cells is `cell_formats[i]` (a numFmtId)."""
    custom = "".join(
        f'<numFmt numFmtId="{i}" formatCode={quoteattr(code)}/>' for i, code in (formats or {}).items()
    )
    xfs = "".join(f'<xf numFmtId="{i}" fontId="0"/>' for i in cell_formats)
    styles = (
        f'<styleSheet {S}><numFmts count="{len(formats or {})}">{custom}</numFmts>'
        # cellStyleXfs are the named styles' formats, not a cell's: ignored.
        '<cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs>'
        f'<cellXfs count="{len(cell_formats)}">{xfs}</cellXfs></styleSheet>'
    )
    properties = '<workbookPr date1904="1"/>' if date1904 else "<workbookPr/>"
    sheet = "".join(f'<row r="{r}">{cells}</row>' for r, cells in enumerate(rows, start=1))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CT)
        zf.writestr(
            "xl/workbook.xml",
            f'<workbook {S}>{properties}<sheets><sheet name="Pupils" sheetId="1"/></sheets>'
            "</workbook>",
        )
        zf.writestr("xl/styles.xml", styles)
        zf.writestr(
            "xl/worksheets/sheet1.xml", f"<worksheet {S}><sheetData>{sheet}</sheetData></worksheet>"
        )
    return out.getvalue()


def text_cell(text: str) -> str:
    return f'<c t="inlineStr"><is><t>{text}</t></is></c>'


def number_cell(value: float | str, style: int) -> str:
    return f'<c s="{style}"><v>{value}</v></c>'


def extract(data: bytes) -> str:
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    assert ctx.problems == []
    return "\n".join(t.text for t in texts)


def dob_column(style: int) -> list[str]:
    return [text_cell("Date of birth")] + [number_cell(serial(d), style) for d in BIRTHS]


def test_a_date_of_birth_column_alone_is_found_as_dates_of_birth() -> None:
    data = workbook(dob_column(1), cell_formats=[0, 14])
    inspection = inspect_message(
        mail("Please see the attached list.\n", attachments=[("pupils.xlsx", data, XLSX)])
    )
    findings = build_engine().detect(inspection.segments)
    assert InformationType.DATE_OF_BIRTH in {f.info_type for f in findings}


def test_beside_names_the_record_says_date_of_birth_too() -> None:
    rows = [text_cell("Name") + text_cell("Date of birth")] + [
        text_cell(name) + number_cell(serial(day), 1)
        for name, day in zip(NAMES, BIRTHS, strict=True)
    ]
    data = workbook(rows, cell_formats=[0, 14])
    inspection = inspect_message(
        mail("Please see the attached list.\n", attachments=[("pupils.xlsx", data, XLSX)])
    )
    types = {f.info_type for f in build_engine().detect(inspection.segments)}
    assert {InformationType.PERSON_NAME, InformationType.DATE_OF_BIRTH} <= types


@pytest.mark.parametrize("format_id", [14, 15, 17, 22, 30, 57])
def test_built_in_date_formats_show_the_date(format_id: int) -> None:
    text = extract(workbook(dob_column(1), cell_formats=[0, format_id]))
    for day in BIRTHS:
        assert shown(day) in text
        assert str(serial(day)) not in text


@pytest.mark.parametrize(
    "code",
    [
        "dd/mm/yyyy",
        "d-mmm-yy",
        "[$-809]dd mmmm yyyy;@",
        'dddd", "d mmmm yyyy',
        "yyyy\\-mm\\-dd",
        "[Red]dd/mm/yy",
        "dd/mm/yyyy hh:mm:ss.000",
    ],
)
def test_custom_date_formats_show_the_date(code: str) -> None:
    text = extract(workbook(dob_column(1), formats={164: code}, cell_formats=[0, 164]))
    for day in BIRTHS:
        assert shown(day) in text


@pytest.mark.parametrize("code", ["0.00", "#,##0", "hh:mm", "mm:ss", "[h]:mm", '0" days"', "@"])
def test_numbers_in_other_formats_stay_numbers(code: str) -> None:
    text = extract(workbook(dob_column(1), formats={164: code}, cell_formats=[0, 164]))
    for day in BIRTHS:
        assert str(serial(day)) in text
        assert shown(day) not in text


def test_a_number_in_the_general_style_beside_a_date_stays_a_number() -> None:
    pupil_id, day = 40974, BIRTHS[0]
    rows = [number_cell(pupil_id, 0) + number_cell(serial(day), 1)]
    text = extract(workbook(rows, cell_formats=[0, 14]))
    assert f"{pupil_id}\t{shown(day)}" in text


def test_a_workbook_in_the_1904_date_system_shows_its_dates() -> None:
    rows = [number_cell(serial(day, date1904=True), 1) for day in BIRTHS]
    text = extract(workbook(rows, cell_formats=[0, 14], date1904=True))
    for day in BIRTHS:
        assert shown(day) in text


def test_a_date_time_shows_its_day() -> None:
    day = BIRTHS[0]
    text = extract(workbook([number_cell(f"{serial(day)}.75", 1)], cell_formats=[0, 22]))
    assert shown(day) in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", "01/01/1900"),
        ("59", "28/02/1900"),
        ("60", "29/02/1900"),  # the leap day Excel shows, kept from Lotus 1-2-3
        ("61", "01/03/1900"),
        ("2958465", "31/12/9999"),
        ("0.5", "0.5"),  # a time of day alone: no date
        ("2958466", "2958466"),  # past Excel's last date
        ("-3", "-3"),
        ("NaN", "NaN"),
        ("x", "x"),
    ],
)
def test_serials_at_the_edges(value: str, expected: str) -> None:
    text = extract(workbook([number_cell(value, 1)], cell_formats=[0, 14]))
    assert f"{expected}\t" in text


def test_a_cell_whose_style_is_not_in_the_table_stays_as_it_is() -> None:
    value = serial(BIRTHS[0])
    rows = [number_cell(value, 7) + f'<c s="x"><v>{value}</v></c>']
    text = extract(workbook(rows, cell_formats=[0, 14]))
    assert text.count(str(value)) == 2
