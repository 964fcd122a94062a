"""PDF encryption from the /Encrypt dictionary, and read-only from its permissions.

Standard security handler: V1 and V2 are RC4 (40 to 128 bits); V4 names its
crypt filter (/V2 = RC4, /AESV2 = AES-128); V5 (R5, R6) is AES-256 (/AESV3).
Another handler (certificates, plug-ins) is `unknown`.  A PDF counts as
encrypted only when it needs a user password: if the empty password opens
it, anyone can read it (an owner password only restricts what a reader lets
you do), so it is `none`.  It is read-only when the permissions (/P) deny
modifying (bit 4), annotating (bit 6), and from revision 3 filling in forms
(bit 9) and assembling pages (bit 11), and the password that opens
it is not also its owner password: whoever holds the owner password has
every right (edit, copy, remove the security), so a sender's password that
opens it as owner makes it editable.

What an encrypted PDF holds unencrypted (metadata left clear by
/EncryptMetadata false, streams or embedded files exempted by the Identity
crypt filter) is read without the password as clear content
(`clear_parts`): anyone who has the file reads it.
"""

from __future__ import annotations

from typing import Any

from pypdf import PasswordType
from pypdf.errors import PyPdfError

from gateway.extract.base import ExtractContext, ExtractionError
from gateway.extract.detect import PDF
from gateway.extract.pdf import clear_parts, open_pdf, pdf_text
from gateway.inspect.protection import Opened, Protected
from gateway.model import Encryption

_MODIFY = 1 << 3
_ANNOTATE = 1 << 5
_FILL_FORMS = 1 << 8
_ASSEMBLE = 1 << 10
_FILTERS = {"/V2": Encryption.RC4, "/AESV2": Encryption.AES_128, "/AESV3": Encryption.AES_256}
_ERRORS = (PyPdfError, ValueError, KeyError, TypeError, AttributeError, NotImplementedError)


def cipher(encrypt: Any) -> Encryption:
    """The cipher an /Encrypt dictionary names."""
    if str(encrypt.get("/Filter", "/Standard")) != "/Standard":
        return Encryption.UNKNOWN
    version = int(encrypt.get("/V", 0))
    if version in (1, 2):
        return Encryption.RC4
    if version in (4, 5):
        filters = encrypt.get("/CF")
        name = str(encrypt.get("/StmF", "/Identity"))
        if filters is None or name not in filters:
            return Encryption.UNKNOWN
        method = str(filters[name].get_object().get("/CFM", "/None"))
        found = _FILTERS.get(method, Encryption.UNKNOWN)
        if version == 5 and found is not Encryption.AES_256:
            return Encryption.UNKNOWN
        return found
    return Encryption.UNKNOWN


def read_only(encrypt: Any) -> bool:
    """Every change denied: modifying and annotating and, from revision 3
    (where the bits mean something; revision 2 sets them all), filling in
    form fields and assembling pages (ISO 32000-1 table 22, bits 9 and 11):
    a recipient allowed to delete pages or change a form's values can edit
    what they pass on."""
    permissions = int(encrypt.get("/P", -1)) & 0xFFFFFFFF
    denied = _MODIFY | _ANNOTATE
    if int(encrypt.get("/R", 2)) >= 3:
        denied |= _FILL_FORMS | _ASSEMBLE
    return not permissions & denied


def inspect_pdf(data: bytes, ctx: ExtractContext) -> Protected:
    reader = open_pdf(data)
    try:
        if not reader.is_encrypted:
            return Protected(Encryption.NONE, False, extract_as=PDF)
        encrypt = reader.trailer["/Encrypt"].get_object()
        found = cipher(encrypt)
        locked = read_only(encrypt)
        if found is Encryption.UNKNOWN:
            return Protected(found, locked)
        if reader.decrypt(""):
            # Owner password only: anyone can open it.
            return Protected(Encryption.NONE, locked, extract_as=PDF)
        clear = clear_parts(data, ctx)
    except _ERRORS as exc:
        raise ExtractionError(
            "malformed_document", f"PDF encryption: {type(exc).__name__}"
        ) from None

    def open_with(password: str) -> Opened | None:
        candidate = open_pdf(data)
        try:
            opened_as = candidate.decrypt(password)
        except _ERRORS:
            return None
        if opened_as == PasswordType.NOT_DECRYPTED:
            return None
        # The owner password lifts every restriction the permissions set.
        as_owner = opened_as == PasswordType.OWNER_PASSWORD
        return Opened(pdf_text(candidate, ctx), read_only=locked and not as_owner)

    return Protected(found, locked, opener=open_with, texts=clear)
