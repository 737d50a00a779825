"""Structured logs: one JSON object per line, with every secret removed.

:func:`setup_logging` puts a :class:`JsonFormatter` on the root logger, so the program's own logs
and those of httpx, websockets and uvicorn come out the same way (the libraries' request and
connection lines only at DEBUG). The formatter runs every text through a :class:`Redactor`,
which knows the secrets of the configuration (tokens, client secrets) and the tokens issued
while running, and also masks anything that looks like a credential by its context
(``Authorization``/``Bearer``, ``access_token``, ``refresh_token``, ``clientSecret``,
``authCode``, ``password``), so a token nobody registered is masked too. A
:class:`ConditionLog` keeps a lasting condition to one line until it changes.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

MASK = "[redacted]"

#: Libraries that log every request, connection or migration step at INFO or DEBUG: kept at
#: WARNING unless the log level is DEBUG.
CHATTY_LOGGERS = ("httpx", "httpcore", "websockets", "uvicorn.access", "alembic")

# Credentials by their context: header values, JSON and form fields, URL userinfo passwords.
_PATTERNS = (
    re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)([\"']?(?:access_?token|refresh_?token|client_?secret|authcode|password|"
        r"api_?token|authorization|token)[\"']?\s*[:=]\s*[\"']?)([^\"'&\s,}\]]+)"
    ),
    # websockets' frame dumps of add-tenants-v1: the list of tokens and their id mapping
    re.compile(r"(?i)(\"accessTokens\"\s*:\s*\[)[^\]]*"),
    re.compile(r"(?i)(\"tenantIds\"\s*:\s*\{)[^}]*"),
    re.compile(r"(://[^:/@\s]+:)[^@\s]+(@)"),
)

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class Redactor:
    """Masks known secrets and credential-looking text.

    Args:
        secrets: values that must never appear (more can be added while running).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Never show these values (blank and very short values are ignored)."""
        for secret in secrets:
            if secret and len(secret) >= 6:
                self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        # Longest first, so a secret containing another is masked whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(_masked, text)
        return text


def _masked(match: re.Match[str]) -> str:
    groups = match.groups()
    if len(groups) == 2 and groups[1] == "@":
        return f"{groups[0]}{MASK}@"
    if len(groups) >= 1 and match.re.pattern.startswith("(?i)(bearer"):
        return f"{groups[0]} {MASK}"
    return f"{groups[0]}{MASK}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the record's extras, and the
    exception; every text redacted."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redactor(value)
        if isinstance(value, bool | int | float) or value is None:
            return value
        if isinstance(value, dict):
            return {str(k): self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        return self.redactor(str(value))

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redactor(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = self._clean(value)
        if record.exc_info:
            entry["exception"] = self.redactor(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def redact_everywhere(*secrets: str | None) -> None:
    """Mask these values too in every JSON log handler installed (secrets learnt while running,
    such as a tenant registered meanwhile)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, JsonFormatter):
            handler.formatter.redactor.add(*secrets)


def setup_logging(
    redactor: Redactor, *, level: int | str = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record, as JSON lines, to ``stream`` (standard error by default).

    Returns:
        The handler installed on the root logger (remove it to undo).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redactor))
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old.formatter, JsonFormatter):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn configures its own handlers; route its records through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # A line per request or migration step drowns the service's own lines; below DEBUG only
    # the libraries' warnings and errors are kept.
    chatter = logging.NOTSET if root.getEffectiveLevel() <= logging.DEBUG else logging.WARNING
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(chatter)
    return handler


class ConditionLog:
    """Logs a lasting condition once, and again only when it changes.

    A refused token or an unreachable feed is met on every attempt, many a second while
    retrying; one line when it starts (or turns into another) says all the repeats would.

    Args:
        logger: where the lines go.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._states: dict[str, str] = {}

    def report(
        self,
        key: str,
        state: str,
        message: str,
        *,
        level: int = logging.WARNING,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Log ``message`` unless condition ``key`` is already in ``state``.

        Returns:
            Whether it was logged.
        """
        if self._states.get(key) == state:
            return False
        self._states[key] = state
        self._logger.log(level, message, extra=extra)
        return True

    def clear(self, key: str) -> bool:
        """The condition ended: its next occurrence is logged again.

        Returns:
            Whether it was in force.
        """
        return self._states.pop(key, None) is not None
