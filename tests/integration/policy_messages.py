"""Synthetic messages for the policy tests: a compliant one, and variants that
each break one rule.  Every person is made up (Faker en_GB, seeded); every
identifier has valid check digits and is computed, never copied."""

from __future__ import annotations

import io
import json
import os
import random
import struct
import zlib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import aiosmtplib
import pyzipper
from faker import Faker
from sqlalchemy import select

from gateway.db import audit_records

SENDER = "caseworker@council.example"
ALLOWED = "duty@recipient.example"  # @recipient.example is on the test allow-list
STRANGER = "someone@stranger.example"
MARKING = "Private and Confidential"


def nhs_number(rng: random.Random) -> str:
    """Ten digits with a valid mod-11 check digit, grouped 3-3-4."""
    while True:
        body = str(rng.randint(400_000_000, 799_999_999))
        total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
        check = 11 - total % 11
        if check == 10:
            continue
        digits = body + ("0" if check == 11 else str(check))
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


@dataclass
class Person:
    name: str
    nhs: str
    dob: str

    @property
    def values(self) -> list[str]:
        """Strings that must never appear where personal data is forbidden."""
        return [self.name, self.nhs, self.nhs.replace(" ", ""), self.dob]


def person(seed: int) -> Person:
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    dob = fake.date_of_birth(minimum_age=3, maximum_age=15).strftime("%d/%m/%Y")
    return Person(name=fake.name(), nhs=nhs_number(rng), dob=dob)


def record_text(who: Person) -> str:
    return (
        f"Patient name: {who.name}\nNHS number: {who.nhs}\nDate of birth: {who.dob}\n"
        "Reason for referral: safeguarding concern raised by school nurse.\n"
    )


def _crc_update(crc: int, byte: int) -> int:
    return zlib.crc32(bytes([byte]), crc ^ 0xFFFFFFFF) ^ 0xFFFFFFFF


def zipcrypto_zip(password: str, entry: str, data: bytes, external_attr: int) -> bytes:
    """A one-entry zip with legacy PKWARE (ZipCrypto) encryption, which neither
    zipfile nor pyzipper writes: the weak cipher the policy must refuse."""
    keys = [0x12345678, 0x23456789, 0x34567890]

    def update(byte: int) -> None:
        keys[0] = _crc_update(keys[0], byte)
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = _crc_update(keys[2], keys[1] >> 24)

    def encrypt(plain: bytes) -> bytes:
        out = bytearray()
        for byte in plain:
            temp = (keys[2] | 2) & 0xFFFF
            out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
            update(byte)
        return bytes(out)

    for byte in password.encode():
        update(byte)
    crc = zlib.crc32(data)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressed = packer.compress(data) + packer.flush()
    header = bytes(random.getrandbits(8) for _ in range(11)) + bytes([crc >> 24])
    payload = encrypt(header + compressed)
    name = entry.encode()
    dos_time, dos_date = (12 << 11), ((2024 - 1980) << 9) | (5 << 5) | 1
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 1, 8, dos_time, dos_date, crc,
                        len(payload), len(data), len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | 20, 20, 1, 8,
                          dos_time, dos_date, crc, len(payload), len(data), len(name), 0, 0,
                          0, 0, external_attr, 0) + name
    offset = len(local) + len(payload)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), offset, 0)
    return local + payload + central + end


def protected_zip(
    password: str,
    text: str,
    *,
    aes: bool = True,
    bits: int = 256,
    read_only: bool = True,
    entry: str = "referral.txt",
) -> bytes:
    """A zip whose one entry is encrypted (AES-n or ZipCrypto), read-only or not."""
    mode = 0o100444 if read_only else 0o100644
    external_attr = (mode << 16) | (0x01 if read_only else 0x00)
    if not aes:
        return zipcrypto_zip(password, entry, text.encode(), external_attr)
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", compression=pyzipper.ZIP_DEFLATED,
                             encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(password.encode())
        zf.setencryption(pyzipper.WZ_AES, nbits=bits)
        info = zf.zipinfo_cls(entry, date_time=(2024, 5, 1, 12, 0, 0))
        info.create_system = 3  # Unix, so the mode bits count
        info.external_attr = external_attr
        info.compress_type = pyzipper.ZIP_DEFLATED
        zf.writestr(info, text.encode())
    return buffer.getvalue()


