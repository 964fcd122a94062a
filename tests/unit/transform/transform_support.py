"""Builders for the transform tests: messages, encrypted zips, verdicts, a run."""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pyzipper

from gateway.detect import build_engine
from gateway.inspect import inspect_message
from gateway.model import Action, Finding, Reason, ReasonCode, Verdict
from gateway.settings import Settings
from gateway.transform import Outbound, prepare_outbound, sharing_facts

READ_ONLY = (0o100444 << 16) | 0x01
_ENGINE = build_engine()
BODY = (
    "Dear Dr Jones,\n\n"
    "Please see the referral for the child we discussed.\n"
    "NHS number 943 476 5919, date of birth 01/02/2015.\n\n"
    "Kind regards,\nAlice\n"
)


def message(
    body: str = BODY,
    subject: str = "Referral",
    html: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A message as a mail client writes it (CRLF), optional HTML alternative
    and attachments (filename, content type, bytes)."""
    msg = EmailMessage()
    msg["From"] = "Alice Smith <alice@council.example>"
    msg["To"] = "dr.jones@nhs.example"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 02 Mar 2026 09:30:00 +0000"
    msg["Message-ID"] = "<ref-123@council.example>"
    for name, value in headers:
        msg[name] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=policy.SMTP)


def aes_zip(files: dict[str, bytes], password: str, read_only: bool = True) -> bytes:
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(
        buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(password.encode())
        archive.setencryption(pyzipper.WZ_AES, nbits=256)
        for name, data in files.items():
            info = archive.zipinfo_cls(name, date_time=time.gmtime()[:6])
            info.create_system = 3
            info.external_attr = READ_ONLY if read_only else (0o100644 << 16)
            info.compress_type = pyzipper.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def verdict(
    action: Action = Action.DELIVER,
    codes: Sequence[ReasonCode] = (),
    personal_data: bool = True,
) -> Verdict:
    return Verdict(
        action=action,
        reasons=tuple(Reason(code, code.value) for code in codes),
        personal_data=personal_data,
    )


PROTECT = verdict(
    Action.PROTECT,
    (ReasonCode.PERSONAL_DATA_IN_BODY, ReasonCode.MISSING_SUBJECT_MARKING),
)


def settings(mode: str = "enforce", release: str = "on-receipt") -> Settings:
    return Settings.model_validate({"policy": {"mode": mode}, "passwords": {"release": release}})


def run(
    raw: bytes,
    v: Verdict,
    config: Settings | None = None,
    findings: Sequence[Finding] | None = None,
) -> Outbound:
    inspection = inspect_message(raw)
    facts = sharing_facts(inspection)
    if findings is None:
        findings = _ENGINE.detect(inspection.segments)
    return prepare_outbound(raw, inspection, v, config or settings(), facts, findings=findings)


def parse(raw: bytes) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


def texts(raw: bytes) -> dict[str, str]:
    """content type -> decoded text of each text part (the last of each type)."""
    out: dict[str, str] = {}
    for part in parse(raw).walk():
        if part.get_content_maintype() == "text":
            out[part.get_content_type()] = part.get_content().replace("\r\n", "\n")
    return out


def header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]
