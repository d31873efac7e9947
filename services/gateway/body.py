"""The request body at the door: read under a size cap, parsed strictly, checked for shape.

A chat-completions body is a JSON object (RFC 8259, UTF-8) whose ``messages`` is a list of 1 to
:data:`MAX_MESSAGES` objects, each with a ``role`` among :data:`ROLES` and a ``content`` that is a
string, null, or a list of parts (objects with a string ``type``; ``text`` parts carry a string
``text``). ``stream`` is a boolean when present, ``model`` a string. The turn's prompt (the
messages after the last assistant message, :func:`services.gateway.messages.turn_text`) must be
non-empty (a message follows the last assistant message) and fit ingestion's per-text limit, so that a turn the gateway answers is one ingestion
accepts. Anything else is refused with a :class:`Refused` (an HTTP status, an UPPER_SNAKE code and
a message that never quotes the input); a refused request is neither forwarded nor recorded.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from services.gateway.messages import turn_text
from shared.limits import MAX_MESSAGE_BYTES, MAX_TEXT_BYTES

MAX_BODY_BYTES = MAX_MESSAGE_BYTES  # 32 MiB, as the services' per-message limit
MAX_MESSAGES = 1000  # as ingestion's batch limit (shared.limits.MAX_BATCH_ITEMS)
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


class Refused(Exception):
    """A request refused at the door: ``status`` (4xx), ``code`` (UPPER_SNAKE), ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def read_capped(declared: str | None, chunks: AsyncIterator[bytes]) -> bytes:
    """The body, read chunk by chunk; stops at :data:`MAX_BODY_BYTES` + 1 (413 BODY_TOO_LARGE),
    whether or not ``Content-Length`` (``declared``) said so, and refuses a malformed one (400)."""
    too_large = Refused(413, "BODY_TOO_LARGE", f"the request body exceeds {MAX_BODY_BYTES} bytes")
    if declared is not None:
        if not declared.strip().isdigit():
            raise Refused(400, "CONTENT_LENGTH_INVALID", "Content-Length must be a number")
        if int(declared) > MAX_BODY_BYTES:
            raise too_large
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        parts.append(chunk)
    return b"".join(parts)


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def parse_chat(raw: bytes) -> tuple[dict[str, Any], str]:
    """The checked body and the turn's prompt; raises :class:`Refused` (400 or 413)."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise Refused(400, "BODY_NOT_UTF8", "the request body is not UTF-8") from None
    except (ValueError, RecursionError):
        raise Refused(400, "BODY_NOT_JSON", "the request body is not JSON (NaN and Infinity "
                      "are not JSON)") from None
    if not isinstance(body, dict):
        raise Refused(400, "BODY_NOT_OBJECT", "the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Refused(400, "MESSAGES_MISSING", "messages must be a non-empty list")
    if len(messages) > MAX_MESSAGES:
        raise Refused(413, "TOO_MANY_MESSAGES", f"messages holds more than {MAX_MESSAGES} items")
    for n, message in enumerate(messages):
        _check_message(n, message)
    if "stream" in body and not isinstance(body["stream"], bool):
        raise Refused(400, "STREAM_INVALID", "stream must be true or false")
    if "model" in body and not isinstance(body["model"], str):
        raise Refused(400, "MODEL_INVALID", "model must be a string")
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escaped as \\udXXX
        raise Refused(400, "TEXT_NOT_UTF8", "the request holds text that is not valid Unicode") from None
    prompt = turn_text(messages)
    if not prompt.strip():
        raise Refused(400, "PROMPT_EMPTY", "no message follows the last assistant message")
    if len(prompt.encode("utf-8")) > MAX_TEXT_BYTES:
        raise Refused(413, "PROMPT_TOO_LARGE", f"the turn's messages exceed {MAX_TEXT_BYTES} bytes "
                      "of text (what ingestion records per turn)")
    return body, prompt


def _check_message(n: int, message: Any) -> None:
    if not isinstance(message, dict):
        raise Refused(400, "MESSAGE_INVALID", f"messages[{n}] must be an object")
    if message.get("role") not in ROLES:
        raise Refused(400, "ROLE_INVALID", f"messages[{n}].role must be one of {', '.join(sorted(ROLES))}")
    content = message.get("content")
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise Refused(400, "CONTENT_INVALID", f"messages[{n}].content must be a string, a list or null")
    for part in content:
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise Refused(400, "CONTENT_INVALID", f"messages[{n}].content parts must be objects with a type")
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise Refused(400, "CONTENT_INVALID", f"messages[{n}].content text parts need a string text")
