"""ODF packages are read whole, as OOXML ones are: any part besides the
document's own XML, the package's plumbing, settings and pictures travels
with the document (an office suite opens it without showing the extra
file) and is read."""

from __future__ import annotations

import io
import zipfile

import pytest
from fixtures_content import NHS, odt

from gateway.extract import ExtractContext, build_registry
from gateway.model import Problem
from gateway.parse import ContentLimits

REGISTRY = build_registry()


def extract(data: bytes) -> tuple[str, list[Problem]]:
    ctx = ExtractContext.start(ContentLimits(), REGISTRY, "2")
    texts = REGISTRY.extract(data, ctx)
    return "\n".join(t.text for t in texts), ctx.problems


def with_parts(document: bytes, parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO(document)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("name, data", [
    ("notes.txt", f"Referral for NHS number {NHS}".encode()),
    ("custom/data.xml", f"<case><nhs>{NHS}</nhs></case>".encode()),
    ("Basic/Standard/Module1.xml", f"<script>' NHS {NHS}</script>".encode()),
    ("extra/referral.csv", f"name,nhs\nJane,{NHS}\n".encode()),
])
def test_a_part_off_the_fixed_list_is_read(name, data):
    text, problems = extract(with_parts(odt(["Case review"]), {name: data}))
    assert "Case review" in text
    assert NHS in text, name
    assert problems == []


def test_the_packages_own_parts_add_nothing():
    document = with_parts(odt(["Case review"]), {
        "settings.xml": b"<office:document-settings>PrinterName 07700 900123"
                        b"</office:document-settings>",
        "Thumbnails/thumbnail.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 32,
        "manifest.rdf": b"<rdf:RDF/>",
        "Configurations2/accelerator/current.xml": b"<x>07700 900123</x>",
    })
    text, problems = extract(document)
    assert text.strip() == "Case review"
    assert problems == []
