"""Memory tuning at start-up (gateway.operate.memory)."""

from __future__ import annotations

import gc

from gateway.operate.memory import GC_FIRST_GENERATION, tune_gc


def test_tune_gc_freezes_what_start_up_built_and_collects_the_young_less_often() -> None:
    before = gc.get_threshold()
    built_at_start_up = [{"pattern": n} for n in range(1000)]
    try:
        tune_gc()
        assert gc.get_freeze_count() >= len(built_at_start_up)
        assert gc.get_threshold() == (GC_FIRST_GENERATION, before[1], before[2])
        # Frozen objects are out of every generation a collection walks.
        walked = {id(o) for o in gc.get_objects()}
        assert not any(id(o) in walked for o in built_at_start_up)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
