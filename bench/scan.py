"""Detection throughput, single core: MB/s and messages/s.

    .venv/bin/python bench/scan.py [--corpus tests/data/corpus] [--synthetic-mb 20]

Three figures:

    detect (corpus)     DetectionEngine.detect over the segments of every corpus
                        message, already inspected: the detection stage alone
    detect (synthetic)  the same over a larger text made of the corpus's
                        segments repeated in shuffled order, in 64 KB segments
                        (as dense in identifiers as the corpus: a worst case)
    detect (prose)      Faker en_GB paragraphs with no identifiers, in 64 KB
                        segments: the other end, text that is all prose
    inspect + detect    inspect_message then detect on each raw .eml, i.e. what
                        `gateway scan` does per message before the policy

MB are of the text's UTF-8 bytes (detection) or of the raw .eml (end to end).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from faker import Faker

from gateway.detect import build_engine
from gateway.inspect import inspect_message
from gateway.model import SegmentSource, TextSegment

ROOT = Path(__file__).resolve().parents[1]


def _best_of(runs: int, work: Callable[[], object]) -> float:
    """The fastest of `runs` timings of `work()` (least disturbed by the machine)."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description="detection throughput")
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "data" / "corpus")
    parser.add_argument("--synthetic-mb", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    files = sorted(args.corpus.glob("*.eml"))
    if not files:
        print(f"no .eml files under {args.corpus}; run tests/data/make_corpus.py", file=sys.stderr)
        return 1
    raws = [path.read_bytes() for path in files]
    engine = build_engine()
    inspections = [inspect_message(raw) for raw in raws]
    messages = [inspection.segments for inspection in inspections]
    text_bytes = sum(len(s.text.encode()) for segments in messages for s in segments)

    def detect_corpus() -> None:
        for segments in messages:
            engine.detect(segments)

    elapsed = _best_of(args.runs, detect_corpus)
    print(f"regex backend        {engine.backend}")
    print(
        f"detect (corpus)      {text_bytes / elapsed / 1e6:8.1f} MB/s  "
        f"{len(messages) / elapsed:9.0f} msg/s  ({len(messages)} messages, "
        f"{text_bytes / 1e6:.2f} MB of text)"
    )

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
    synthetic_bytes = sum(len(s.text.encode()) for s in segments)
    elapsed = _best_of(max(1, args.runs // 2), lambda: engine.detect(segments))
    print(
        f"detect (synthetic)   {synthetic_bytes / elapsed / 1e6:8.1f} MB/s  "
        f"({synthetic_bytes / 1e6:.1f} MB in {len(segments)} segments)"
    )

    fake = Faker("en_GB")
    fake.seed_instance(1)
    prose = "\n\n".join(
        fake.paragraph(nb_sentences=8) for _ in range(int(args.synthetic_mb * 2500))
    )
    prose_segments = [
        TextSegment("1", SegmentSource.BODY, prose[i : i + 65536])
        for i in range(0, len(prose), 65536)
    ]
    elapsed = _best_of(max(1, args.runs // 2), lambda: engine.detect(prose_segments))
    print(
        f"detect (prose)       {len(prose) / elapsed / 1e6:8.1f} MB/s  "
        f"({len(prose) / 1e6:.1f} MB in {len(prose_segments)} segments)"
    )

    def end_to_end() -> None:
        for raw in raws:
            engine.detect(inspect_message(raw).segments)

    elapsed = _best_of(max(1, args.runs // 2), end_to_end)
    raw_bytes = sum(len(raw) for raw in raws)
    print(
        f"inspect + detect     {raw_bytes / elapsed / 1e6:8.1f} MB/s  "
        f"{len(raws) / elapsed:9.0f} msg/s  (raw .eml)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
