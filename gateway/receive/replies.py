"""Every SMTP reply the gateway sends, as a named constant (with RFC 3463
enhanced status codes).  Nothing else in the code writes reply text.

ENHANCEDSTATUSCODES is advertised, so RFC 2034 asks for an enhanced code in
every 2xx, 4xx and 5xx reply but the greeting and the replies to HELO and
EHLO; aiosmtpd's own texts, which have none, are replaced by these (see
`gateway.receive.server`).  The texts follow Postfix's smtpd where it has
the same reply."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# HELP's answers (RFC 5321 4.1.1.8), and the syntax a 501 names: each command
# the gateway takes, with its arguments.  STARTTLS and AUTH are listed only
# while they are offered.
COMMAND_SYNTAX: Final = MappingProxyType({
    "AUTH": "AUTH mechanism [initial-response]",
    "DATA": "DATA",
    "EHLO": "EHLO hostname",
    "HELO": "HELO hostname",
    "HELP": "HELP [command]",
    "MAIL": "MAIL FROM:<address> [parameters]",
    "NOOP": "NOOP [ignored]",
    "QUIT": "QUIT",
    "RCPT": "RCPT TO:<address> [parameters]",
    "RSET": "RSET",
    "STARTTLS": "STARTTLS",
    "VRFY": "VRFY <address>",
})

S214_COMMANDS: Final = "214 2.0.0 Supported commands: {commands}"
S214_SYNTAX: Final = "214 2.0.0 Syntax: {syntax}"

S220_READY: Final = "220 {hostname} ESMTP secure-sharing gateway"
S220_TLS_READY: Final = "220 2.0.0 Ready to start TLS"
S221_BYE: Final = "221 2.0.0 Bye"
S250_OK: Final = "250 2.0.0 OK"
S250_SENDER_OK: Final = "250 2.1.0 Sender OK"
S250_RECIPIENT_OK: Final = "250 2.1.5 Recipient OK"
S250_QUEUED: Final = "250 2.0.0 Queued as {queue_id}"
S250_HELD: Final = "250 2.0.0 Queued as {queue_id} (held for authorisation)"
# VRFY: the gateway verifies no address, and says neither yes nor no.
S252_CANNOT_VRFY: Final = "252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery"
S354_START: Final = "354 End data with <CR><LF>.<CR><LF>"

S421_SHUTTING_DOWN: Final = "421 4.3.2 Service shutting down, try again later"
# `[server] idle_timeout` (or `data_timeout`) ran out: said before closing.
S421_TIMEOUT: Final = "421 4.4.2 {hostname} Error: timeout exceeded"
# `max_auth_failures` refused AUTH attempts in one session: said instead of
# the last 535, then the connection closes.
S421_AUTH_FAILURES: Final = "421 4.7.0 Error: too many authentication failures"
# `[server] max_connections_per_client` sessions from one untrusted address
# are open already: said instead of the greeting, then the connection closes
# (Postfix's anvil: "421 4.7.0 Error: too many connections from ...").
S421_TOO_MANY_CONNECTIONS: Final = "421 4.7.0 Error: too many connections from {client}"
S451_INTERNAL: Final = "451 4.3.0 Temporary local problem, try again later"
S452_TOO_MANY_RECIPIENTS: Final = "452 4.5.3 Too many recipients"

S500_BAD_SYNTAX: Final = "500 5.5.2 Error: bad syntax"
S500_LINE_TOO_LONG: Final = "500 5.5.2 Line too long"
S501_BAD_ADDRESS: Final = "501 5.1.3 Bad address syntax"
S501_SYNTAX_MAIL: Final = "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]"
S501_SYNTAX_RCPT: Final = "501 5.5.4 Syntax: RCPT TO:<address> [parameters]"
S501_BAD_PARAMETER: Final = "501 5.5.4 Invalid parameter {name}"
# An argument a command does not take, or lacks: `syntax` from COMMAND_SYNTAX.
S501_SYNTAX: Final = "501 5.5.4 Syntax: {syntax}"
# HELO or EHLO without a host name: aiosmtpd's "501 Syntax: HELO hostname",
# given its code (RFC 2034 does not ask for one there, but a client that
# reads enhanced codes should not meet the one reply without).
S501_SYNTAX_HELO: Final = "501 5.5.4 Syntax: HELO hostname"
S501_SYNTAX_EHLO: Final = "501 5.5.4 Syntax: EHLO hostname"
S501_HELP_UNKNOWN: Final = "501 5.5.4 Supported commands: {commands}"
# The client's text is never echoed back.
S502_UNRECOGNISED: Final = "502 5.5.2 Error: command not recognized"
# EXPN, and STARTTLS when TLS is not configured (so not advertised).
S502_NOT_IMPLEMENTED: Final = "502 5.5.1 Error: command not implemented"
S503_SEND_HELO: Final = "503 5.5.1 Error: send HELO first"
S503_SEND_EHLO: Final = "503 5.5.1 Error: send EHLO first"  # AUTH is an ESMTP command
S503_ALREADY_AUTHENTICATED: Final = "503 5.5.1 Error: already authenticated"
S503_NEED_MAIL: Final = "503 5.5.1 Need MAIL command first"
S503_NEED_RCPT: Final = "503 5.5.1 Need RCPT command first"
S503_NESTED_MAIL: Final = "503 5.5.1 Nested MAIL command"
# AUTH inside a transaction (RFC 4954 section 4: MUST be refused 503): the
# MAIL FROM already given was never checked against the user's `senders`.
S503_AUTH_IN_TRANSACTION: Final = "503 5.5.1 Error: MAIL transaction in progress"
# `[server] require_auth`: a recipient outside the receipts domain from a
# client that has not authenticated (RFC 4954).
S530_AUTH_REQUIRED: Final = "530 5.7.0 Authentication required"
S550_RELAY_DENIED: Final = "550 5.7.1 Relaying denied: authenticate or send from a trusted network"
S550_POLICY: Final = "550 5.7.1 {summary}"
S550_BARE_LINE_ENDING: Final = (
    "550 5.5.2 Message refused: bare CR or LF, or NUL, in the message data"
)
# Inbound receipts (gateway/receipts/desk.py): a receipt is answered 250 once
# it is recorded, and also when it is dropped (a forged or unknown token, an
# unreadable report): a prober learns nothing.  Only an address on the
# receipts domain that is not a receipt address at all, for a report that
# correlates with nothing, is refused.
S250_RECEIPT: Final = "250 2.0.0 Receipt accepted"
S550_NO_SUCH_RECEIPT: Final = "550 5.1.1 No such receipt address"
# A receipt for a message the gateway has not handed on yet: taken when it
# comes again, after the relay.
S451_RECEIPT_TOO_EARLY: Final = "451 4.3.0 Receipt for a message not sent on yet, try again later"
# More than `[server] max_hops` Received headers: a mail loop (RFC 5321 6.3;
# Postfix's hopcount_limit).  Permanent, so the loop ends at the sending
# system's bounce rather than going round until the message is too large.
S554_TOO_MANY_HOPS: Final = "554 5.4.6 Too many hops: a mail loop? (more than {limit} Received headers)"
S550_RECEIPTS_MIXED: Final = (
    "550 5.7.1 Receipt addresses cannot be mixed with other recipients"
)
S552_TOO_BIG: Final = "552 5.3.4 Message too big for system"
S553_BAD_ADDRESS: Final = "553 5.1.3 Address not allowed: {why}"
# An authenticated user's MAIL FROM outside its `[[users]] senders`
# (Postfix's reject_sender_login_mismatch, same words).
S553_SENDER_NOT_OWNED: Final = "553 5.7.1 Sender address rejected: not owned by user {user}"
S554_TLS_ACTIVE: Final = "554 5.5.1 Error: TLS already active"
S555_UNKNOWN_PARAMETER: Final = "555 5.5.4 Unsupported parameter {name}"