@dataclass
class Spec:
    """What to put into one test message; `build()` makes the bytes."""

    who: Person
    password: str = "Tangerine-Lamp-42"
    subject: str = f"{MARKING}: referral"
    to: list[str] = field(default_factory=lambda: [ALLOWED])
    body_extra: str = ""
    password_line: bool = True
    password_in_subject: bool = False
    zip_aes: bool = True
    zip_read_only: bool = True
    with_zip: bool = True
    plain_attachment: bool = False
    purpose: bool = True
    corrupt_attachment: bool = False
    headers: list[tuple[str, str]] = field(default_factory=list)
    # An HTML alternative of the text, as Outlook sends it; {password} is
    # replaced by the password.
    html: str = ""
    zip_name: str = "referral.zip"
    csv_name: str = "children.csv"

    def build(self) -> bytes:
        message = EmailMessage(policy=SMTP)
        message["From"] = f"Case Worker <{SENDER}>"
        message["To"] = ", ".join(self.to)
        subject = self.subject
        if self.password_in_subject:
            subject += f" password: {self.password}"
        message["Subject"] = subject
        message["Message-ID"] = f"<{random.getrandbits(64):x}@council.example>"
        for name, value in self.headers:
            message[name] = value
        lines = ["Hello,", "", "Please find the referral attached.", ""]
        if self.purpose:
            lines.append("Purpose: child protection referral")
        if self.password_line:
            lines.append(f"Password: {self.password}")
        if self.body_extra:
            lines += ["", self.body_extra]
        lines += ["", "Kind regards,", "Duty Desk"]
        message.set_content("\n".join(lines) + "\n")
        if self.html:
            message.add_alternative(self.html.replace("{password}", self.password),
                                    subtype="html")
        if self.with_zip:
            message.add_attachment(
                protected_zip(self.password, record_text(self.who), aes=self.zip_aes,
                              read_only=self.zip_read_only),
                maintype="application", subtype="zip", filename=self.zip_name,
            )
        if self.plain_attachment:
            message.add_attachment(
                ("name,nhs_number,dob\n" + f"{self.who.name},{self.who.nhs},{self.who.dob}\n")
                .encode(),
                maintype="text", subtype="csv", filename=self.csv_name,
            )
        if self.corrupt_attachment:
            data = protected_zip(self.password, "x" * 200)
            message.add_attachment(
                data[:40] + b"\x00" * 20 + data[60:-30], maintype="application",
                subtype="zip", filename="broken.zip",
            )
        return message.as_bytes(policy=SMTP)


# Each rule broken alone: (name, spec changes, expected reason code, config).
def broken_alone(who: Person) -> list[tuple[str, Spec, str, dict[str, object]]]:
    return [
        ("body", Spec(who, body_extra=f"Child's NHS number is {who.nhs}"),
         "personal_data_in_body", {}),
        ("plain attachment", Spec(who, plain_attachment=True), "unencrypted_attachment", {}),
        ("zipcrypto", Spec(who, zip_aes=False), "weak_encryption", {}),
        ("editable", Spec(who, zip_read_only=False), "not_read_only", {}),
        ("no marking", Spec(who, subject="Referral"), "missing_subject_marking", {}),
        ("password in subject", Spec(who, password_line=False, password_in_subject=True),
         "password_in_message", {}),
        ("stranger", Spec(who, to=[ALLOWED, STRANGER]), "recipient_not_allowed", {}),
        ("no purpose", Spec(who, purpose=False), "missing_purpose",
         {"require_purpose": True}),
        ("corrupt", Spec(who, corrupt_attachment=True), "uninspectable_content", {}),
    ]


# -- the evasion tests' shared steps: one attachment, sent, its one record --------


def with_attachment(data: bytes, filename: str, maintype: str, subtype: str) -> bytes:
    mail = EmailMessage(policy=SMTP)
    mail["From"] = SENDER
    mail["To"] = ALLOWED
    mail["Subject"] = f"{MARKING}: caseload"
    mail["Message-ID"] = f"<{os.urandom(8).hex()}@council.example>"
    mail.set_content("Please see attached.\n\nPurpose: child protection referral\n")
    mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return mail.as_bytes(policy=SMTP)


async def send(port: int, raw: bytes) -> tuple[int, str]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        await client.sendmail(SENDER, [ALLOWED], raw)
        return 250, ""
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        client.close()


async def only_record(gw: Any) -> dict[str, Any]:
    async with gw.engine.connect() as conn:
        rows = await conn.execute(select(audit_records.c.document))
        (document,) = [json.loads(r[0]) for r in rows]
    return document
