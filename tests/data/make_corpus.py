"""Write the labelled detection corpus: tests/data/corpus/*.eml and labels.json.

    .venv/bin/python tests/data/make_corpus.py [--seed N --out DIR]

(Another seed writes a fresh corpus elsewhere: a check that the detector was
not tuned to this one's particular values.)

Every message is made up (Faker en_GB, seeded) and every identifier is
computed with a valid check digit from a seeded generator, never copied from
a real person.  The output is byte-for-byte reproducible: Faker and `random`
are seeded, dates are fixed, and the randomness that encryption needs (zip
salts, PDF keys) comes from a seeded stand-in while this script runs - which
is fine for test data and never for real encryption.

labels.json maps each file to what was deliberately put into it:

    personal_data      true when personal data is in clear, or when any
                       attachment is encrypted (its content cannot be ruled out)
    information_types  the types written in clear (body, subject, attachments
                       that open without a password)

The kinds of message (see `build()`): clean business mail with and without
signatures and quoted replies, hard negatives (order numbers, invoice
references, meeting dates, office addresses, switchboards, "safeguarding
training"), body leaks (plain, HTML-only, split by inline tags, quoted
replies), leaks in attachments (CSV, DOCX, XLSX, PPTX, ODT, PDF, RTF, ZIP,
attached .eml), encrypted attachments (AES-128/256 and ZipCrypto zips,
AES-128/256 and RC4 PDFs) and tricky encodings (base64, quoted-printable,
cp1252, RFC 2047 subjects).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import random
import re
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from unittest import mock
from xml.sax.saxutils import escape

import pypdf
import pyzipper
from faker import Faker
from stdnum import luhn
from stdnum.gb import upn as stdnum_upn

HERE = Path(__file__).resolve().parent
OUT = HERE / "corpus"
SEED = 20250304
ORG_DOMAINS = ("leeds.gov.uk", "northfield.sch.uk", "example-trust.nhs.uk", "kirkby.gov.uk")
FIXED_ZIP_TIME = (2025, 3, 4, 9, 30, 0)

# ---------------------------------------------------------------------------
# identifiers with valid check digits


def nhs_number(rng: random.Random) -> str:
    while True:
        body = str(rng.randint(400_000_000, 799_999_999))
        check = 11 - sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True)) % 11
        if check != 10:
            digits = body + ("0" if check == 11 else str(check))
            return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def upn(rng: random.Random) -> str:
    la = rng.choice((201, 202, 301, 330, 340, 380, 800, 850, 886, 919, 936))
    body = f"{la}{rng.randint(1000, 9999)}{rng.randint(10, 24)}{rng.randint(0, 999):03d}"
    return stdnum_upn.calc_check_digit(body) + body


def nino(rng: random.Random) -> str:
    first = rng.choice("ABCEGHJKLMNOPRSTWXYZ")
    second = rng.choice("ABCEHJLMPRSWXY")  # with any first letter, never a barred prefix
    digits = f"{rng.randint(0, 999999):06d}"
    return f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {rng.choice('ABCD')}"


def card_number(rng: random.Random) -> str:
    prefix = rng.choice(("4", "51", "53", "55"))
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(15 - len(prefix)))
    digits = body + luhn.calc_check_digit(body)
    return " ".join(digits[i : i + 4] for i in range(0, 16, 4))


def driving_licence(rng: random.Random, surname: str, born: dt.date, initials: str) -> str:
    letters = "".join(ch for ch in surname.upper() if "A" <= ch <= "Z")[:5].ljust(5, "9")
    month = born.month + rng.choice((0, 50))
    year = f"{born.year % 100:02d}"
    tail = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
    return f"{letters}{year[0]}{month:02d}{born.day:02d}{year[1]}{(initials + '9')[:2]}9{tail}"


def mobile(rng: random.Random) -> str:
    return f"07700 900{rng.randint(0, 999):03d}"  # Ofcom drama range


def landline(rng: random.Random) -> str:
    area, prefix = rng.choice((("020", "7946 0"), ("0113", "496 0"), ("0161", "496 0")))
    return f"{area} {prefix}{rng.randint(0, 999):03d}"  # Ofcom drama ranges


_POSTCODE = re.compile(
    r"(?:[A-PR-UWYZ][0-9]{1,2}|[A-PR-UWYZ][A-HK-Y][0-9]{1,2}|[A-PR-UWYZ][0-9][A-HJKPSTUW]"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY]) [0-9][ABD-HJLNP-UW-Z]{2}"
)


# ---------------------------------------------------------------------------
# content


class Writer:
    """Sentences for clean mail and for each information type (with labels)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("en_GB")
        self.fake.seed_instance(seed)

    # people and places -----------------------------------------------------

    def person(self) -> tuple[str, str]:
        return self.fake.first_name(), self.fake.last_name()

    def postcode(self) -> str:
        while True:
            candidate = self.fake.postcode()
            if _POSTCODE.fullmatch(candidate):
                return candidate

    def street(self) -> str:
        # Faker writes "Flat 3\nRose Court": one line, as a sentence would have it.
        return self.fake.street_address().replace("\n", ", ")

    def child_dob(self) -> dt.date:
        return dt.date(2008, 1, 1) + dt.timedelta(days=self.rng.randint(0, 5000))

    def staff(self) -> dict[str, str]:
        first, last = self.person()
        domain = self.rng.choice(ORG_DOMAINS)
        return {
            "name": f"{first} {last}",
            "first": first,
            "title": self.rng.choice(
                (
                    "Family Support Worker",
                    "Head of Year 9",
                    "SENCo",
                    "Designated Safeguarding Lead",
                    "Finance Officer",
                    "Social Worker",
                    "Practice Manager",
                    "Business Manager",
                )
            ),
            "org": self.rng.choice(
                (
                    "Leeds City Council",
                    "Northfield Primary School",
                    "Kirkby Children's Services",
                    "Example Community NHS Trust",
                )
            ),
            "email": f"{first.lower()}.{last.lower()}@{domain}".replace("'", ""),
            "phone": landline(self.rng),
            "mobile": mobile(self.rng),
            "postcode": self.postcode(),
            "street": self.street(),
            "city": self.fake.city(),
        }

    def signature(self, who: dict[str, str]) -> str:
        sign_off = self.rng.choice(
            ("Kind regards,", "Best wishes,", "Regards,", "Many thanks,", "Thanks,", "-- ")
        )
        lines = [sign_off, who["name"], who["title"], who["org"]]
        extras = [
            f"Tel: {who['phone']}",
            f"Mobile: {who['mobile']}",
            f"Email: {who['email']}",
            f"{who['street']}, {who['city']} {who['postcode']}",
            f"Switchboard: {landline(self.rng)}",
        ]
        self.rng.shuffle(extras)
        lines += extras[: self.rng.randint(2, 5)]
        if self.rng.random() < 0.3:
            lines.append(
                "This email and any attachments are confidential and intended solely for the "
                "addressee. If you have received it in error please notify the sender."
            )
        return "\n".join(lines)

    def business_paragraph(self) -> str:
        fake, rng = self.fake, self.rng
        colleague = " ".join(self.person())
        meeting = dt.date(2025, 1, 6) + dt.timedelta(days=rng.randint(0, 300))
        templates = [
            f"The budget meeting has moved to {meeting:%d/%m/%Y} at 10am in the main hall.",
            f"{colleague} will chair the finance committee this term.",
            f"Please review the attached minutes before {meeting:%A %d %B}.",
            f"Invoice INV-{rng.randint(10000, 99999)} for {fake.company()} is now approved.",
            f"Order number {rng.randint(1_000_000_000, 9_999_999_999)} was dispatched on {meeting:%d/%m/%Y}.",
            f"Our purchase order PO{rng.randint(100000, 999999)} covers the new laptops.",
            "Could you send the updated rota for the spring term?",
            "The IT team will patch the servers this weekend; expect a short outage.",
            f"The training room is booked for {meeting:%d %B %Y}.",
            f"Tracking reference {rng.randint(10**15, 10**16 - 1)} shows the parcel in the depot.",
            f"Our office is at {self.street()}, {fake.city()} {self.postcode()}.",
            f"For general enquiries please call our switchboard on {landline(rng)}.",
            "Please complete the safeguarding training module by the end of the month.",
            "Mental health awareness week starts on Monday; posters are in the staff room.",
            "The SEND policy review is on the agenda for the governors' meeting.",
            f"{colleague} from {fake.company()} has confirmed the quote of £{rng.randint(100, 9000)}.",
            f"I have copied in {colleague} who manages the contract.",
            "The Pupil Premium Grant allocations for next year are attached.",
            f"Please send the signed contract to accounts@{fake.domain_name()} by Friday.",
            f"The account reference for the supplier is {rng.randint(10_000_000, 99_999_999)} (invoice customer account).",
            f"Reception is open from 8am; the delivery bay is at {self.street()}, {self.postcode()} (deliveries only).",
        ]
        return " ".join(rng.sample(templates, rng.randint(2, 4)))

    # personal data ----------------------------------------------------------

    def leak(self, wanted: list[str]) -> tuple[list[str], set[str]]:
        """Lines carrying each wanted type, each with the context a human writes."""
        rng, fake = self.rng, self.fake
        first, last = self.person()
        name = f"{first} {last}"
        pronoun = rng.choice(("He", "She"))
        born = self.child_dob()
        lines: list[str] = []
        for kind in wanted:
            if kind == "person_name":
                lines.append(
                    rng.choice(
                        (
                            f"Child: {name}",
                            f"Name: {name}",
                            f"I am writing about the pupil {name} in Year {rng.randint(1, 11)}.",
                            f"Mum is the mother of {name} and has asked for an update.",
                            f"{name} (Year {rng.randint(1, 11)}) has been absent since Monday.",
                            f"Patient name: {name}",
                        )
                    )
                )
            elif kind == "date_of_birth":
                lines.append(
                    rng.choice(
                        (
                            f"DOB: {born:%d/%m/%Y}",
                            f"Date of birth: {born:%d %B %Y}",
                            f"{pronoun} was born on {born:%d/%m/%y}.",
                            f"D.O.B. {born.isoformat()}",
                        )
                    )
                )
            elif kind == "uk_nhs_number":
                lines.append(
                    rng.choice(
                        (
                            f"NHS number: {nhs_number(rng)}",
                            f"NHS No {nhs_number(rng).replace(' ', '')}",
                            f"The NHS number on the letter is {nhs_number(rng)}.",
                        )
                    )
                )
            elif kind == "uk_national_insurance_number":
                lines.append(
                    rng.choice(
                        (
                            f"NI number: {nino(rng)}",
                            f"National Insurance {nino(rng).replace(' ', '')}",
                        )
                    )
                )
            elif kind == "uk_unique_pupil_number":
                lines.append(rng.choice((f"UPN: {upn(rng)}", f"Unique pupil number {upn(rng)}")))
            elif kind == "uk_postcode":
                lines.append(
                    rng.choice(
                        (
                            f"The family lives at {self.street()}, {fake.city()} {self.postcode()}.",
                            f"Home address: {self.street()}, {self.postcode()}",
                            f"{pronoun} has moved to {self.street()}, {fake.city()}, {self.postcode()}.",
                        )
                    )
                )
            elif kind == "uk_phone_number":
                lines.append(
                    rng.choice(
                        (
                            f"Mum's mobile: {mobile(rng)}",
                            f"Please ring dad at home on {landline(rng)}.",
                            f"Contact number for the carer: {mobile(rng)}",
                        )
                    )
                )
            elif kind == "email_address":
                local = f"{first.lower()}{rng.randint(1, 99)}".replace("'", "")
                domain = rng.choice(
                    ("gmail.com", "hotmail.co.uk", "yahoo.co.uk", "btinternet.com", "outlook.com")
                )
                lines.append(
                    rng.choice(
                        (
                            f"Parent email: {local}@{domain}",
                            f"You can reach mum on {local}@{domain}",
                        )
                    )
                )
            elif kind == "uk_bank_account":
                sort = f"{rng.randint(10, 99)}-{rng.randint(0, 99):02d}-{rng.randint(0, 99):02d}"
                lines.append(
                    f"Please pay the grant to sort code {sort}, account {rng.randint(10_000_000, 99_999_999)}."
                )
            elif kind == "payment_card_number":
                lines.append(f"{pronoun} paid by card {card_number(rng)}, expiry 09/27.")
            elif kind == "uk_passport_number":
                lines.append(f"Passport number: {rng.randint(100_000_000, 999_999_999)}")
            elif kind == "uk_driving_licence_number":
                adult = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randint(0, 14000))
                lines.append(f"Driving licence: {driving_licence(rng, last, adult, first[0])}")
            elif kind == "special_category":
                lines.append(
                    rng.choice(
                        (
                            f"{pronoun} was diagnosed with {rng.choice(('epilepsy', 'autism', 'diabetes', 'asthma'))} last year.",
                            f"There are child protection concerns and {pronoun.lower()} is now on a plan.",
                            f"{pronoun} has ADHD and an EHCP is in place.",
                            f"{pronoun} disclosed self-harm to {'his' if pronoun == 'He' else 'her'} tutor.",
                            f"Religion: {rng.choice(('Muslim', 'Sikh', 'Hindu', 'Jewish'))}; ethnicity: {rng.choice(('White British', 'Black British', 'Asian British'))}.",
                        )
                    )
                )
            else:  # pragma: no cover - a typo in this script
                raise ValueError(kind)
        return lines, set(wanted)


