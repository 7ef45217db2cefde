"""Logging for the apps: each line names the journey (an opaque ID, never personal data)."""

from __future__ import annotations

import logging

from flask import (
    g,
    has_request_context,
)


class JourneyLogFilter(logging.Filter):
    """Adds ``journey_id`` (opaque, not personal) to every record logged during a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        journey = g.get("journey_id") if has_request_context() else None
        record.journey_id = journey or "-"
        return True


def configure_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if not any(isinstance(f, JourneyLogFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.addFilter(JourneyLogFilter())
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [journey=%(journey_id)s] %(message)s")
        )
        root.addHandler(handler)
    root.setLevel(level)
