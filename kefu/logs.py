"""Structured logging on stderr, with PII redacted from every record."""
from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from kefu.nlp.pii import redact


class RedactingFilter(logging.Filter):
    """Replaces PII in the formatted message with typed placeholders."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())[0]
        record.args = ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(
                     timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage()}
        for key, value in record.__dict__.get("fields", {}).items():
            entry[key] = redact(value)[0] if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))[0]
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "WARNING", fmt: str = "json") -> None:
    """Configure the ``kefu`` logger once per process (called by the CLI, not at import)."""
    logger = logging.getLogger("kefu")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
