"""Why a relay could not be used, in the words a mail administrator reads.

A delivery that fails before any server's reply (the host refused, TLS was
not offered, AUTH was not offered or refused) is told to the administrator
in the log's `reason`, the queue's `last_error` and `/readyz`, as Postfix
says "TLS is required, but was not offered by host".  The words come from
the operating system, TLS, or the SMTP client library's own exceptions,
and a server's reply is given by its code only: its text may carry
addresses.
"""

from __future__ import annotations

import os
import ssl

import aiosmtplib


def verification_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind `exc`, if it is one."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
    return None


def why_unreachable(exc: BaseException) -> str:
    """Why, in a few words; the exception's class when nothing says more."""
    verification = verification_error(exc)
    if verification is not None:
        return str(verification.verify_message or "certificate verification failed")
    for cause in _causes(exc):
        if isinstance(cause, TimeoutError | aiosmtplib.SMTPTimeoutError):
            return "no answer in time"
        if isinstance(cause, ssl.SSLError):
            return str(cause.reason or "TLS handshake failed").lower().replace("_", " ")
        if isinstance(cause, aiosmtplib.SMTPAuthenticationError):
            return f"authentication refused (reply {cause.code})"
        if isinstance(cause, aiosmtplib.SMTPResponseException):
            return f"the server replied {cause.code}"
        if isinstance(cause, aiosmtplib.SMTPServerDisconnected):
            return "the server closed the connection"
        if isinstance(cause, OSError) and (cause.errno or cause.strerror):
            # asyncio's "Connect call failed (...)" says less than errno's words.
            return os.strerror(cause.errno) if cause.errno else str(cause.strerror)
        if isinstance(cause, aiosmtplib.SMTPException):
            # The library's own words, never a server's (those are the
            # response exceptions above).
            said = str(cause)
            # (AUTH's words mention STARTTLS too: "Try connecting via TLS
            # (or STARTTLS).")
            if "AUTH extension" in said:
                return "AUTH not offered (the username and password were not sent)"
            if "STARTTLS" in said:
                return "STARTTLS not offered"
    return type(exc).__name__


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it was raised from, in order, each once."""
    seen: set[int] = set()
    found: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        found.append(cause)
        cause = cause.__cause__ or cause.__context__
    return found
