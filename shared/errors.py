"""Lethe's error hierarchy and its mapping to gRPC status codes (with ``google.rpc.ErrorInfo``).

Every error carries an UPPER_SNAKE ``reason`` and a message that names ids and fields, never
personal data: messages end up in status details, logs and (through OpenTelemetry) trace spans.
"""

from __future__ import annotations

import grpc


class LetheError(Exception):
    """Base class: ``code`` is the gRPC status, ``reason`` an UPPER_SNAKE machine-readable cause."""

    code = grpc.StatusCode.INTERNAL
    reason = "INTERNAL"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason


class InvalidArgument(LetheError):
    """Bad input (INVALID_ARGUMENT)."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"


class NotFound(LetheError):
    """An id that does not exist (NOT_FOUND)."""

    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class FailedPrecondition(LetheError):
    """The system is not in a state that allows the call (FAILED_PRECONDITION)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class PermissionDenied(LetheError):
    """The caller or the registry does not allow this (PERMISSION_DENIED)."""

    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class Unavailable(LetheError):
    """A dependency is down; retry later (UNAVAILABLE)."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "DEPENDENCY_UNAVAILABLE"


def require(condition: bool, message: str, reason: str) -> None:
    """Raise InvalidArgument(message, reason) unless ``condition`` holds."""
    if not condition:
        raise InvalidArgument(message, reason)


class ResourceExhausted(LetheError):
    """The caller exceeded its rate limit (RESOURCE_EXHAUSTED); retry with backoff."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RATE_LIMITED"
