"""Soak: a steady mixed load against local processes (a `gateway serve`
subprocess on SQLite or PostgreSQL, and an in-process sink), for a set time.

    .venv/bin/python bench/soak.py --seconds 60 [--rate 40] [--connections 8]
                                   [--mode monitor|enforce|protect] [--db URL]

Mix (synthetic data only): clean mail; compliant mail (AES-256 zip holding
an NHS number, marked subject, allowed recipient); violating mail (an NHS
number in clear in the body); each with DSN NOTIFY=SUCCESS,FAILURE and
Disposition-Notification-To (receipts requested).  Reports throughput,
p50/p99 latency of the DATA reply, the gateway's RSS every few seconds, and
loss: every message that got 250 must reach the sink.
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from faker import Faker  # noqa: E402
from fixtures_content import aes_zip, mail  # noqa: E402
from gwtest import GatewayProcess, Sink, free_port, gateway_config, write_config  # noqa: E402

MESSAGE_ID = re.compile(rb"^Message-ID: <([^>]+)>", re.M | re.I)


def nhs_number(rng: random.Random) -> str:
    """9 random digits + the mod-11 check digit (10 is not valid: draw again)."""
    while True:
        digits = [rng.randrange(10) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, digits)) + str(check)


class Mix:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("en_GB")
        self.fake.seed_instance(seed)

    def message(self, n: int) -> tuple[str, bytes]:
        kind = self.rng.choices(["clean", "compliant", "violating"], [5, 3, 2])[0]
        message_id = f"soak-{n}@sender.example"
        headers = {"Message-ID": f"<{message_id}>",
                   "Disposition-Notification-To": "alex.carter@council.example.gov.uk"}
        name = self.fake.name()
        if kind == "clean":
            raw = mail(f"Hi,\n{self.fake.paragraph(5)}\n", subject=self.fake.sentence(4),
                       headers=headers)
        elif kind == "compliant":
            archive = aes_zip(256, {"referral.csv": (
                f"name,nhs_number,postcode\n{name},{nhs_number(self.rng)},"
                f"{self.fake.postcode()}\n").encode()})
            raw = mail("Please find the referral attached; password by phone.\n",
                       subject=f"Private and Confidential: referral {n}",
                       attachments=[("referral.zip", archive, "application/zip")],
                       headers=headers)
        else:
            raw = mail(f"Patient {name}, NHS number {nhs_number(self.rng)}, "
                       f"lives at {self.fake.postcode()}.\n", subject="Referral",
                       headers=headers)
        return kind, raw


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=40, help="messages per second, total")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--mode", default="monitor", choices=["monitor", "enforce", "protect"])
    parser.add_argument("--db", default="", help="database URL (default: SQLite in a temp dir)")
    parser.add_argument("--sample", type=float, default=5.0, help="RSS sample interval, s")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gateway-soak-"))
    db_url = args.db or f"sqlite+aiosqlite:///{work / 'gateway.db'}"
    if not args.db:
        from gateway.db.migrate import upgrade
        upgrade(db_url)
    sink = Sink()
    sink.start()
    port = free_port()
    config = gateway_config(
        work, db_url, sink.port,
        {"policy": {"mode": args.mode}, "queue": {"workers": 8},
         "server": {"max_message_size": 10_000_000}},
        listen=f"127.0.0.1:{port}", metrics="",
    )
    gw = GatewayProcess(config=write_config(work / "soak.toml", config), port=port,
                        log_path=work / "gateway.log")
    gw.start()
    assert gw.proc is not None
    print(f"soak: {args.seconds:.0f}s at {args.rate}/s over {args.connections} connections, "
          f"mode {args.mode}, db {db_url.split(':', 1)[0]}; gateway pid {gw.proc.pid}; "
          f"work dir {work}")

    lock = threading.Lock()
    accepted: dict[str, str] = {}
    replies: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    errors: collections.Counter[str] = collections.Counter()
    stop = threading.Event()
    counter = iter(range(10**9))
    started = time.monotonic()
    interval = args.connections / args.rate

    def client(seed: int) -> None:
        mix = Mix(args.seed * 1000 + seed)
        smtp = smtplib.SMTP("127.0.0.1", port, timeout=60)
        next_at = time.monotonic()
        while not stop.is_set():
            next_at += interval
            with lock:
                n = next(counter)
            kind, raw = mix.message(n)
            t0 = time.perf_counter()
            try:
                smtp.ehlo_or_helo_if_needed()
                smtp.mail("alex.carter@council.example.gov.uk", ["RET=HDRS"])
                smtp.rcpt("sam.patel@recipient.example", ["NOTIFY=SUCCESS,FAILURE"])
                code, text = smtp.data(raw)
            except (OSError, smtplib.SMTPException) as exc:
                with lock:
                    errors[type(exc).__name__] += 1
                try:
                    smtp.close()
                finally:
                    smtp = smtplib.SMTP("127.0.0.1", port, timeout=60)
                continue
            took = time.perf_counter() - t0
            with lock:
                latencies.append(took)
                replies[f"{kind} {code}"] += 1
                if code == 250:
                    accepted[f"soak-{n}@sender.example"] = text.decode().split()[-1]
            if code != 250:
                smtp.rset()
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        smtp.quit()

    threads = [threading.Thread(target=client, args=(n,), daemon=True)
               for n in range(args.connections)]
    for t in threads:
        t.start()
    rss: list[tuple[float, float]] = []
    while time.monotonic() - started < args.seconds:
        rss.append((time.monotonic() - started, rss_mb(gw.proc.pid)))
        time.sleep(min(args.sample, max(0.0, args.seconds - (time.monotonic() - started))))
    stop.set()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - started
    rss.append((elapsed, rss_mb(gw.proc.pid)))

    deadline = time.monotonic() + 60
    while True:
        got: collections.Counter[str] = collections.Counter()
        for m in sink.snapshot():
            match = MESSAGE_ID.search(m.content.split(b"\r\n\r\n", 1)[0])
            if match and m.mail_from:
                got[match.group(1).decode()] += 1
        if set(accepted) <= set(got) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    lost = set(accepted) - set(got)
    duplicates = sum(c - 1 for c in got.values() if c > 1)
    sent = sum(replies.values())
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0.0

    print(f"\nsent {sent} in {elapsed:.1f}s = {sent / elapsed:.1f} msg/s; "
          f"accepted {len(accepted)}; delivered {len(set(got) & set(accepted))}; "
          f"lost {len(lost)}; duplicates {duplicates}; client errors {dict(errors) or 0}")
    print("replies by kind: " + ", ".join(f"{k}: {v}" for k, v in sorted(replies.items())))
    if lat:
        print(f"DATA latency ms: p50 {pct(0.5):.1f}  p90 {pct(0.9):.1f}  p99 {pct(0.99):.1f}  "
              f"max {lat[-1] * 1000:.1f}  mean {statistics.mean(lat) * 1000:.1f}")
    print("gateway RSS MB over time: " + ", ".join(f"{t:.0f}s {mb:.0f}" for t, mb in rss))
    code = gw.terminate(60)
    sink.close()
    print(f"gateway exit code {code}")
    return 1 if lost or code != 0 else 0


if __name__ == "__main__":
    raise SystemExit(main())
