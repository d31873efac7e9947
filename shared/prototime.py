"""Timestamps from requests: protobuf ``Timestamp`` -> aware UTC datetime, validated.

A request can carry any 64-bit seconds and 32-bit nanos; ``Timestamp.ToDatetime`` raises on values
outside 0001..9999 (and retention arithmetic overflows near the ends of that range). Servicers use
:func:`from_timestamp` so that such values are INVALID_ARGUMENT, never INTERNAL or a poison event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.errors import InvalidArgument

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.timezone.utc)


def from_timestamp(ts: Any, name: str, max_future: dt.timedelta | None = None) -> dt.datetime:
    """``ts`` as an aware UTC datetime; raises InvalidArgument (reason ``<NAME>_INVALID``) when
    out of range (before 1970, after 9000, bad nanos, or more than ``max_future`` ahead of now)."""
    reason = f"{name.upper()}_INVALID"
    if not 0 <= ts.nanos <= 999_999_999:
        raise InvalidArgument(f"{name} has invalid nanos", reason)
    try:
        value = ts.ToDatetime(tzinfo=dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise InvalidArgument(f"{name} is out of range", reason) from None
    if not EARLIEST <= value < LATEST:
        raise InvalidArgument(f"{name} is out of range", reason)
    if max_future is not None and value > dt.datetime.now(dt.timezone.utc) + max_future:
        raise InvalidArgument(f"{name} is in the future", reason)
    return value
