"""`data_done_timeout`: how long the reply to the end of DATA is awaited,
for [upstream] and each [routes.NAME] (RFC 5321 4.5.3.2.6: 10 minutes)."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from gwtest import REPO
from settings_support import problems_of, write

from gateway.settings import load_settings

RECIPIENTS = "address,name,job_title,department,organisation,telephone,secure_route\n"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "recipients.csv").write_text(RECIPIENTS, encoding="utf-8")
    return tmp_path


def test_the_end_of_data_is_awaited_ten_minutes_by_default(config_dir):
    text = '[routes.council]\nhost = "relay.example.net"\ntls = "implicit"\n'
    settings = load_settings(write(config_dir, text), environ={})
    assert settings.upstream.data_done_timeout == timedelta(minutes=10)
    assert settings.routes["council"].data_done_timeout == timedelta(minutes=10)
    assert settings.upstream.timeout == timedelta(seconds=30)  # per command, unchanged


def test_data_done_timeout_is_set_per_route_and_by_the_environment(config_dir):
    text = ('[upstream]\ndata_done_timeout = "15m"\n'
            '[routes.council]\nhost = "relay.example.net"\ntls = "implicit"\n'
            'data_done_timeout = "90s"\n')
    settings = load_settings(write(config_dir, text), environ={})
    assert settings.upstream.data_done_timeout == timedelta(minutes=15)
    assert settings.routes["council"].data_done_timeout == timedelta(seconds=90)
    overridden = load_settings(write(config_dir, text),
                               environ={"GATEWAY_UPSTREAM_DATA_DONE_TIMEOUT": "5m"})
    assert overridden.upstream.data_done_timeout == timedelta(minutes=5)


@pytest.mark.parametrize(("text", "problem"), [
    ('[upstream]\ndata_done_timeout = "0s"', "upstream.data_done_timeout: must be more than 0s"),
    ('[routes.council]\nhost = "relay.example.net"\ntls = "implicit"\ndata_done_timeout = "soon"',
     "routes.council.data_done_timeout"),
])
def test_a_data_done_timeout_that_is_no_duration_is_refused(config_dir, text, problem):
    (found,) = problems_of(write(config_dir, text))
    assert problem in found


def test_the_shipped_configuration_documents_the_key():
    text = (REPO / "config" / "gateway.toml").read_text(encoding="utf-8")
    assert '# data_done_timeout = "10m"' in text
    # Uncommented, the documented value is the default.
    enabled = text.replace('# data_done_timeout = "10m"', 'data_done_timeout = "10m"')
    assert tomllib.loads(enabled)["upstream"]["data_done_timeout"] == "10m"
