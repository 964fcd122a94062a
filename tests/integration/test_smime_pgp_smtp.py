"""S/MIME and PGP mail through a real gateway, in enforce and protect mode.

Opaque-signed S/MIME (smime.p7m, signed-data) is clear content in a DER
wrapper: it is read as the message it carries, so a staff rota goes and a
referral in it is refused for what it says.  S/MIME and PGP encryption
(enveloped-data, PGP/MIME, inline PGP armour) cannot be checked: refused,
named as the mail program's encryption, never as an attachment the sender
chose, with advice that fits the mode.  Protected, a detached signature does
not go into the zip (it would verify nothing there).  Certificates are made
here, self-signed, for a made-up sender; the people are synthetic.
"""

from __future__ import annotations

import base64
import datetime
import io
import secrets
from collections.abc import Awaitable, Callable
from email import message_from_bytes
from email import policy as email_policy
from typing import Any

import pytest
import pyzipper
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from policy_messages import ALLOWED, MARKING, SENDER, only_record, person, record_text, send

Factory = Callable[..., Awaitable[Any]]

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Sender")])
_CERT = (
    x509.CertificateBuilder().subject_name(_NAME).issuer_name(_NAME)
    .public_key(_KEY.public_key()).serial_number(x509.random_serial_number())
    .not_valid_before(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
    .not_valid_after(datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC))
    .sign(_KEY, hashes.SHA256())
)
ROTA = "Hi all, the December rota is agreed: early shifts Monday and Tuesday.\r\n"


@pytest.fixture(autouse=True)
def password_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PASSWORD_KEY", base64.b64encode(secrets.token_bytes(32)).decode())


def _headers(subject: str) -> str:
    return (f"From: {SENDER}\r\nTo: {ALLOWED}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{secrets.token_hex(8)}@council.example>\r\nMIME-Version: 1.0\r\n")


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode().replace("\n", "\r\n")


def _entity(text: str) -> bytes:
    return f'Content-Type: text/plain; charset="utf-8"\r\n\r\n{text}'.encode()


def _signer() -> pkcs7.PKCS7SignatureBuilder:
    return pkcs7.PKCS7SignatureBuilder().add_signer(_CERT, _KEY, hashes.SHA256())


def opaque_signed(subject: str, text: str) -> bytes:
    der = _signer().set_data(_entity(text)).sign(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    return (_headers(subject)
            + 'Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"\r\n'
            "Content-Transfer-Encoding: base64\r\n"
            'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
            + _b64(der)).encode()


def detached_signed(subject: str, text: str) -> bytes:
    inner = _entity(text)
    der = _signer().set_data(inner).sign(
        serialization.Encoding.DER,
        [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    return (_headers(subject).encode()
            + b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; '
              b'micalg=sha-256; boundary="SIG"\r\n\r\n--SIG\r\n' + inner + b"\r\n--SIG\r\n"
            + b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
              b'Content-Transfer-Encoding: base64\r\n'
              b'Content-Disposition: attachment; filename="smime.p7s"\r\n\r\n'
            + _b64(der).encode() + b"--SIG--\r\n")


def enveloped(subject: str, text: str) -> bytes:
    der = pkcs7.PKCS7EnvelopeBuilder().set_data(_entity(text)).add_recipient(_CERT).encrypt(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    return (_headers(subject)
            + 'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; '
              'name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n'
              'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
            + _b64(der)).encode()


def _armour() -> str:
    return ("-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA"
            + base64.b64encode(secrets.token_bytes(300)).decode()
            + "\r\n=abcd\r\n-----END PGP MESSAGE-----\r\n")


def pgp_mime(subject: str) -> bytes:
    return (_headers(subject)
            + 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; '
              'boundary="PGP"\r\n\r\n--PGP\r\nContent-Type: application/pgp-encrypted\r\n'
              "Content-Description: PGP/MIME version identification\r\n\r\nVersion: 1\r\n\r\n"
              '--PGP\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\n'
              'Content-Disposition: inline; filename="encrypted.asc"\r\n\r\n'
            + _armour() + "--PGP--\r\n").encode()


def inline_pgp(subject: str) -> bytes:
    return (_headers(subject) + "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
            "Hello,\r\n\r\n" + _armour()).encode()


@pytest.mark.parametrize("mode", ["enforce", "protect"])
async def test_an_opaque_signed_rota_is_read_and_delivered(
    gateway_factory: Factory, sink: Any, mode: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": mode}})
    raw = opaque_signed("Rota for December", ROTA)
    code, reply = await send(gw.port, raw)
    assert code == 250, reply
    (got,) = await sink.wait(1)
    assert got.rcpt_tos == (ALLOWED,)
    assert raw.split(b"\r\n\r\n", 1)[1] in got.content  # the signed entity, untouched


async def test_personal_data_inside_opaque_signed_content_is_found(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "enforce"}})
    code, reply = await send(gw.port, opaque_signed(f"{MARKING}: referral",
                                                    record_text(person(20240901))))
    assert code == 550, reply
    record = await only_record(gw)
    assert [r["code"] for r in record["reasons"]] == ["personal_data_in_body"]


ENCRYPTED = [
    pytest.param(enveloped(f"{MARKING}: referral", "synthetic"), "S/MIME", "the message is",
                 id="smime-enveloped"),
    pytest.param(pgp_mime(f"{MARKING}: referral"), "PGP", "the message is", id="pgp-mime"),
    pytest.param(inline_pgp(f"{MARKING}: referral"), "PGP", "the message text is",
                 id="inline-pgp"),
]


@pytest.mark.parametrize("mode", ["enforce", "protect"])
@pytest.mark.parametrize(("raw", "scheme", "what"), ENCRYPTED)
async def test_encrypted_mail_is_refused_and_named_as_the_mail_programs_encryption(
    gateway_factory: Factory, sink: Any, mode: str, raw: bytes, scheme: str, what: str
) -> None:
    gw = await gateway_factory({"policy": {"mode": mode}})
    code, reply = await send(gw.port, raw)
    assert code == 550, reply
    record = await only_record(gw)
    (reason,) = record["reasons"]
    assert reason["code"] == "uninspectable_content"
    assert f"{what} encrypted with {scheme} by your mail program" in reason["text"]
    assert "attachment" not in reason["text"]
    (note,) = await sink.wait(1)
    assert note.rcpt_tos == (SENDER,)
    notice = message_from_bytes(note.content, policy=email_policy.default)
    body = notice.get_body(("plain",))
    assert body is not None
    told = " ".join(body.get_content().split())
    assert f"Send the message again without {scheme} encryption" in told
    assert "common format" not in told
    if mode == "protect":
        assert "protects any personal data in it itself" in told
    else:
        assert "a zip with AES-256" in told


async def test_protected_signed_mail_leaves_its_detached_signature_out_of_the_zip(
    gateway_factory: Factory, sink: Any
) -> None:
    gw = await gateway_factory({"policy": {"mode": "protect"}})
    code, reply = await send(gw.port, detached_signed(f"{MARKING}: referral",
                                                      record_text(person(20240902))))
    assert code == 250, reply
    (got,) = await sink.wait(1)
    message = message_from_bytes(got.content, policy=email_policy.default)
    (archive,) = [p.get_payload(decode=True) for p in message.walk()
                  if p.get_filename() == "protected-content.zip"]
    assert isinstance(archive, bytes)
    names = [i.filename for i in pyzipper.AESZipFile(io.BytesIO(archive)).infolist()]
    assert names == ["message.txt"]
    assert not [p for p in message.walk()
                if p.get_content_type() == "application/pkcs7-signature"]
