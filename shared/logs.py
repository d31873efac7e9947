"""Log lines of a service process: plain text (default) or one JSON object per line for a SIEM.

``LETHE_LOG_FORMAT`` is ``text`` or ``json``, read once at start-up; any other value is a
configuration error. A JSON line has ``time`` (UTC, ISO 8601), ``level``, ``service``, ``logger`` and
``message``; a logged exception adds ``error`` (its class name) and ``at`` (its frames as
``file:line function``) but never the exception's message or arguments, which may quote input.
Messages themselves follow the rule of every Lethe log line: ids and counts, no personal data
(docs/design.md §4.1; the canary tests check both formats).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import traceback

from shared.config import ConfigError

FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per record; exceptions by class and frames only."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line (no newline inside)."""
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["at"] = [f"{frame.filename}:{frame.lineno} {frame.name}"
                           for frame in traceback.extract_tb(record.exc_info[2])]
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(service: str, log_format: str | None, level: int = logging.INFO) -> None:
    """Install the root handler for a service process in the chosen format.

    Raises ConfigError when ``log_format`` is neither ``text`` nor ``json`` (``None`` means text).
    """
    log_format = (log_format or "text").strip().lower()
    if log_format not in FORMATS:
        raise ConfigError("LETHE_LOG_FORMAT must be one of: text, json")
    if log_format == "text":
        logging.basicConfig(level=level, format=f"%(asctime)s {service} %(levelname)s %(message)s")
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(service))
    logging.basicConfig(level=level, handlers=[handler], force=True)
