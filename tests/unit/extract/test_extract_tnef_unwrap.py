"""`unwrap_tnef`: a winmail.dat's own text, and its attached files whole.

The inspect stage judges each file Outlook attached inside a winmail.dat as
the attachment the recipient's Outlook shows, so the files come back as
they are (not read here), with their names and their properties' text;
the stream's own text (body, properties) is read as `extract` reads it.
"""

from __future__ import annotations

import pytest
from fixtures_content import tnef

from gateway.extract import ExtractContext, ExtractionError, build_registry
from gateway.extract.tnef import OutlookFile, unwrap_tnef
from gateway.parse import ContentLimits

REGISTRY = build_registry()


def context() -> ExtractContext:
    return ExtractContext.start(ContentLimits(), REGISTRY, "2")


def test_the_files_come_back_whole_and_the_text_is_the_streams_own() -> None:
    ctx = context()
    unwrapped = unwrap_tnef(
        tnef("See the rota.", {"rota.txt": b"Mon: Sam", "plan.bin": b"\x00\x01\x02"}), ctx
    )
    assert [(f.name, f.data) for f in unwrapped.files] == [
        ("rota.txt", b"Mon: Sam"), ("plan.bin", b"\x00\x01\x02"),
    ]
    texts = "\n".join(t.text for t in unwrapped.texts)
    assert "See the rota." in texts
    assert "Mon: Sam" not in texts  # a file's content is its own attachment's
    assert ctx.problems == []


def test_a_files_properties_come_with_it() -> None:
    (file,) = unwrap_tnef(tnef("", {"notes.txt": b"hello"}), context()).files
    assert isinstance(file, OutlookFile)
    assert "notes.txt" in file.properties  # attAttachTitle


def test_an_attachment_without_data_stays_in_the_streams_text() -> None:
    stream = tnef("", {"link.url": b""})
    unwrapped = unwrap_tnef(stream, context())
    assert unwrapped.files == ()
    assert "link.url" in [t.member for t in unwrapped.texts]


def test_a_stream_cut_short_keeps_what_was_read_and_is_a_problem() -> None:
    stream = tnef("", {"a.txt": b"first", "b.txt": b"second file"})
    ctx = context()
    unwrapped = unwrap_tnef(stream[:-6], ctx)
    assert [f.name for f in unwrapped.files][:1] == ["a.txt"]
    assert "malformed_document" in {p.code for p in ctx.problems}


@pytest.mark.parametrize("data", [b"", b"not a tnef stream"])
def test_no_signature_raises_as_extract_does(data: bytes) -> None:
    with pytest.raises(ExtractionError):
        unwrap_tnef(data, context())
