"""structlog set-up: one JSON object per line on stderr, event names and ids only.

Records of the standard library's `logging` (aiosmtpd's "mail.log" logger,
Python's warnings) go through the same renderer, so the stream stays one
JSON object per line for a log shipper; they carry the `logger` they came
from.
"""

from __future__ import annotations

import logging
import sys

import structlog

_OURS = "gateway_log_handler"  # marks the handler this module installed


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            timestamper,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))
    root = logging.getLogger()
    # Set up again (a test, a command run in-process): this module's handler
    # replaced, any other left as it was.
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # a library's warnings.warn: a record, not a bare line
    # aiosmtpd logs every command line (addresses included) at INFO.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            timestamper,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
