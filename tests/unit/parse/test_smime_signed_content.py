"""Opaque-signed S/MIME read as the MIME entity it carries (gateway.parse.smime
and the parser), and the parts a mail program's signing or encryption adds.

The signatures are real (cryptography's PKCS7SignatureBuilder, a
self-signed certificate made here); the content is synthetic.
"""

from __future__ import annotations

import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from gateway.inspect import inspect_message
from gateway.model import ENCRYPTION, SIGNATURE
from gateway.parse import parse_message
from gateway.parse.smime import DATA_OID, SIGNED_DATA_OID, signed_content

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Signer")])
_CERT = (
    x509.CertificateBuilder().subject_name(_NAME).issuer_name(_NAME)
    .public_key(_KEY.public_key()).serial_number(7)
    .not_valid_before(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
    .not_valid_after(datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC))
    .sign(_KEY, hashes.SHA256())
)
ENTITY = b'Content-Type: text/plain; charset="utf-8"\r\n\r\nThe December rota is agreed.\r\n'


def sign(data: bytes, *, detached: bool = False) -> bytes:
    options = [pkcs7.PKCS7Options.Binary]
    if detached:
        options.append(pkcs7.PKCS7Options.DetachedSignature)
    return (pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(_CERT, _KEY, hashes.SHA256())
            .sign(serialization.Encoding.DER, options))


def streamed(data: bytes, piece: int = 16) -> bytes:
    """Signed-data as a streaming signer writes it: indefinite lengths, the
    content in pieces (a constructed OCTET STRING); no signer infos needed
    for the walk."""
    def oid(value: bytes) -> bytes:
        return bytes([0x06, len(value)]) + value
    pieces = b"".join(bytes([0x04, len(data[i:i + piece])]) + data[i:i + piece]
                      for i in range(0, len(data), piece))
    encapsulated = b"\x30\x80" + oid(DATA_OID) + b"\xa0\x80\x24\x80" + pieces + b"\0\0\0\0\0\0"
    signed = b"\x30\x80\x02\x01\x01\x31\x00" + encapsulated + b"\x31\x00\0\0"
    return b"\x30\x80" + oid(SIGNED_DATA_OID) + b"\xa0\x80" + signed + b"\0\0\0\0"


def test_the_content_of_opaque_signed_data_is_read() -> None:
    assert signed_content(sign(ENTITY)) == ENTITY


def test_indefinite_lengths_and_content_in_pieces_are_read() -> None:
    assert signed_content(streamed(ENTITY)) == ENTITY


@pytest.mark.parametrize("der", [
    pytest.param(sign(ENTITY, detached=True), id="detached"),
    pytest.param(pkcs7.PKCS7EnvelopeBuilder().set_data(ENTITY).add_recipient(_CERT).encrypt(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]), id="enveloped"),
    pytest.param(sign(ENTITY)[:-1], id="truncated"),
    pytest.param(sign(ENTITY) + b"\0", id="trailing"),
    pytest.param(streamed(ENTITY)[:-2], id="no-end-of-contents"),
    pytest.param(b"", id="empty"),
    pytest.param(b"\x30\x84\xff\xff\xff\xff", id="length-past-the-end"),
])
def test_anything_else_gives_nothing(der: bytes) -> None:
    assert signed_content(der) is None


def opaque(der: bytes, smime_type: str = "signed-data") -> bytes:
    return (b"From: a@council.example\r\nTo: b@recipient.example\r\nSubject: Rota\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type="
            + smime_type.encode() + b'; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n'
            b'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
            + base64.encodebytes(der).replace(b"\n", b"\r\n"))


def test_an_opaque_signed_message_is_read_as_the_message_it_carries() -> None:
    parsed = parse_message(opaque(sign(ENTITY)))
    assert parsed.problems == ()
    assert parsed.sealed == ("1",)
    (part,) = parsed.parts
    assert (part.path, part.content_type, part.is_body) == ("1.1", "text/plain", True)
    assert part.payload == b"The December rota is agreed.\r\n"


def test_its_own_parts_and_attachments_are_read_under_it() -> None:
    inner = (b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
             b"Content-Type: text/plain\r\n\r\nSee the list.\r\n--B\r\n"
             b'Content-Type: text/csv; name="list.csv"\r\n'
             b'Content-Disposition: attachment; filename="list.csv"\r\n\r\n'
             b"name,team\r\nA,B\r\n--B--\r\n")
    parsed = parse_message(opaque(sign(inner)))
    assert [(p.path, p.is_body, p.filename) for p in parsed.parts] == [
        ("1.1", True, None), ("1.2", False, "list.csv")]


def test_signed_content_that_is_no_mime_entity_stays_unread() -> None:
    parsed = parse_message(opaque(sign(b"%PDF-1.7\r\nnot a MIME entity\r\n")))
    assert parsed.sealed == ()
    assert [(p.path, p.content_type) for p in parsed.parts] == [("1", "application/pkcs7-mime")]
    inspection = inspect_message(opaque(sign(b"%PDF-1.7\r\nnot a MIME entity\r\n")))
    assert inspection.problems  # never clean


def test_a_password_inside_opaque_signed_text_cannot_be_taken_out() -> None:
    text = ENTITY + b"Password: Heron-Kettle-42\r\n"
    (candidate,) = inspect_message(opaque(sign(text))).passwords
    assert (candidate.location, candidate.removable) == ("body", False)


def test_encryption_and_signature_parts_are_marked_as_the_mail_programs() -> None:
    signed = (b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; '
              b'boundary="S"\r\n\r\n--S\r\n' + ENTITY + b"\r\n--S\r\n"
              b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
              b"Content-Transfer-Encoding: base64\r\n\r\n"
              + base64.encodebytes(sign(ENTITY, detached=True)) + b"--S--\r\n")
    assert [p.security for p in parse_message(signed).parts] == ["", SIGNATURE]
    pgp = (b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; '
           b'boundary="P"\r\n\r\n--P\r\nContent-Type: application/pgp-encrypted\r\n\r\n'
           b"Version: 1\r\n--P\r\nContent-Type: application/octet-stream\r\n\r\n"
           b"-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA\r\n-----END PGP MESSAGE-----\r\n--P--\r\n")
    assert [p.security for p in parse_message(pgp).parts] == [ENCRYPTION, ENCRYPTION]
    enveloped = pkcs7.PKCS7EnvelopeBuilder().set_data(ENTITY).add_recipient(_CERT).encrypt(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    (part,) = parse_message(opaque(enveloped, "enveloped-data")).parts
    assert part.security == ENCRYPTION
