"""Fuzz target for the content stages: `inspect_message(raw, limits)` must
never raise, whatever the bytes.

    python tests/fuzz/fuzz_parse.py [atheris/libFuzzer args] [corpus dir]
        coverage-guided with atheris (pip install atheris) when available
    python tests/fuzz/fuzz_parse.py --plain --seconds 60 --seed 1
        a seeded random-mutation loop (no atheris needed): the same target,
        run over mutations of the seed corpus

`run_plain(seconds, iterations, seed)` is what the pytest wrapper calls.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent.parent)]

try:  # coverage for the parser and extractors when run under atheris
    import atheris

    with atheris.instrument_imports(include=["gateway"]):
        from gateway.inspect import ContentLimits, inspect_message
except ImportError:
    from gateway.inspect import ContentLimits, inspect_message

# Tight limits: the fuzzer explores structure, not big inputs.
LIMITS = ContentLimits(
    max_parts=50, max_depth=8, max_decoded_bytes=4 * 1024 * 1024, max_archive_entries=200,
    max_archive_total=8 * 1024 * 1024, extract_timeout_s=2.0, total_timeout_s=5.0,
)


def target(data: bytes) -> None:
    inspection = inspect_message(data, LIMITS)
    # inspect_message turns every failure into a Problem; "internal_error"
    # means an extractor raised something it should have handled.
    codes = {p.code for p in inspection.problems}
    if "internal_error" in codes:
        detail = [p.detail for p in inspection.problems if p.code == "internal_error"]
        raise AssertionError(f"internal_error while inspecting: {detail}")


def seeds() -> list[bytes]:
    """A small corpus covering every extractor: built in code, synthetic data."""
    from fixtures_content import (
        NHS,
        aes_zip,
        docx,
        encrypted_pdf,
        mail,
        nested_bomb,
        odt,
        pdf_with_text,
        pptx,
        rtf,
        tnef,
        xlsx,
    )

    octet = "application/octet-stream"
    return [
        mail(f"Dear Sam,\nNHS {NHS}\nPassword: Blue42\n", html="<p>943<b>476</b>5919</p>",
             subject="=?utf-8?q?Private_and_Confidential?="),
        mail(attachments=[("a.docx", docx([[f"NHS {NHS}"]]), octet)]),
        mail(attachments=[("a.xlsx", xlsx([["NHS", 9434765919]]), octet)]),
        mail(attachments=[("a.pptx", pptx([f"NHS {NHS}"]), octet)]),
        mail(attachments=[("a.odt", odt([f"NHS {NHS}"]), octet)]),
        mail(attachments=[("a.zip", aes_zip(256, {"a.csv": NHS.encode()}), "application/zip")]),
        mail(attachments=[("n.zip", nested_bomb(2, 2), "application/zip")]),
        mail(attachments=[("a.pdf", pdf_with_text(f"NHS {NHS}"), "application/pdf")]),
        mail(attachments=[("b.pdf", encrypted_pdf("x", "AES-128"), "application/pdf")]),
        mail(attachments=[("a.rtf", rtf(f"NHS {NHS}"), "application/rtf")]),
        mail(attachments=[("winmail.dat", tnef("body", {"a.txt": NHS.encode()}),
                           "application/ms-tnef")]),
        b"Subject: x\r\nContent-Type: message/rfc822\r\n\r\nSubject: y\r\n\r\nbody\r\n",
    ]


def mutate(data: bytes, rng: random.Random, corpus: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        choice = rng.random()
        if not out or choice < 0.15:
            other = rng.choice(corpus)
            cut = rng.randrange(len(other) + 1)
            out[rng.randrange(len(out) + 1):] = other[cut:]  # splice
        elif choice < 0.35:
            out = out[: rng.randrange(len(out))]  # truncate
        elif choice < 0.65:
            for _ in range(rng.randrange(1, 16)):
                out[rng.randrange(len(out))] = rng.randrange(256)  # flip bytes
        elif choice < 0.85:
            start = rng.randrange(len(out))
            chunk = out[start : start + rng.randrange(1, 64)]
            at = rng.randrange(len(out) + 1)
            out[at:at] = chunk * rng.randrange(1, 8)  # repeat a chunk
        else:
            token = rng.choice([b"\r\n--", b"boundary=", b"=?utf-8?q?", b"PK\x03\x04", b"%PDF",
                                b"Content-Type: multipart/mixed; boundary=\"b\"\r\n", b"\x00",
                                b"base64", b"\r\n\r\n", b"{\\rtf1", b"\xd0\xcf\x11\xe0"])
            at = rng.randrange(len(out) + 1)
            out[at:at] = token
    return bytes(out)


def run_plain(seconds: float = 60.0, iterations: int | None = None, seed: int = 0) -> int:
    """The seeded random-mutation loop; returns how many inputs it ran."""
    rng = random.Random(seed)
    corpus = seeds()
    for raw in corpus:
        target(raw)
    deadline = time.monotonic() + seconds
    done = 0
    while time.monotonic() < deadline and (iterations is None or done < iterations):
        data = mutate(rng.choice(corpus), rng, corpus)
        try:
            target(data)
        except BaseException:
            folder = Path(os.environ.get("GATEWAY_FUZZ_ARTIFACTS", tempfile.gettempdir()))
            crash = folder / f"crash-plain-{seed}-{done}.eml"
            crash.write_bytes(data)
            print(f"crash input written to {crash}", file=sys.stderr)
            raise
        if rng.random() < 0.05 and len(corpus) < 200:
            corpus.append(data)  # keep some mutants as new parents
        done += 1
    return done


def main() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--plain", action="store_true")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args, rest = parser.parse_known_args()
    try:
        import atheris
    except ImportError:
        atheris = None
    if args.plain or atheris is None:
        n = run_plain(args.seconds, args.iterations, args.seed)
        print(f"plain fuzz loop: {n} inputs, no failure")
        return
    flags = [a for a in rest if a.startswith("-")]
    dirs = [Path(a) for a in rest if not a.startswith("-")] or [
        Path(tempfile.gettempdir()) / "gateway-fuzz-corpus"
    ]
    for corpus_dir in dirs:
        corpus_dir.mkdir(parents=True, exist_ok=True)
        if not any(corpus_dir.iterdir()):
            for n, raw in enumerate(seeds()):
                (corpus_dir / f"seed-{n}.eml").write_bytes(raw)
    atheris.Setup([sys.argv[0], *flags, *map(str, dirs)], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
