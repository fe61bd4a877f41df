"""The contract in code: every event in and out of ticketflow, and how bytes become events.

`schemas/` is the single source of truth; `python -m schemas.generate` writes the JSON
Schema files and the AsyncAPI document from these models.
"""

from .binary import structured
from .codec import Inbound, Rejected, decode, encode_outbound, validate_outbound
from .envelope import CONTENT_TYPE, MAX_MESSAGE_BYTES, CloudEvent
from .inbound import INBOUND
from .outbound import OUTBOUND
from .types import format_rfc3339, parse_rfc3339

__all__ = [
    "CONTENT_TYPE",
    "INBOUND",
    "MAX_MESSAGE_BYTES",
    "OUTBOUND",
    "CloudEvent",
    "Inbound",
    "Rejected",
    "decode",
    "encode_outbound",
    "format_rfc3339",
    "parse_rfc3339",
    "structured",
    "validate_outbound",
]
