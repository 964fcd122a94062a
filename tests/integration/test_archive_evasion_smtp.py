"""Attachments that used to leave in clear, over real SMTP: a tar, a tar.gz,
a gzip of several members, a tar.bz2 and an xz (once refused unread), UTF-32 text, UTF-16 text without a byte order mark and bytes
the gateway recognises as nothing are refused in enforce mode, with the
right reason and audit record; an unreadable file is not called encrypted.
So is a picture carrying a record as text (a PNG text chunk, a JPEG or GIF
comment) or after its end; a camera's photo still passes."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import pytest
from fixtures_content import exif, gif, gif_extension, jpeg, jpeg_segment, png, png_chunk
from policy_messages import ALLOWED, SENDER, only_record, send
from policy_messages import with_attachment as message

Factory = Callable[..., Awaitable[Any]]
NHS = "083 016 6130"  # synthetic, valid check digit
RECORD = f"name,nhs_number,dob\nAlex Carter,{NHS},01/02/2015\n"


def tar_of(name: str, data: bytes, mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:  # type: ignore[call-overload]
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return out.getvalue()




CASES = [
    ("tar", tar_of("caseload.csv", RECORD.encode()), "caseload.tar", "application", "x-tar"),
    ("tar.gz", tar_of("caseload.csv", RECORD.encode(), "w:gz"), "caseload.tar.gz",
     "application", "gzip"),
    ("gzip-two-members", gzip.compress(b"cover\n") + gzip.compress(RECORD.encode()),
     "caseload.csv.gz", "application", "gzip"),
    ("utf16le-csv", RECORD.encode("utf-16-le"), "caseload.csv", "text", "csv"),
    ("utf16be-csv", RECORD.encode("utf-16-be"), "caseload.csv", "application", "octet-stream"),
    ("tar.bz2", tar_of("caseload.csv", RECORD.encode(), "w:bz2"), "caseload.tar.bz2",
     "application", "x-bzip2"),
    ("xz", lzma.compress(RECORD.encode()), "caseload.csv.xz", "application", "x-xz"),
    ("utf32-csv", RECORD.encode("utf-32"), "caseload.csv", "text", "csv"),
]


@pytest.mark.parametrize(("data", "filename", "maintype", "subtype"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_personal_data_in_these_formats_is_refused(
    gateway_factory: Factory, sink: Any, data: bytes, filename: str, maintype: str, subtype: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, message(data, filename, maintype, subtype))
    assert code == 550, reply
    record = await only_record(gw)
    assert record["verdict"] == "reject"
    assert "unencrypted_attachment" in [r["code"] for r in record["reasons"]]
    assert "uk_nhs_number" in record["information_types"]
    assert all(ALLOWED not in m.rcpt_tos for m in sink.messages)


@pytest.mark.parametrize(
    ("data", "filename", "words"),
    [
        (os.urandom(4096), "caseload.dat", "is in a format the gateway cannot read"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04" + os.urandom(200), "caseload.7z",
         "is in a format the gateway cannot read"),
        (gzip.compress(RECORD.encode())[:-20], "caseload.csv.gz", "is damaged"),
        (bz2.compress(RECORD.encode())[:-20], "caseload.csv.bz2", "is damaged"),
    ],
    ids=["unrecognised", "7z", "truncated-gzip", "truncated-bz2"],
)
async def test_unreadable_content_is_refused_and_not_called_encrypted(
    gateway_factory: Factory, sink: Any, data: bytes, filename: str, words: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, message(data, filename, "application", "octet-stream"))
    assert code == 550, reply
    record = await only_record(gw)
    (reason,) = [r for r in record["reasons"] if r["code"] == "uninspectable_content"]
    assert words in reason["text"]
    assert "encryption" not in reason["text"]
    assert "zip archive" not in reason["text"]
    assert [a["encryption"] for a in record["attachments"]] == ["none"]
    assert all(ALLOWED not in m.rcpt_tos for m in sink.messages)


PICTURE_CASES = [
    ("png-after-iend", png(trailer=RECORD.encode()), "scan.png", "png"),
    ("png-text-chunk", png(png_chunk(b"tEXt", f"Comment\x00{RECORD}".encode())), "scan.png",
     "png"),
    ("jpeg-comment", jpeg(jpeg_segment(0xFE, RECORD.encode())), "photo.jpg", "jpeg"),
    ("gif-comment", gif(gif_extension(0xFE, RECORD.encode())), "chart.gif", "gif"),
]


@pytest.mark.parametrize(("data", "filename", "subtype"), [c[1:] for c in PICTURE_CASES],
                         ids=[c[0] for c in PICTURE_CASES])
async def test_personal_data_carried_in_a_picture_is_refused(
    gateway_factory: Factory, sink: Any, data: bytes, filename: str, subtype: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, message(data, filename, "image", subtype))
    assert code == 550, reply
    record = await only_record(gw)
    assert "unencrypted_attachment" in [r["code"] for r in record["reasons"]]
    assert "uk_nhs_number" in record["information_types"]
    assert all(ALLOWED not in m.rcpt_tos for m in sink.messages)


async def test_a_picture_still_passes(gateway_factory: Factory, sink: Any) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    camera = exif([(0x010F, 2, b"Canon\x00"), (0x0110, 2, b"Canon EOS 80D\x00")])
    photo = jpeg(jpeg_segment(0xE1, b"Exif\x00\x00" + camera), trailer=b"\x00" * 16)
    mail = EmailMessage(policy=SMTP)
    mail["From"] = SENDER
    mail["To"] = ALLOWED
    mail["Subject"] = "Team photo"
    mail["Message-ID"] = "<photo@council.example>"
    mail.set_content("The photo from Friday.\n")
    mail.add_attachment(photo, maintype="image", subtype="jpeg", filename="team.jpg")
    code, reply = await send(gw.port, mail.as_bytes(policy=SMTP))
    assert code == 250, reply
    assert len(await sink.wait(1)) == 1
