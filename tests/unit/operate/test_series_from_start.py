"""Every series an alert may watch exists at 0 before anything is counted.

After a restart, `rate(gateway_messages_refused_total{stage="error"}[5m])`
must read 0, not "no data": an alert on 451s, or on a reason's refusals,
cannot otherwise tell a quiet gateway from a missing series.
"""

from __future__ import annotations

import pytest

from gateway.model import Action, ReasonCode
from gateway.operate.metrics import Metrics


def _sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


@pytest.mark.parametrize("stage", ["policy", "arrival", "error"])
def test_each_refusal_stage_is_a_series_at_zero(stage: str) -> None:
    assert _sample(Metrics(), "gateway_messages_refused_total", stage=stage) == 0


@pytest.mark.parametrize("code", [*(c.value for c in ReasonCode), "internal_error"])
def test_each_reason_is_a_series_at_zero(code: str) -> None:
    assert _sample(Metrics(), "gateway_messages_rejected_total", reason=code) == 0


@pytest.mark.parametrize("outcome", ["delivered", "deferred", "failed"])
def test_each_delivery_outcome_is_a_series_at_zero(outcome: str) -> None:
    assert _sample(Metrics(), "gateway_delivery_results_total", outcome=outcome) == 0


def test_accepted_by_each_verdict_but_reject() -> None:
    metrics = Metrics()
    for action in Action:
        value = _sample(metrics, "gateway_messages_accepted_total", verdict=action.value)
        assert value == (None if action is Action.REJECT else 0), action


def test_counting_adds_to_the_series_already_there() -> None:
    metrics = Metrics()
    metrics.refused.labels("error").inc()
    assert _sample(metrics, "gateway_messages_refused_total", stage="error") == 1
    assert _sample(metrics, "gateway_messages_refused_total", stage="policy") == 0
