"""Inspect stage: the content of a message, ready for detection.

inspect_message(raw, limits=None) -> Inspection
    parse + extract every part + encryption/read-only of each attachment
    + the sender's passwords, tried on encrypted attachments.  Never raises.
read_message(raw, limits=None) -> Reading
    the same in two steps: parse + extract, then `Reading.finish()`.
"""

from __future__ import annotations

from gateway.inspect.engine import Reading, inspect_message, read_message
from gateway.inspect.passwords import HEADER as PASSWORD_HEADER
from gateway.inspect.passwords import find_passwords, scan_text
from gateway.parse.limits import ContentLimits

__all__ = [
    "PASSWORD_HEADER",
    "ContentLimits",
    "Reading",
    "find_passwords",
    "inspect_message",
    "read_message",
    "scan_text",
]