TYPES = (
    "person_name",
    "date_of_birth",
    "uk_nhs_number",
    "uk_national_insurance_number",
    "uk_unique_pupil_number",
    "uk_postcode",
    "uk_phone_number",
    "email_address",
    "uk_bank_account",
    "payment_card_number",
    "uk_passport_number",
    "uk_driving_licence_number",
    "special_category",
)


# ---------------------------------------------------------------------------
# attachment formats (hand-built, minimal, valid enough for any reader)


def _zip(files: dict[str, bytes], stored_first: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, FIXED_ZIP_TIME)
            info.compress_type = (
                zipfile.ZIP_STORED if name == stored_first else zipfile.ZIP_DEFLATED
            )
            archive.writestr(info, data)
    return buffer.getvalue()


def make_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    for row in rows:
        out.write(",".join(f'"{cell}"' if "," in cell else cell for cell in row) + "\r\n")
    return out.getvalue().encode("utf-8")


def make_docx(paragraphs: list[str]) -> bytes:
    body = "".join(
        f'<w:p><w:r><w:t xml:space="preserve">{escape(p)}</w:t></w:r></w:p>' for p in paragraphs
    )
    return _zip(
        {
            "[Content_Types].xml": b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
            "_rels/.rels": b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
            "word/document.xml": (
                '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
                + body
                + "</w:body></w:document>"
            ).encode("utf-8"),
        }
    )


