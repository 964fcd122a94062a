"""An AES-256 PDF is judged by what it holds in clear and by whom its
password makes owner.

- What an encrypted PDF leaves unencrypted (metadata under
  `/EncryptMetadata false`, Acrobat's "encrypt all contents except
  metadata"; a stream or an embedded file exempted by the `Identity` crypt
  filter) is read without the password as clear content: personal data
  there is refused as `unencrypted_attachment`, a harmless title is not.
- A password that opens the PDF as its owner (the sender set one password
  for both) lifts every restriction: the PDF is not read-only for whoever
  receives that password (`not_read_only`).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from faker import Faker
from fixtures_content import PASSWORD, READ_ONLY_PERMISSIONS, encrypted_pdf
from pypdf import PdfReader
from pypdf.generic import BooleanObject, DictionaryObject, NameObject

from gateway.inspect import inspect_message
from gateway.model import Action, Encryption, Envelope, Inspection, ReasonCode, SegmentSource
from gateway.pipeline import Pipeline
from gateway.settings import Settings

NHS = "943 476 5919"  # valid check digit, belongs to nobody
SENDER = "caseworker@council.example"
ALLOWED = "duty@recipient.example"
RECIPIENTS = (
    "address,name,job_title,department,organisation,telephone,secure_route\n"
    "@recipient.example,Recipient Team,Caseworker,,Recipient Council,01632 960001,\n"
)


def _record() -> str:
    fake = Faker("en_GB")
    fake.seed_instance(23)
    return f"{fake.name()}, date of birth 14/03/2012, NHS number {NHS}, {fake.postcode()}"


def _xmp(title: str) -> bytes:
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        'rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt>'
        f'<rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title></rdf:Description>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def _stream(data: bytes, entries: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), entries) + data + b"\nendstream"


_IDENTITY = b"/Filter [/Crypt] /DecodeParms [<< /Name /Identity >>] "


def _aes_pdf(*, owner_password: str = "owner-only-secret") -> bytes:
    return encrypted_pdf("Meeting notes.", "AES-256", owner_password=owner_password,
                         permissions=READ_ONLY_PERMISSIONS)


def _updated(base: bytes, catalog_extra: bytes, objects: list[bytes], *,
             metadata_clear: bool = False) -> bytes:
    """`base` (an AES-256 PDF) with an incremental update, as a tool adding
    metadata or a file to it writes one: the catalog again with
    `catalog_extra`, `objects` (numbered after the last), and with
    `metadata_clear` a copy of the /Encrypt dictionary saying
    /EncryptMetadata false (AES-256 keys do not depend on it)."""
    reader = PdfReader(io.BytesIO(base))
    assert reader.decrypt(PASSWORD)
    root = reader.trailer.raw_get("/Root")
    encrypt = reader.trailer.raw_get("/Encrypt")
    pages = reader.trailer["/Root"].raw_get("/Pages")
    size = int(reader.trailer["/Size"])
    numbered = {size + i: body for i, body in enumerate(objects)}
    catalog = (b"<< /Type /Catalog /Pages %d 0 R " % pages.idnum) + catalog_extra + b" >>"
    catalog = catalog.replace(b"{first}", b"%d" % size)  # the first new object
    numbered[root.idnum] = catalog
    encrypt_number = encrypt.idnum
    if metadata_clear:
        copy = DictionaryObject(reader.trailer["/Encrypt"])
        copy[NameObject("/EncryptMetadata")] = BooleanObject(False)
        written = io.BytesIO()
        copy.write_to_stream(written)
        encrypt_number = size + len(objects)
        numbered[encrypt_number] = written.getvalue()
    out = bytearray(base)
    offsets = {}
    for number in sorted(numbered):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + numbered[number] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n"
    for number in sorted(numbered):
        out += b"%d 1\n%010d 00000 n \n" % (number, offsets[number])
    ids = b"".join(b"<%s>" % bytes(i.original_bytes).hex().encode() for i in reader.trailer["/ID"])
    previous = int(base.rsplit(b"startxref", 1)[1].split()[0])
    out += (
        b"trailer\n<< /Size %d /Root %d 0 R /Encrypt %d 0 R /ID [%s] /Prev %d >>\n"
        b"startxref\n%d\n%%%%EOF\n"
        % (max(numbered) + 1, root.idnum, encrypt_number, ids, previous, xref)
    )
    return bytes(out)


def metadata_left_clear(title: str) -> bytes:
    return _updated(_aes_pdf(), b"/Metadata {first} 0 R",
                    [_stream(_xmp(title), b"/Type /Metadata /Subtype /XML ")],
                    metadata_clear=True)


def metadata_exempted(title: str) -> bytes:
    return _updated(_aes_pdf(), b"/Metadata {first} 0 R",
                    [_stream(_xmp(title), b"/Type /Metadata /Subtype /XML " + _IDENTITY)])


def file_exempted(text: str) -> bytes:
    base = _aes_pdf()
    size = int(PdfReader(io.BytesIO(base)).trailer["/Size"])
    return _updated(
        base, b"/Names << /EmbeddedFiles << /Names [<> %d 0 R] >> >>" % (size + 1),
        [_stream(text.encode(), b"/Type /EmbeddedFile " + _IDENTITY),
         b"<< /Type /Filespec /EF << /F %d 0 R >> >>" % size],
    )


def _mail(data: bytes, body: str) -> bytes:
    return (
        f"From: {SENDER}\r\nTo: {ALLOWED}\r\nSubject: Private and Confidential: notes\r\n"
        "Message-ID: <pdf1@council.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain\r\n\r\n{body}\r\n"
        '--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="n.pdf"'
        "\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(data).decode().replace("\n", "\r\n")
        + "--b--\r\n"
    ).encode()


def _inspect(data: bytes, body: str = "I will phone you with the password.") -> Inspection:
    return inspect_message(_mail(data, body))


def _verdict(tmp_path: Path, data: bytes, body: str = "I will phone you with the password.",
             ) -> tuple[Action, list[ReasonCode]]:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    settings = Settings.model_validate({"config_dir": tmp_path, "policy": {"mode": "enforce"}})
    decision = Pipeline(settings).run(Envelope(SENDER, (ALLOWED,)), _mail(data, body))
    return decision.verdict.action, [r.code for r in decision.verdict.reasons]


def _clear_text(inspection: Inspection) -> str:
    return "\n".join(s.text for s in inspection.segments
                     if s.source is SegmentSource.ATTACHMENT and not s.inside_encrypted)


MADE = [
    pytest.param(metadata_left_clear, id="encrypt-metadata-false"),
    pytest.param(metadata_exempted, id="identity-crypt-filter-metadata"),
    pytest.param(file_exempted, id="identity-crypt-filter-embedded-file"),
]


@pytest.mark.parametrize("make", MADE)
def test_personal_data_left_unencrypted_in_an_aes_pdf_is_clear_content(
    tmp_path: Path, make: Callable[[str], bytes]
) -> None:
    data = make(_record())
    inspection = _inspect(data)
    (report,) = inspection.attachments
    assert (report.encryption, report.read_only) == (Encryption.AES_256, True)
    assert NHS in _clear_text(inspection)
    action, codes = _verdict(tmp_path, data)
    assert action is Action.REJECT
    assert codes == [ReasonCode.UNENCRYPTED_ATTACHMENT]


@pytest.mark.parametrize("make", MADE)
def test_a_harmless_unencrypted_part_is_read_and_the_pdf_delivered(
    tmp_path: Path, make: Callable[[str], bytes]
) -> None:
    data = make("Meeting notes")
    assert "Meeting notes" in _clear_text(_inspect(data))
    action, codes = _verdict(tmp_path, data)
    assert (action, codes) == (Action.DELIVER, [])


def test_an_aes_pdf_encrypted_throughout_shows_nothing_in_clear() -> None:
    inspection = _inspect(_aes_pdf())
    assert _clear_text(inspection) == "n.pdf"  # its file name only
    assert inspection.problems == ()


def test_a_password_that_is_also_the_owner_password_makes_it_editable(tmp_path: Path) -> None:
    data = _aes_pdf(owner_password=PASSWORD)
    body = f"Password: {PASSWORD}"
    (report,) = _inspect(data, body).attachments
    assert (report.encryption, report.password_opens, report.read_only) == (
        Encryption.AES_256, True, False
    )
    action, codes = _verdict(tmp_path, data, body)
    assert (action, codes) == (Action.REJECT, [ReasonCode.NOT_READ_ONLY])


def test_a_user_password_keeps_the_owner_restrictions(tmp_path: Path) -> None:
    data = _aes_pdf(owner_password="a-different-owner-secret")
    body = f"Password: {PASSWORD}"
    (report,) = _inspect(data, body).attachments
    assert (report.password_opens, report.read_only) == (True, True)
    assert _verdict(tmp_path, data, body) == (Action.DELIVER, [])
