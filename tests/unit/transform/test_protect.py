"""Protect mode: clear content into an AES-256 zip of read-only entries.

The zip is opened with the real 7-Zip (apt `p7zip-full`; skipped when absent)
as a recipient would, and its listing checked by Info-ZIP's `zipinfo`.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import pyzipper
from transform_support import (
    BODY,
    PROTECT,
    aes_zip,
    message,
    parse,
    run,
    settings,
    texts,
    verdict,
)

from gateway.inspect import inspect_message
from gateway.model import Action, Encryption, ReasonCode
from gateway.transform import ZIP_NAME, generate_password
from gateway.transform.notice import protected_text
from gateway.transform.sharing import SharingFacts

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
CSV = b"name,nhs_number\nJohn Smith,943 476 5919\n"


def zip_of(raw: bytes) -> bytes:
    parts = [p for p in parse(raw).walk() if p.get_filename() == ZIP_NAME]
    assert len(parts) == 1 and parts[0].get_content_type() == "application/zip"
    data = parts[0].get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def read_zip(data: bytes, password: str) -> dict[str, bytes]:
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        archive.setpassword(password.encode())
        return {name: archive.read(name) for name in archive.namelist()}


def test_generated_password_is_strong_and_unambiguous() -> None:
    seen = {generate_password() for _ in range(50)}
    assert len(seen) == 50
    for password in seen:
        # One case (read out by telephone), nothing mistaken for 0, 1 or l.
        assert re.fullmatch(r"[a-km-np-z2-9]{6}(-[a-km-np-z2-9]{6}){3}", password)


def test_protect_moves_body_and_clear_attachments() -> None:
    raw = message(
        subject="Referral",
        body=BODY + "\nPurpose: Child protection referral\n",
        attachments=[("notes.csv", "text/csv", CSV), ("report.pdf", "application/pdf", PDF)],
    )
    out = run(raw, PROTECT)
    assert out.protected and out.password
    assert out.method.startswith("email, AES-256 zip (read-only), password held")
    assert out.password.encode() not in out.content
    parsed = parse(out.content)
    assert parsed["Subject"] == "Private and Confidential: Referral"
    assert parsed["Message-ID"] == "<ref-123@council.example>"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain",
                                                                   "application/zip"]
    notice = texts(out.content)["text/plain"]
    assert "attached file protected-content.zip" in notice
    assert "The password will reach you in a separate email, once your mail system" in notice
    assert "Purpose of sharing: Child protection referral" in notice
    assert "943" not in notice and b"943 476 5919" not in out.content
    files = read_zip(zip_of(out.content), out.password)
    assert set(files) == {"message.txt", "notes.csv", "report.pdf"}
    text = files["message.txt"].decode()
    assert "Subject: Referral" in text and "NHS number 943 476 5919" in text
    assert "Purpose:" not in text
    assert files["notes.csv"] == CSV and files["report.pdf"] == PDF


def test_protected_output_passes_inspection() -> None:
    raw = message(attachments=[("notes.csv", "text/csv", CSV)])
    out = run(raw, PROTECT)
    inspection = inspect_message(out.content)
    (report,) = inspection.attachments
    assert report.encryption is Encryption.AES_256 and report.read_only is True
    assert not inspection.problems


def test_sender_encrypted_attachment_kept_and_both_passwords_held() -> None:
    sender_zip = aes_zip({"plan.txt": b"care plan"}, "Sender-Pass-1")
    raw = message(body=BODY + "Password: Sender-Pass-1\n",
                  attachments=[("plan.zip", "application/zip", sender_zip)])
    out = run(raw, PROTECT)
    assert out.password is not None
    lines = out.password.split("\n")
    assert lines[0].startswith(f"Protected file {ZIP_NAME}: ")
    assert lines[1] == "Attachment encrypted by the sender: Sender-Pass-1"
    generated = lines[0].rsplit(": ", 1)[1]
    parsed = parse(out.content)
    kept = [p for p in parsed.walk() if p.get_filename() == "plan.zip"]
    assert kept and kept[0].get_payload(decode=True) == sender_zip
    files = read_zip(zip_of(out.content), generated)
    assert set(files) == {"message.txt"}
    assert b"Sender-Pass-1" not in files["message.txt"] and b"Sender-Pass-1" not in out.content
    assert "other attachment is already encrypted" in texts(out.content)["text/plain"]


def test_personal_data_in_subject_is_moved_into_the_file() -> None:
    raw = message(subject="Referral NHS 943 476 5919")
    out = run(raw, PROTECT)
    assert parse(out.content)["Subject"] == "Private and Confidential"
    assert out.password is not None
    files = read_zip(zip_of(out.content), out.password)
    assert "Subject: Referral NHS 943 476 5919" in files["message.txt"].decode()


def test_marking_only_is_not_zipped() -> None:
    out = run(message(subject="Agenda"), verdict(Action.PROTECT,
                                                 (ReasonCode.MISSING_SUBJECT_MARKING,)))
    assert not out.protected and out.password is None
    assert parse(out.content)["Subject"] == "Private and Confidential: Agenda"
    assert "subject marked" in out.method


def test_already_marked_subject_not_marked_twice() -> None:
    out = run(message(subject="PRIVATE AND CONFIDENTIAL referral"), PROTECT)
    assert parse(out.content)["Subject"] == "PRIVATE AND CONFIDENTIAL referral"


def test_hold_in_protect_mode_is_protected_too() -> None:
    held = verdict(Action.HOLD, (ReasonCode.PERSONAL_DATA_IN_BODY,))
    assert run(message(), held, settings(mode="protect")).protected
    assert not run(message(), held, settings(mode="enforce")).protected


def test_release_mode_shapes_the_notice() -> None:
    out = run(message(), PROTECT, settings(release="sender"))
    assert "from the sender, by telephone" in texts(out.content)["text/plain"]


def test_html_body_and_attached_message_are_zipped() -> None:
    inner = message(subject="Earlier", body="NHS 943 476 5919\n")
    raw = message(html="<p>NHS 943 476 5919</p>")
    msg = parse(raw)
    msg.add_attachment(parse(inner))  # message/rfc822
    from email import policy

    out = run(msg.as_bytes(policy=policy.SMTP), PROTECT)
    assert out.password is not None
    files = read_zip(zip_of(out.content), out.password)
    assert set(files) >= {"message.txt", "message.html"}
    eml = [name for name in files if name.endswith(".eml")]
    assert len(eml) == 1 and b"Subject: Earlier" in files[eml[0]]


needs_7z = pytest.mark.skipif(shutil.which("7z") is None, reason="7z not installed")


@needs_7z
def test_real_7zip_opens_it_and_every_entry_is_read_only(tmp_path: Path) -> None:
    raw = message(attachments=[("notes.csv", "text/csv", CSV), ("report.pdf",
                                                                 "application/pdf", PDF)])
    out = run(raw, PROTECT)
    assert out.password is not None
    archive = tmp_path / ZIP_NAME
    archive.write_bytes(zip_of(out.content))

    listing = subprocess.run(["7z", "l", "-slt", str(archive)], capture_output=True,
                             text=True, check=True).stdout
    entries = [block for block in listing.split("\n\n") if "\nAttributes = " in block]
    assert len(entries) == 3
    for block in entries:
        assert re.search(r"^Attributes = .*-r--r--r--", block, re.M), block
        assert "Method = AES-256" in block

    wrong = subprocess.run(["7z", "x", "-pnot-it", f"-o{tmp_path / 'no'}", "-y", str(archive)],
                           capture_output=True, text=True)
    assert wrong.returncode != 0

    target = tmp_path / "out"
    subprocess.run(["7z", "x", f"-p{out.password}", f"-o{target}", "-y", str(archive)],
                   capture_output=True, text=True, check=True)
    names = sorted(os.listdir(target))
    assert names == ["message.txt", "notes.csv", "report.pdf"]
    for name in names:
        mode = (target / name).stat().st_mode
        assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), name
    assert "NHS number 943 476 5919" in (target / "message.txt").read_text()
    assert (target / "notes.csv").read_bytes() == CSV


@pytest.mark.skipif(shutil.which("zipinfo") is None, reason="zipinfo not installed")
def test_zipinfo_lists_read_only_unix_entries(tmp_path: Path) -> None:
    out = run(message(attachments=[("notes.csv", "text/csv", CSV)]), PROTECT)
    archive = tmp_path / ZIP_NAME
    archive.write_bytes(zip_of(out.content))
    listing = subprocess.run(["zipinfo", str(archive)], capture_output=True, text=True,
                             check=True).stdout
    rows = [line for line in listing.splitlines() if line.startswith("-")]
    assert len(rows) == 2 and all(row.startswith("-r--r--r--") for row in rows)


@pytest.mark.parametrize("release,how", [
    ("on-receipt", "in a separate email, once your mail system has confirmed"),
    ("sender", "from the sender, by telephone."),
    ("manual", "in a separate email from the sender's IT team; if it has not come, ask the "
               "sender for it."),
])
def test_the_protected_notice_says_how_the_password_comes(release: str, how: str) -> None:
    """Each way reads as a sentence (with `manual` it read "will reach you
    separately: separately from this message")."""
    notice = protected_text(SharingFacts(None, None, None), "protected-content.zip", release, 0)
    assert f"The password will reach you {how}" in " ".join(notice.split())
    assert "separately: separately" not in notice


def test_message_html_in_the_zip_shows_its_inline_pictures() -> None:
    """An Outlook body's logo is a `cid:` picture; in the zip message.html
    points at the picture's file beside it (a browser opening it from a
    folder resolves no `cid:`: the recipient saw a broken picture)."""
    from email.message import EmailMessage

    logo = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
    msg = EmailMessage()
    msg["From"], msg["To"] = "a@council.example", "dr.jones@nhs.example"
    msg["Subject"], msg["Message-ID"] = "Referral", "<ref-124@council.example>"
    msg.set_content(BODY)
    msg.add_alternative(f"<p>{BODY}</p><img src=\"cid:image001.png@01DB3C2A.5F1E2D10\">",
                        subtype="html")
    msg.get_payload()[1].add_related(logo, "image", "png",
                                     cid="<image001.png@01DB3C2A.5F1E2D10>",
                                     disposition="inline", filename="image001.png")
    out = run(msg.as_bytes(), PROTECT)
    assert out.password
    files = read_zip(zip_of(out.content), out.password)
    page = files["message.html"].decode()
    assert '<img src="image001.png">' in page and "cid:" not in page
    assert files["image001.png"] == logo
