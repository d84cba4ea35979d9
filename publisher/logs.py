"""structlog set-up: one event name and bound fields per line, secrets redacted.

JSON lines when the output is not a terminal (services, containers, CI), a readable
console rendering on a terminal. Tokens never reach a line: any field whose name
says it holds a secret is masked, and token-looking parameters inside strings too.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from datetime import datetime
from typing import Any, TextIO

import structlog

_SECRET_KEYS = re.compile(r"(token|secret|password|authorization|api_key)", re.I)
_SECRET_IN_TEXT = re.compile(
    r"(access_token=|Bearer\s+|\"access_token\"\s*:\s*\")[^&\s\"']+", re.I
)
MASK = "[redacted]"


def redact_text(value: str) -> str:
    """Mask token-looking parts of free text (URLs, headers, JSON)."""
    return _SECRET_IN_TEXT.sub(lambda m: m.group(1) + MASK, value)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: MASK if _SECRET_KEYS.search(str(k)) else _redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor masking secrets in every field of every event."""
    for key, value in list(event_dict.items()):
        if key != "event" and _SECRET_KEYS.search(key):
            event_dict[key] = MASK
        else:
            event_dict[key] = _redact(value)
    return event_dict


def iso_times(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Datetimes as ISO 8601, so that JSON lines carry times, not Python reprs."""
    for key, value in event_dict.items():
        if isinstance(value, datetime):
            event_dict[key] = value.isoformat()
    return event_dict


def configure_logging(
    fmt: str = "auto", level: str = "info", stream: TextIO | None = None
) -> None:
    """Route structlog and the standard library's logging through one pipeline."""
    out = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if console
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        iso_times,
        redact_secrets,
    ]
    structlog.configure(
        processors=[
            # Drop an event below the level before any processor spends time on it.
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if not console else _keep,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter stays out of the operator's way unless asked for.
    # urllib3 stays quiet even then: its request lines carry whole URLs, and a
    # signed creative URL's query string is a secret.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    for noisy in ("apscheduler", "werkzeug"):
        logging.getLogger(noisy).setLevel(
            logging.DEBUG if level == "debug" else logging.WARNING
        )


def _keep(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return event_dict
