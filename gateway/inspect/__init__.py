"""Inspect stage: the content of a message, ready for detection.

inspect_message(raw, limits=None) -> Inspection
    parse + extract every part + encryption/read-only of each attachment
    + the sender's passwords, tried on encrypted attachments.  Never raises.
"""

from __future__ import annotations

from gateway.inspect.engine import inspect_message
from gateway.inspect.passwords import HEADER as PASSWORD_HEADER
from gateway.inspect.passwords import find_passwords, scan_text
from gateway.parse.limits import ContentLimits

__all__ = ["PASSWORD_HEADER", "ContentLimits", "find_passwords", "inspect_message", "scan_text"]
