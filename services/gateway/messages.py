"""OpenAI chat messages: the turn's text for the record, redaction, re-identification of answers.

A message is ``{"role": ..., "content": str | [{"type": "text", "text": str}, ...] | null}``.
"""

from __future__ import annotations

import copy
from typing import Any

from services.gateway.reidentify import Redactor, Surrogates


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content
                         if isinstance(p, dict) and p.get("type") == "text")
    return ""


def turn_text(messages: list[Any]) -> str:
    """The turn's prompt: the messages after the last assistant message, one ``role: text`` line
    each (the earlier turns were recorded with their own requests)."""
    last = max((i for i, m in enumerate(messages)
                if isinstance(m, dict) and m.get("role") == "assistant"), default=-1)
    lines = [f"{m.get('role', 'user')}: {_text(m.get('content'))}" for m in messages[last + 1:]
             if isinstance(m, dict)]
    return "\n".join(lines)


def redact_messages(redactor: Redactor, messages: list[Any], session_id: str,
                    surrogates: Surrogates) -> list[Any]:
    """A copy of ``messages`` with every text redacted (all turns: the upstream sees no originals)."""
    out = copy.deepcopy(messages)
    slots: list[tuple[Any, Any]] = []
    for m in out:
        if not isinstance(m, dict):
            continue
        if isinstance(m.get("content"), str):
            slots.append((m, "content"))
        elif isinstance(m.get("content"), list):
            slots += [(p, "text") for p in m["content"]
                      if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)]
    redacted = redactor.redact([holder[key] for holder, key in slots], session_id, surrogates)
    for (holder, key), text in zip(slots, redacted, strict=True):
        holder[key] = text
    return out


def reidentify_body(data: Any, surrogates: Surrogates) -> dict[int, list[str]]:
    """Re-identify a whole (non-streamed) completion in place; returns its texts per choice."""
    texts: dict[int, list[str]] = {}
    for n, choice in enumerate(data.get("choices") or [] if isinstance(data, dict) else []):
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            message["content"] = surrogates.replace(message["content"])
            texts[choice.get("index", n)] = [message["content"]]
    return texts
