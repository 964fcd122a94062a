"""Console timings at scale on PostgreSQL (not a test; run by hand).

Seeds N audit records (default 1,000,000) with bench/audit.py's COPY
seeding (the chain computed exactly as AuditTrail does), then times, through
the real app (Starlette TestClient, signed in, HTML rendered), the first page
of typical searches, a later page (keyset cursor), a record's timeline and
the dashboard (cold: its one-minute cache is cleared before every run).

    .venv/bin/python tests/web/bench_console.py [--records N] [--url URL] [--runs 30]
        [--reuse DBNAME] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "bench"), str(Path(__file__).resolve().parent)]

import asyncpg  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from gateway.db.migrate import upgrade  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.web import create_app  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--url", default=os.environ.get(
        "GATEWAY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--reuse", help="an already seeded database name")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    import audit as audit_bench  # bench/audit.py

    base = make_url(args.url)
    admin = {"host": base.host or "127.0.0.1", "port": base.port or 5432,
             "user": base.username or "postgres", "password": base.password}
    name = args.reuse or f"console_bench_{os.getpid()}"
    url = base.set(database=name).render_as_string(hide_password=False)

    async def admin_sql(sql: str) -> None:
        conn = await asyncpg.connect(**admin, database="postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    world = audit_bench.World(args.records)
    if not args.reuse:
        asyncio.run(admin_sql(f"CREATE DATABASE {name}"))
        upgrade(url)
        seconds = asyncio.run(audit_bench.seed({**admin, "database": name}, world))
        print(f"seeded {args.records:,} records in {seconds:.0f}s")

        async def analyze() -> None:
            conn = await asyncpg.connect(**admin, database=name)
            try:
                await conn.execute("VACUUM ANALYZE")
            finally:
                await conn.close()

        asyncio.run(analyze())
    try:
        password = "bench-pass"
        settings = Settings.model_validate({
            "database": {"url": url},
            "web": {"users": [{"name": "ig", "role": "admin", "password_hash":
                               PasswordHasher(time_cost=1, memory_cost=1024).hash(password)}]},
        })
        app = create_app(settings)
        recipient = world.recipients[123][0]
        searches = {
            "no filter": "/audit",
            "verdict=reject": "/audit?verdict=reject",
            "verdict=hold": "/audit?verdict=hold",
            "recipient": f"/audit?recipient={recipient}",
            "sender": "/audit?sender=staff42@council.example",
            "sender wildcard staff4*": "/audit?sender=staff4*",
            "type + since 90d": "/audit?type=uk_nhs_number&since=2025-10-01",
            "organisation + range": "/audit?organisation=Organisation+7+NHS+Trust"
                                    "&since=2025-01-01&until=2025-03-31",
            "never:delivery_confirmed": "/audit?event=never:delivery_confirmed",
            "record timeline": f"/audit/records/B{args.records // 2:012d}",
        }
        with TestClient(app, base_url="http://bench") as client:
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text)
            assert token is not None
            client.post("/signin", data={"name": "ig", "password": password,
                                         "csrf": token.group(1)})
            first = client.get("/audit").text
            older = re.search(r'href="(/audit\?[^"]*after=[^"]*)">Older', first)
            if older:
                searches["no filter, page 2 (keyset)"] = older.group(1).replace("&amp;", "&")
            for label, path in searches.items():
                times = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    response = client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
                times.sort()
                print(f"{label:<30} p50 {statistics.median(times):7.1f} ms  "
                      f"p95 {times[int(len(times) * 0.95) - 1]:7.1f} ms  max {times[-1]:7.1f} ms")
            for days in (7, 30, 90):
                times = []
                for _ in range(max(3, args.runs // 5)):
                    app.state.console.dashboards.clear()
                    started = time.perf_counter()
                    assert client.get(f"/dashboard?days={days}").status_code == 200
                    times.append((time.perf_counter() - started) * 1000)
                print(f"dashboard {days} days (cold)       p50 {statistics.median(times):7.1f} ms"
                      f"  max {max(times):7.1f} ms")
        # The seeded trail ends at START + SPAN, so the page's "last N days"
        # may hold nothing today: time the same queries at the data's end too.
        from gateway.db import create_engine
        from gateway.web.queries import dashboard

        async def at_data_end(days: int) -> tuple[float, int]:
            engine = create_engine(url)
            try:
                started = time.perf_counter()
                data = await dashboard(engine, days, now=audit_bench.START + audit_bench.SPAN)
                return (time.perf_counter() - started) * 1000, sum(data.totals.values())
            finally:
                await engine.dispose()

        for days in (7, 30, 90):
            runs = [asyncio.run(at_data_end(days)) for _ in range(3)]
            print(f"dashboard {days} days at data end   p50 "
                  f"{statistics.median(ms for ms, _ in runs):7.1f} ms  ({runs[0][1]:,} records)")
    finally:
        if not args.keep and not args.reuse:
            asyncio.run(admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
