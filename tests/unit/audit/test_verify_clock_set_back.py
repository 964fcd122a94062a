"""`gateway audit verify` warns of a record received well before the record
written before it: the clock of the replica that wrote it was set back (a
record's time decides which hour every search and report puts it in).
Replicas' clocks differ by seconds, so a small step back says nothing;
and the hashes hold, so it is a warning, not a failure."""

from __future__ import annotations

from datetime import timedelta

from audit_support import T0

from gateway.audit import verify


async def test_a_record_written_under_a_clock_set_back_is_named(engine, seed):
    await seed(1, received_at=T0)                                         # seq 1
    await seed(1, received_at=T0 - timedelta(minutes=1))                  # seq 6: clocks differ
    await seed(1, received_at=T0 - timedelta(hours=2))                    # seq 11: set back
    await seed(1, received_at=T0 - timedelta(hours=2, minutes=-1))        # seq 16: on from it
    report = await verify(engine)
    assert report.ok and report.problems == []
    said = [w for w in report.warnings if "clock" in w]
    assert said == [
        "record at seq 11 was received more than 10 minutes before the record at seq 6, "
        "written before it: the clock of whatever wrote it was set back, so its time may not "
        "be when it was received"]


async def test_records_in_order_give_no_warning(engine, seed):
    await seed(1, received_at=T0)
    await seed(1, received_at=T0 + timedelta(hours=3))
    report = await verify(engine)
    assert report.ok and report.warnings == []
