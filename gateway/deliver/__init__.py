"""Delivery: the transport to the smarthost and the workers that drive it."""

from gateway.deliver.bounce import build_bounce
from gateway.deliver.transport import Outbound, OutboundRecipient, SmtpTransport, Transport
from gateway.deliver.worker import Dispatcher

__all__ = [
    "Dispatcher",
    "Outbound",
    "OutboundRecipient",
    "SmtpTransport",
    "Transport",
    "build_bounce",
]