def make_xlsx(rows: list[list[str]]) -> bytes:
    strings: list[str] = []
    index: dict[str, int] = {}
    sheet_rows = []
    for r, row in enumerate(rows, 1):
        cells = []
        for c, value in enumerate(row):
            if value not in index:
                index[value] = len(strings)
                strings.append(value)
            ref = f"{chr(65 + c)}{r}"
            cells.append(f'<c r="{ref}" t="s"><v>{index[value]}</v></c>')
        sheet_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    shared = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    return _zip(
        {
            "[Content_Types].xml": b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
            "_rels/.rels": b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
            "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}" xmlns:r="{rel}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'.encode(),
            "xl/_rels/workbook.xml.rels": b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
            "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{ns}"><sheetData>{"".join(sheet_rows)}</sheetData></worksheet>'.encode(),
            "xl/sharedStrings.xml": f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{ns}" count="{len(strings)}" uniqueCount="{len(strings)}">{shared}</sst>'.encode(),
        }
    )


def make_pptx(paragraphs: list[str]) -> bytes:
    a = "http://schemas.openxmlformats.org/drawingml/2006/main"
    p = "http://schemas.openxmlformats.org/presentationml/2006/main"
    texts = "".join(f"<a:p><a:r><a:t>{escape(t)}</a:t></a:r></a:p>" for t in paragraphs)
    return _zip(
        {
            "[Content_Types].xml": b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/ppt/presentation.xml" ContentType="application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"/><Override PartName="/ppt/slides/slide1.xml" ContentType="application/vnd.openxmlformats-officedocument.presentationml.slide+xml"/></Types>',
            "_rels/.rels": b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="ppt/presentation.xml"/></Relationships>',
            "ppt/presentation.xml": f'<?xml version="1.0" encoding="UTF-8"?><p:presentation xmlns:p="{p}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><p:sldIdLst><p:sldId id="256" r:id="rId2"/></p:sldIdLst></p:presentation>'.encode(),
            "ppt/_rels/presentation.xml.rels": b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide1.xml"/></Relationships>',
            "ppt/slides/slide1.xml": f'<?xml version="1.0" encoding="UTF-8"?><p:sld xmlns:p="{p}" xmlns:a="{a}"><p:cSld><p:spTree><p:sp><p:txBody><a:bodyPr/>{texts}</p:txBody></p:sp></p:spTree></p:cSld></p:sld>'.encode(),
        }
    )


