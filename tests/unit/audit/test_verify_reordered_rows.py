"""Rows moved within the chain, none missing nor added, are said to be
moved or reordered, not deleted and inserted: every row is still there and
links to the row it followed when written, only not in seq order."""

from __future__ import annotations

from gateway.audit import verify

MOVED = "moved or reordered"


async def swap_seqs(tamper, table: str, a: int, b: int) -> None:
    await tamper(f"UPDATE {table} SET seq = -seq WHERE seq IN ({a}, {b})",
                 f"UPDATE {table} SET seq = CASE seq WHEN -{a} THEN {b} ELSE {a} END "
                 "WHERE seq < 0")


async def test_two_events_swapped_are_said_reordered(engine, seed, tamper):
    await seed(3)  # record 1, events 2-5, record 6 ...
    await swap_seqs(tamper, "audit_events", 3, 4)
    report = await verify(engine)
    assert report.problems == [
        "rows seq 3-4 moved or reordered: every one is still there and links to the row it "
        "followed when written, but they are not in seq order (nothing is missing or added)"]
    assert report.details == [[]]


async def test_two_records_swapped_whole_are_said_reordered(engine, seed, tamper):
    await seed(3)
    await swap_seqs(tamper, "audit_records", 6, 11)
    await tamper("UPDATE audit_record_terms SET record_seq = -record_seq "
                 "WHERE record_seq IN (6, 11)",
                 "UPDATE audit_record_terms SET record_seq = CASE record_seq WHEN -6 THEN 11 "
                 "ELSE 6 END WHERE record_seq < 0")
    report = await verify(engine)
    assert len(report.problems) == 1 and report.problems[0].startswith(
        f"rows seq 6-11 {MOVED}:"), report.problems


async def test_a_deletion_renumbered_is_still_a_deletion(engine, seed, tamper):
    await seed(3)
    await tamper("DELETE FROM audit_events WHERE seq = 3",
                 "UPDATE audit_events SET seq = -(seq - 1) WHERE seq > 3",
                 "UPDATE audit_events SET seq = -seq WHERE seq < 0")
    report = await verify(engine)
    assert not report.ok and not any(MOVED in p for p in report.problems)
