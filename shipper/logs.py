"""Logging: JSON lines on stdout (what the awslogs driver expects) or human text on a terminal.

Log records carry run id, instance, file and byte counts as fields. Nothing here ever logs
database log content or credentials: callers pass names and counts only, and the filter below
drops any field whose name suggests a secret.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

_SECRET_WORDS = ("secret", "password", "passwd", "token", "credential", "authorization",
                 "signature", "api_key", "apikey", "private_key", "access_key", "session")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class _RunContext(logging.Filter):
    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = self.run_id
        for key in list(record.__dict__):
            if key not in _STANDARD and any(w in key.lower() for w in _SECRET_WORDS):
                delattr(record, key)
        return True


class TextFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL message  key=value ...`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in record.__dict__.items()
                  if k not in _STANDARD and k != "run_id"}
        extras = "  ".join(f"{k}={v}" for k, v in fields.items())
        time_text = self.formatTime(record, "%H:%M:%S")
        line = f"{time_text} {record.levelname:<7} {record.getMessage()}"
        return f"{line}  {extras}" if extras else line


def setup_logging(run_id: str, fmt: str, level: str, stream: TextIO | None = None) -> str:
    """Configure the ``shipper`` logger; returns the format actually used."""
    stream = stream or sys.stdout
    if fmt == "auto":
        fmt = "text" if getattr(stream, "isatty", lambda: False)() else "json"
    handler = logging.StreamHandler(stream)
    formatter: logging.Formatter
    if fmt == "json":
        formatter = JsonFormatter(
            "%(asctime)s %(levelname)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time"},
            timestamp=False,
        )
    else:
        formatter = TextFormatter()
    handler.setFormatter(formatter)
    handler.addFilter(_RunContext(run_id))
    logger = logging.getLogger("shipper")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    # botocore's own debug output can contain request bodies: keep it quiet.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    return fmt


def emit_raw(line: str, stream: Any = None) -> None:
    """A line that must stay exactly as written (EMF records are JSON documents)."""
    out = stream or sys.stdout
    out.write(line + "\n")
    out.flush()
