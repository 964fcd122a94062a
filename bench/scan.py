"""Detection throughput, single core: MB/s and messages/s.

    .venv/bin/python bench/scan.py [--corpus tests/data/corpus] [--synthetic-mb 20]
                                   [--typical 1000] [--profile typical|corpus|e2e]

Figures:

    detect (typical)    DetectionEngine.detect over the segments of generated
                        typical staff mail (bench/typical_mail.py: prose, a
                        signature block, quoted replies, one identifier in about
                        one message in ten), already inspected; an HTML
                        alternative whose text is the plain part's is read
                        once (DetectionEngine.detect): 28% of the text here
    inspect + detect (typical)   inspect_message then detect on each of those
                        raw .eml, i.e. what `gateway scan` does per message
                        before the policy
    detect (corpus)     the same over the labelled corpus (tests/data/corpus):
                        dense, a candidate every 60-70 bytes
    detect (synthetic)  the corpus's segments repeated in shuffled order, in
                        64 KB segments (as dense as the corpus: a worst case)
    detect (prose)      Faker en_GB paragraphs with no identifiers, in 64 KB
                        segments: the other end, text that is all prose
    inspect + detect (corpus)    inspect_message then detect on each corpus .eml

MB are of the text's UTF-8 bytes (detection) or of the raw .eml (end to end).
Each figure is the best of a few runs; nothing is cached between messages
(`phonenumbers` lookups aside: the engine caches those by digits, as it does
in production).  --profile prints the cProfile top functions of one stage.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from faker import Faker

from gateway.detect import DetectionEngine, build_engine
from gateway.inspect import inspect_message
from gateway.model import SegmentSource, TextSegment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from typical_mail import messages as typical_messages  # noqa: E402


def _best_of(runs: int, work: Callable[[], object]) -> float:
    """The fastest of `runs` timings of `work()` (least disturbed by the machine)."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def _line(label: str, size: int, elapsed: float, count: int | None, note: str) -> None:
    rate = f"{count / elapsed:9.0f} msg/s" if count is not None else " " * 15
    print(f"{label:28} {size / elapsed / 1e6:8.1f} MB/s  {rate}  ({note})")


def _text_bytes(messages: Sequence[Sequence[TextSegment]]) -> int:
    return sum(len(s.text.encode()) for segments in messages for s in segments)


def _profile(work: Callable[[], object]) -> None:
    work()  # warm up: RE2's DFA states and lazily compiled regexes
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> int:
    parser = argparse.ArgumentParser(description="detection throughput")
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "data" / "corpus")
    parser.add_argument("--synthetic-mb", type=float, default=20.0)
    parser.add_argument("--typical", type=int, default=1000, help="typical messages to generate")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", choices=("typical", "typical-e2e", "corpus", "e2e"))
    args = parser.parse_args()

    files = sorted(args.corpus.glob("*.eml"))
    if not files:
        print(f"no .eml files under {args.corpus}; run tests/data/make_corpus.py", file=sys.stderr)
        return 1
    engine = build_engine()
    raws = [path.read_bytes() for path in files]
    messages = [inspect_message(raw).segments for raw in raws]
    typical_raws = typical_messages(args.typical, seed=1)
    typical = [inspect_message(raw).segments for raw in typical_raws]

    def detect_all(batch: Sequence[Sequence[TextSegment]]) -> Callable[[], None]:
        def work() -> None:
            for segments in batch:
                engine.detect(segments)

        return work

    def end_to_end(batch: Sequence[bytes]) -> Callable[[], None]:
        def work() -> None:
            for raw in batch:
                engine.detect(inspect_message(raw).segments)

        return work

    if args.profile:
        work = {
            "typical": detect_all(typical),
            "typical-e2e": end_to_end(typical_raws),
            "corpus": detect_all(messages),
            "e2e": end_to_end(raws),
        }[args.profile]
        _profile(work)
        return 0

    print(f"regex backend                {engine.backend}")
    size = _text_bytes(typical)
    elapsed = _best_of(args.runs, detect_all(typical))
    _line("detect (typical)", size, elapsed, len(typical),
          f"{len(typical)} messages, {size / 1e6:.2f} MB of text")  # fmt: skip
    size = sum(len(raw) for raw in typical_raws)
    elapsed = _best_of(max(1, args.runs // 2), end_to_end(typical_raws))
    _line("inspect + detect (typical)", size, elapsed, len(typical_raws),
          f"raw .eml, {size / 1e6:.2f} MB")  # fmt: skip

    size = _text_bytes(messages)
    elapsed = _best_of(args.runs, detect_all(messages))
    _line("detect (corpus)", size, elapsed, len(messages),
          f"{len(messages)} messages, {size / 1e6:.2f} MB of text")  # fmt: skip
    _synthetic(engine, messages, args)
    _prose(engine, args)
    size = sum(len(raw) for raw in raws)
    elapsed = _best_of(max(1, args.runs // 2), end_to_end(raws))
    _line("inspect + detect (corpus)", size, elapsed, len(raws), f"raw .eml, {size / 1e6:.2f} MB")
    return 0


def _synthetic(
    engine: DetectionEngine, messages: Sequence[Sequence[TextSegment]], args: argparse.Namespace
) -> None:
    rng = random.Random(1)
    pieces = [s.text for segments in messages for s in segments]
    chunks: list[str] = []
    size = 0
    while size < args.synthetic_mb * 1e6:
        chunk = "\n\n".join(rng.sample(pieces, min(len(pieces), 40)))
        chunks.append(chunk)
        size += len(chunk.encode())
    text = "\n\n".join(chunks)
    segments = [
        TextSegment("1", SegmentSource.BODY, text[i : i + 65536])
        for i in range(0, len(text), 65536)
    ]
    size = sum(len(s.text.encode()) for s in segments)
    elapsed = _best_of(max(1, args.runs // 2), lambda: engine.detect(segments))
    _line(
        "detect (synthetic)",
        size,
        elapsed,
        None,
        f"{size / 1e6:.1f} MB in {len(segments)} segments",
    )


def _prose(engine: DetectionEngine, args: argparse.Namespace) -> None:
    fake = Faker("en_GB")
    fake.seed_instance(1)
    prose = "\n\n".join(
        fake.paragraph(nb_sentences=8) for _ in range(int(args.synthetic_mb * 2500))
    )
    segments = [
        TextSegment("1", SegmentSource.BODY, prose[i : i + 65536])
        for i in range(0, len(prose), 65536)
    ]
    elapsed = _best_of(max(1, args.runs // 2), lambda: engine.detect(segments))
    _line("detect (prose)", len(prose), elapsed, None,
          f"{len(prose) / 1e6:.1f} MB in {len(segments)} segments")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
