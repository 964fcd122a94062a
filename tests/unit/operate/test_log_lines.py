"""`gateway serve`'s log is one JSON object per line on stderr, the standard
library's records (aiosmtpd's "mail.log", Python's warnings) included: a
JSON log shipper choked on aiosmtpd's plain-text lines."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator

import pytest
import structlog

from gateway.operate.logging import configure_logging


@pytest.fixture
def serve_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)
    structlog.reset_defaults()


def test_every_line_on_stderr_is_one_json_object(
    serve_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(json=True)
    structlog.get_logger("gateway").info("gateway_started", port=2525)
    aiosmtpd = logging.getLogger("mail.log")
    aiosmtpd.warning("%r unrecognised: %s", ("127.0.0.1", 48971), "FOO")
    aiosmtpd.info("%r Command: MAIL FROM:<alice@sender.example>", ("127.0.0.1", 48971))
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library's deprecation", DeprecationWarning, stacklevel=1)
    out, err = capsys.readouterr()
    assert out == ""
    lines = [json.loads(line) for line in err.splitlines()]
    assert [(line["event"].split(":")[0], line["level"]) for line in lines] == [
        ("gateway_started", "info"),
        ("('127.0.0.1', 48971) unrecognised", "warning"),
        (lines[2]["event"].split(":")[0], "warning"),
    ]
    assert lines[1]["logger"] == "mail.log" and "timestamp" in lines[1]
    assert "a library's deprecation" in lines[2]["event"]
    assert "alice@sender.example" not in err  # aiosmtpd's command lines stay below WARNING


def test_configured_twice_each_record_is_written_once(
    serve_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI configures console logging, then a command may again."""
    configure_logging(level="WARNING", json=False)
    configure_logging(json=True)
    logging.getLogger("mail.log").warning("%r too many bogus commands", ("127.0.0.4", 1))
    _, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert json.loads(line)["event"] == "('127.0.0.4', 1) too many bogus commands"
