"""`gateway scan [--from ADDR] [--to ADDR]... [--json] PATH...`: what live mail would get.

Each `.eml` file (a folder means every `.eml` under it) goes through the very
`Pipeline` the SMTP listener uses, with the current configuration and
allow-list, so a scanned file and the same message sent live always get the
same verdict.  Without `--from`/`--to` the envelope is taken from the From,
To and Cc headers.  Nothing is sent, queued or recorded.

Output: a readable block per file (verdict, reasons and how to fix each), or
with `--json` one object per line with the DESIGN.md fields.  A progress bar
goes to stderr when it is a terminal, or every 10% when there are many files.
Exit 0 after scanning (whatever the verdicts), 1 for a bad configuration, 2
for bad arguments or a path that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from gateway.cli.common import add_config, settings_or_exit
from gateway.model import Envelope

if TYPE_CHECKING:
    from gateway.pipeline import Decision

_MANY = 50  # from this many files a progress line is shown even off a terminal


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scan = commands.add_parser(
        "scan", help="print the verdict .eml files would get, without sending them"
    )
    add_config(scan)
    scan.add_argument("--from", dest="sender", metavar="ADDR",
                      help="envelope sender (default: the From header)")
    scan.add_argument("--to", dest="recipients", metavar="ADDR", action="append",
                      help="envelope recipient, repeatable (default: To and Cc headers)")
    scan.add_argument("--json", action="store_true", help="one JSON object per line")
    scan.add_argument("paths", nargs="+", metavar="PATH", help=".eml files or folders")
    scan.set_defaults(handler=_scan)


def collect(paths: list[str]) -> tuple[list[Path], list[str]]:
    """The files to scan and the problems with the paths given."""
    files: list[Path] = []
    problems: list[str] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            try:
                found = sorted(p for p in path.rglob("*") if p.suffix.lower() == ".eml" and p.is_file())
            except OSError as exc:
                problems.append(f"{name}: cannot read folder ({exc.strerror})")
                continue
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.exists():
            problems.append(f"{name}: not a file or folder")
        else:
            problems.append(f"{name}: no such file or folder")
    return files, problems


def envelope_for(content: bytes, sender: str | None, recipients: list[str] | None) -> Envelope:
    """The envelope given on the command line, else the one the headers imply."""
    if sender is not None and recipients:
        return Envelope(mail_from=sender, rcpt_tos=tuple(recipients), peer="scan")
    headers = BytesHeaderParser(policy=compat32).parsebytes(content)

    def addresses(*names: str) -> list[str]:
        values = [str(v) for n in names for v in (headers.get_all(n) or [])]
        return [addr for _, addr in getaddresses(values) if "@" in addr]

    mail_from = sender if sender is not None else next(iter(addresses("From")), "")
    rcpts = recipients or list(dict.fromkeys(addresses("To", "Cc")))
    return Envelope(mail_from=mail_from, rcpt_tos=tuple(rcpts), peer="scan")


def result_document(file: str, decision: Decision) -> dict[str, Any]:
    """The DESIGN.md `gateway scan --json` object, and nothing else."""
    verdict = decision.verdict
    return {
        "file": file,
        "personal_data": verdict.personal_data,
        "information_types": [t.value for t in verdict.information_types],
        "verdict": verdict.action.value,
        "reasons": [{"code": r.code.value, "text": r.text} for r in verdict.reasons],
        "password": decision.password_state,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "encryption": a.encryption.value,
                "read_only": a.read_only,
            }
            for a in decision.attachments
        ],
    }


def _print_readable(file: str, decision: Decision, out: TextIO) -> None:
    verdict = decision.verdict
    line = f"{file}: {verdict.action.value.upper()}"
    if verdict.would_action is not None and verdict.would_action != verdict.action:
        line += f" (monitor mode; enforce would {verdict.would_action.value})"
    print(line, file=out)
    types = ", ".join(t.value for t in verdict.information_types)
    data = "yes" if verdict.personal_data else "no"
    print(f"  personal data: {data}" + (f" ({types})" if types else ""), file=out)
    if verdict.marking:
        print(f"  marking: {verdict.marking}", file=out)
    if decision.password_state != "none":
        print(f"  password: {decision.password_state}", file=out)
    for attachment in decision.attachments:
        read_only = {True: "read-only", False: "editable", None: "read-only unknown"}[
            attachment.read_only
        ]
        print(f"  attachment: {attachment.filename or '(no name)'}  {attachment.content_type}  "
              f"{attachment.encryption.value}  {read_only}", file=out)
    for reason in verdict.reasons:
        print(f"  - {reason.code.value}: {reason.text}", file=out)
        if reason.fix:
            print(f"      fix: {reason.fix}", file=out)
    print(file=out)


class Progress:
    """A plain-text progress bar on stderr."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.enabled = total > 1 and (self.tty or total >= _MANY)
        self.started = time.monotonic()
        self._last_tenth = -1

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        if self.tty:
            width = 30
            filled = width * done // self.total
            rate = done / max(time.monotonic() - self.started, 1e-6)
            self.stream.write(
                f"\rscanning [{'#' * filled}{'.' * (width - filled)}] "
                f"{done}/{self.total} ({rate:.0f}/s)"
            )
            self.stream.flush()
            return
        tenth = 10 * done // self.total
        if tenth != self._last_tenth:
            self._last_tenth = tenth
            print(f"scanning: {done}/{self.total} files", file=self.stream, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _scan(args: argparse.Namespace) -> int:
    if args.sender is not None and not args.recipients:
        print("error: --from needs at least one --to (or give neither)", file=sys.stderr)
        return 2
    files, problems = collect(args.paths)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 2
    settings = settings_or_exit(args)
    from gateway.pipeline import Pipeline

    pipeline = Pipeline(settings)
    progress = Progress(len(files), sys.stderr)
    counts: Counter[str] = Counter()
    unreadable = 0
    for done, path in enumerate(_each(files), 1):
        file, content = path
        if content is None:
            unreadable += 1
        else:
            envelope = envelope_for(content, args.sender, args.recipients)
            decision = pipeline.run(envelope, content)
            counts[decision.verdict.action.value] += 1
            if args.json:
                print(json.dumps(result_document(file, decision), ensure_ascii=False))
            else:
                _print_readable(file, decision, sys.stdout)
        progress.update(done)
    progress.close()
    if not args.json:
        summary = ", ".join(f"{n} {word}" for word, n in sorted(counts.items()))
        print(f"{sum(counts.values())} file(s) scanned" + (f": {summary}" if summary else ""))
    return 2 if unreadable else 0


def _each(files: list[Path]) -> Iterator[tuple[str, bytes | None]]:
    for path in files:
        try:
            yield str(path), path.read_bytes()
        except OSError as exc:
            print(f"error: {path}: cannot read ({exc.strerror})", file=sys.stderr)
            yield str(path), None
