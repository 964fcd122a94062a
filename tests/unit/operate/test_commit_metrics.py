"""The commit counters follow the Writer's running totals, scrape after scrape."""

from __future__ import annotations

from prometheus_client import generate_latest

from gateway.operate.metrics import Metrics


def _value(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


def test_each_scrape_adds_what_the_writer_committed_since_the_last():
    metrics = Metrics()
    metrics.count_commits(5, 9)
    metrics.count_commits(5, 9)  # nothing new: nothing added
    assert (_value(metrics, "gateway_db_commits_total"),
            _value(metrics, "gateway_db_committed_operations_total")) == (5, 9)
    metrics.count_commits(7, 20)
    assert (_value(metrics, "gateway_db_commits_total"),
            _value(metrics, "gateway_db_committed_operations_total")) == (7, 20)
    assert b"gateway_db_commits_total 7.0" in generate_latest(metrics.registry)