def make_odt(paragraphs: list[str]) -> bytes:
    text = "".join(f"<text:p>{escape(t)}</text:p>" for t in paragraphs)
    return _zip(
        {
            "mimetype": b"application/vnd.oasis.opendocument.text",
            "META-INF/manifest.xml": b'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>',
            "content.xml": f'<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:text>{text}</office:text></office:body></office:document-content>'.encode(),
        },
        stored_first="mimetype",
    )


def make_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with a plain (uncompressed) text stream, xref and all."""

    def literal(text: str) -> str:
        safe = text.encode("latin-1", "replace").decode("latin-1")
        return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td"]
    for line in lines:
        ops.append(f"({literal(line)}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def make_rtf(paragraphs: list[str]) -> bytes:
    def rtf_escape(text: str) -> str:
        text = text.replace("\\", "\\\\").replace("{", "\\{").replace("}", "\\}")
        return "".join(ch if ord(ch) < 128 else f"\\u{ord(ch)}?" for ch in text)

    body = "".join(f"{rtf_escape(p)}\\par\n" for p in paragraphs)
    return ("{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Arial;}}\\f0\\fs22\n" + body + "}").encode("ascii")


def encrypted_pdf(lines: list[str], algorithm: str, password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf(lines))))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def aes_zip(files: dict[str, bytes], bits: int, password: str) -> bytes:
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", compression=pyzipper.ZIP_DEFLATED) as archive:
        archive.setpassword(password.encode())
        archive.setencryption(pyzipper.WZ_AES, nbits=bits)
        for name, data in files.items():
            info = pyzipper.zipfile_aes.AESZipInfo(name, FIXED_ZIP_TIME)
            archive.writestr(info, data, compress_type=pyzipper.ZIP_DEFLATED)
    return buffer.getvalue()


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC = _crc_table()


def zipcrypto_zip(files: dict[str, bytes], password: str, rng: random.Random) -> bytes:
    """A zip whose entries use the traditional PKWARE cipher (ZipCrypto).

    Written by hand: neither zipfile nor pyzipper writes this weak cipher,
    which is exactly why the gateway must recognise and refuse it.
    """

    def crc_byte(crc: int, byte: int) -> int:
        return _CRC[(crc ^ byte) & 0xFF] ^ (crc >> 8)

    out = bytearray()
    central = bytearray()
    dos_time = (FIXED_ZIP_TIME[3] << 11) | (FIXED_ZIP_TIME[4] << 5) | (FIXED_ZIP_TIME[5] // 2)
    dos_date = ((FIXED_ZIP_TIME[0] - 1980) << 9) | (FIXED_ZIP_TIME[1] << 5) | FIXED_ZIP_TIME[2]
    for name, data in files.items():
        keys = [0x12345678, 0x23456789, 0x34567890]

        def update(byte: int, keys: list[int] = keys) -> None:
            keys[0] = crc_byte(keys[0], byte)
            keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
            keys[2] = crc_byte(keys[2], keys[1] >> 24)

        def stream_byte(keys: list[int] = keys) -> int:
            temp = (keys[2] | 2) & 0xFFFF
            return ((temp * (temp ^ 1)) >> 8) & 0xFF

        for byte in password.encode():
            update(byte)
        crc = zlib.crc32(data)
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        compressed = compressor.compress(data) + compressor.flush()
        plain = bytes(rng.randint(0, 255) for _ in range(11)) + bytes([crc >> 24]) + compressed
        cipher = bytearray()
        for byte in plain:
            cipher.append(byte ^ stream_byte())
            update(byte)
        encoded = name.encode()
        header = struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 1, 8, dos_time, dos_date, crc, len(cipher),
            len(data), len(encoded), 0,
        )  # fmt: skip
        offset = len(out)
        out += header + encoded + cipher
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 1, 8, dos_time, dos_date, crc,
            len(cipher), len(data), len(encoded), 0, 0, 0, 0, 0o100444 << 16, offset,
        ) + encoded  # fmt: skip
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(files), len(files), len(central), len(out), 0
    )
    return bytes(out + central + end)


@contextmanager
def seeded_randomness(rng: random.Random) -> Iterator[None]:
    """Make zip salts and PDF keys come from `rng` (reproducible test data only)."""

    class _Reader:
        def read(self, size: int) -> bytes:
            return rng.randbytes(size)

    class _Random:
        @staticmethod
        def new() -> _Reader:
            return _Reader()

    with (
        mock.patch("secrets.token_bytes", lambda size=32: rng.randbytes(size)),
        mock.patch.object(pyzipper.zipfile_aes, "Random", _Random),
    ):
        yield


# ---------------------------------------------------------------------------
# messages


class Corpus:
    def __init__(self, seed: int = SEED) -> None:
        self.seed = seed
        self.writer = Writer(seed)
        self.rng = random.Random(seed + 1)
        self.items: list[tuple[str, bytes, dict[str, Any]]] = []
        self.when = dt.datetime(2025, 3, 4, 9, 0, tzinfo=dt.UTC)

    def message(
        self, subject: str, body: str, html: str | None = None, cte: str | None = None,
        charset: str = "utf-8",
    ) -> EmailMessage:  # fmt: skip
        rng = self.rng
        sender = self.writer.staff()
        self.when += dt.timedelta(minutes=rng.randint(1, 600))
        msg = EmailMessage(policy=SMTP)
        msg["From"] = f"{sender['name']} <{sender['email']}>"
        msg["To"] = f"{' '.join(self.writer.person())} <office@{rng.choice(ORG_DOMAINS)}>"
        msg["Subject"] = subject
        msg["Date"] = format_datetime(self.when)
        msg["Message-ID"] = f"<corpus-{len(self.items):04d}@example.org>"
        if html is not None and not body:
            msg.set_content(html, subtype="html", charset=charset, cte=cte)
        else:
            msg.set_content(body, charset=charset, cte=cte)
            if html is not None:
                msg.add_alternative(html, subtype="html")
        return msg

    def add(self, kind: str, msg: EmailMessage, types: set[str], encrypted: bool = False) -> None:
        name = f"{len(self.items):03d}-{kind}.eml"
        # email picks random MIME boundaries; fixed ones keep the corpus reproducible.
        for number, part in enumerate(msg.walk()):
            if part.is_multipart():
                part.set_boundary(f"==corpus-{len(self.items):03d}-{number}==")
            elif part.get_content_type() == "message/rfc822":
                for inner_number, inner in enumerate(part.get_payload(0).walk()):
                    if inner.is_multipart():
                        inner.set_boundary(
                            f"==corpus-{len(self.items):03d}-{number}-{inner_number}=="
                        )
        labels = {
            "personal_data": bool(types) or encrypted,
            "information_types": sorted(types),
            "kind": kind,
        }
        self.items.append((name, msg.as_bytes(), labels))

    def random_types(self, low: int = 1, high: int = 4) -> list[str]:
        return self.rng.sample(TYPES, self.rng.randint(low, high))

    def greeting(self) -> str:
        return f"{self.rng.choice(('Hi', 'Dear', 'Hello', 'Morning'))} {self.writer.fake.first_name()},"

    def body(self, lines: list[str], sender: dict[str, str] | None = None) -> str:
        sender = sender or self.writer.staff()
        parts = [self.greeting(), "", self.writer.business_paragraph(), ""]
        parts += lines
        parts += ["", self.writer.signature(sender)]
        return "\n".join(parts) + "\n"

    # kinds -------------------------------------------------------------------

    def clean(self, count: int) -> None:
        for i in range(count):
            text = self.body([self.writer.business_paragraph()])
            if i % 3 == 0:
                text += self.quoted(self.body([self.writer.business_paragraph()]))
            self.add("clean", self.message(self.subject_clean(), text), set())

    def subject_clean(self) -> str:
        return self.rng.choice(
            ("Budget update", "Minutes of Tuesday's meeting", "Rota for spring term", "Re: laptops",
             "Invoice query", "Training dates", "Fwd: newsletter", "Room booking", "Staff briefing")
        )  # fmt: skip

    def quoted(self, text: str) -> str:
        who = " ".join(self.writer.person())
        email = f"{who.split()[0].lower()}@{self.rng.choice(ORG_DOMAINS)}"
        header = self.rng.choice(
            (
                f"\nOn Mon, 3 Mar 2025 at 16:02, {who} <{email}> wrote:\n",
                f"\n-----Original Message-----\nFrom: {who} <{email}>\nSent: 03 March 2025 16:02\n"
                f"To: Office <office@{ORG_DOMAINS[0]}>\nSubject: RE: update\n\n",
            )
        )
        return header + "".join(f"> {line}\n" for line in text.splitlines())

    def plain_leaks(self, count: int) -> None:
        for _ in range(count):
            lines, types = self.writer.leak(self.random_types())
            self.add("leak-plain", self.message("Referral", self.body(lines)), types)

    def single_type_leaks(self) -> None:
        for kind in TYPES:
            for _ in range(3):
                lines, types = self.writer.leak([kind])
                self.add("leak-single", self.message("Quick question", self.body(lines)), types)

    def html_leaks(self, count: int) -> None:
        for i in range(count):
            lines, types = self.writer.leak(self.random_types())
            if i % 2 == 0:
                # Split identifiers with inline tags, as rich-text editors do.
                lines = [
                    re.sub(r"(\d{3}) (\d{3}) (\d{4})", r"<b>\1</b> <span>\2</span> \3", line)
                    for line in lines
                ]
                lines = [
                    re.sub(r"(\d{5}) (\d{6})", r"<span>\1</span>&nbsp;\2", line) for line in lines
                ]
            html = (
                "<html><body><p>" + self.greeting() + "</p><p>" + escape(self.writer.business_paragraph())
                + "</p>" + "".join(f"<p>{line}</p>" for line in lines)
                + "<p>Kind regards,<br>" + escape(" ".join(self.writer.person())) + "</p></body></html>"
            )  # fmt: skip
            self.add("leak-html", self.message("Update", "", html=html), types)

    def quoted_leaks(self, count: int) -> None:
        for _ in range(count):
            lines, types = self.writer.leak(self.random_types())
            text = self.body(["Thanks, I'll pass this on."]) + self.quoted(self.body(lines))
            self.add("leak-quoted", self.message("RE: Referral", text), types)

    def attachments(self, per_format: int) -> None:
        formats: dict[str, tuple[str, Callable[[list[str], list[list[str]]], bytes]]] = {
            "csv": ("text/csv", lambda lines, rows: make_csv(rows)),
            "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", lambda lines, rows: make_docx(lines)),
            "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", lambda lines, rows: make_xlsx(rows)),
            "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", lambda lines, rows: make_pptx(lines)),
            "odt": ("application/vnd.oasis.opendocument.text", lambda lines, rows: make_odt(lines)),
            "pdf": ("application/pdf", lambda lines, rows: make_pdf(lines)),
            "rtf": ("application/rtf", lambda lines, rows: make_rtf(lines)),
            "zip": ("application/zip", lambda lines, rows: _zip({"notes.txt": "\n".join(lines).encode(), "list.csv": make_csv(rows)})),
        }  # fmt: skip
        for extension, (content_type, build) in formats.items():
            for i in range(per_format + 1):
                clean = i == per_format
                if clean:
                    lines = [self.writer.business_paragraph() for _ in range(3)]
                    rows = self.budget_rows()
                    types: set[str] = set()
                else:
                    lines, types = self.writer.leak(self.random_types(2, 4))
                    rows, row_types = self.pupil_rows()
                    if extension in ("csv", "xlsx"):
                        types = row_types
                    elif extension == "zip":
                        types = types | row_types
                msg = self.message(
                    "Report attached", self.body(["Please find the report attached."])
                )
                maintype, subtype = content_type.split("/")
                msg.add_attachment(
                    build(lines, rows),
                    maintype=maintype,
                    subtype=subtype,
                    filename=f"report.{extension}",
                )
                self.add(f"attach-{extension}" + ("-clean" if clean else ""), msg, types)
        # attached messages: the leak is inside a forwarded .eml
        for i in range(per_format + 1):
            clean = i == per_format
            lines, types = ([], set()) if clean else self.writer.leak(self.random_types())
            inner = self.message("Referral", self.body(lines or [self.writer.business_paragraph()]))
            msg = self.message("Fwd: referral", self.body(["Forwarding the message below."]))
            msg.add_attachment(inner)
            self.add("attach-eml" + ("-clean" if clean else ""), msg, set() if clean else types)

    def budget_rows(self) -> list[list[str]]:
        rows = [["Cost centre", "Description", "Amount", "Order number"]]
        for _ in range(6):
            rows.append(
                [
                    f"CC{self.rng.randint(100, 999)}",
                    self.writer.fake.bs(),
                    f"{self.rng.randint(50, 9000)}.00",
                    str(self.rng.randint(10**9, 10**10 - 1)),
                ]
            )
        return rows

    def pupil_rows(self) -> tuple[list[list[str]], set[str]]:
        rows = [["Name", "DOB", "NHS Number", "UPN", "Postcode"]]
        for _ in range(self.rng.randint(3, 8)):
            first, last = self.writer.person()
            rows.append(
                [
                    f"{first} {last}",
                    f"{self.writer.child_dob():%d/%m/%Y}",
                    nhs_number(self.rng),
                    upn(self.rng),
                    self.writer.postcode(),
                ]
            )
        return rows, {
            "person_name",
            "date_of_birth",
            "uk_nhs_number",
            "uk_unique_pupil_number",
            "uk_postcode",
        }

    def encrypted(self, per_cipher: int) -> None:
        ciphers: list[tuple[str, str, Callable[[list[str], list[list[str]]], bytes]]] = [
            ("zip-aes128", "application/zip", lambda lines, rows: aes_zip({"report.csv": make_csv(rows)}, 128, "Tr0ub4dor&3")),
            ("zip-aes256", "application/zip", lambda lines, rows: aes_zip({"report.csv": make_csv(rows)}, 256, "Tr0ub4dor&3")),
            ("zip-zipcrypto", "application/zip", lambda lines, rows: zipcrypto_zip({"report.csv": make_csv(rows)}, "Tr0ub4dor&3", self.rng)),
            ("pdf-aes128", "application/pdf", lambda lines, rows: encrypted_pdf(lines, "AES-128", "Tr0ub4dor&3")),
            ("pdf-aes256", "application/pdf", lambda lines, rows: encrypted_pdf(lines, "AES-256", "Tr0ub4dor&3")),
            ("pdf-rc4", "application/pdf", lambda lines, rows: encrypted_pdf(lines, "RC4-128", "Tr0ub4dor&3")),
        ]  # fmt: skip
        with seeded_randomness(random.Random(self.seed + 2)):
            for kind, content_type, build in ciphers:
                for i in range(per_cipher):
                    lines, _ = self.writer.leak(self.random_types(2, 4))
                    rows, _ = self.pupil_rows()
                    # Some carriers also leak in clear: only those types are labelled.
                    clear_lines, clear_types = (
                        self.writer.leak(self.random_types(1, 2)) if i % 3 == 2 else ([], set())
                    )
                    text = self.body(
                        [
                            "The report is attached, encrypted; I will phone the password through.",
                            *clear_lines,
                        ]
                    )
                    msg = self.message("Private and Confidential: report", text)
                    maintype, subtype = content_type.split("/")
                    extension = "zip" if maintype == "application" and subtype == "zip" else "pdf"
                    msg.add_attachment(
                        build(lines, rows),
                        maintype=maintype,
                        subtype=subtype,
                        filename=f"report.{extension}",
                    )
                    self.add(f"encrypted-{kind}", msg, clear_types, encrypted=True)

    def encodings(self, per_kind: int) -> None:
        for i in range(per_kind * 2):
            clean = i % 2 == 1
            lines, types = ([], set()) if clean else self.writer.leak(self.random_types())
            text = self.body(lines or [self.writer.business_paragraph()])
            self.add(
                "enc-base64" + ("-clean" if clean else ""),
                self.message("Update", text, cte="base64"),
                types,
            )
            lines, types = ([], set()) if clean else self.writer.leak(self.random_types())
            text = (
                self.body(lines or [self.writer.business_paragraph()])
                + "Cost: £120 – agreed ‘in principle’.\n"
            )
            self.add(
                "enc-qp" + ("-clean" if clean else ""),
                self.message("Update", text, cte="quoted-printable"),
                types,
            )
            lines, types = ([], set()) if clean else self.writer.leak(self.random_types())
            text = (
                self.body(lines or [self.writer.business_paragraph()])
                + "Café budget: £45 – “approved”.\n"
            )
            self.add(
                "enc-cp1252" + ("-clean" if clean else ""),
                self.message(
                    "Café budget",
                    text,
                    charset="cp1252",
                    cte="8bit" if i % 4 else "quoted-printable",
                ),
                types,
            )
            # RFC 2047: the personal data is in the (encoded) subject only
            if clean:
                subject, types = "Réunion – budget 2025", set()
            else:
                first, last = self.writer.person()
                subject = f"Référral: {first} {last} DOB {self.writer.child_dob():%d/%m/%Y} – NHS {nhs_number(self.rng)}"
                types = {"date_of_birth", "uk_nhs_number", "person_name"}
            self.add(
                "enc-rfc2047" + ("-clean" if clean else ""),
                self.message(subject, self.body([self.writer.business_paragraph()])),
                types,
            )

    def build(self) -> None:
        self.clean(70)
        self.plain_leaks(50)
        self.single_type_leaks()
        self.html_leaks(20)
        self.quoted_leaks(15)
        self.attachments(3)
        self.encrypted(5)
        self.encodings(4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    out: Path = args.out
    corpus = Corpus(args.seed)
    corpus.build()
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.eml"):
        stale.unlink()
    labels = {}
    for name, data, label in corpus.items:
        (out / name).write_bytes(data)
        labels[name] = label
    (out / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True) + "\n")
    total = sum(len(data) for _, data, _ in corpus.items)
    print(f"wrote {len(corpus.items)} messages ({total / 1e6:.2f} MB) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
