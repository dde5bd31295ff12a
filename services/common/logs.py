"""JSON logs on stdout with trace and span ids, customer emails and phone numbers redacted."""

from __future__ import annotations

import logging
import re
import sys

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# International numbers (+ and 7+ digits with spaces, dashes or brackets), US-style
# "(555) 010-0100", and bare runs of 9-15 digits; dates, times and IP addresses stay readable.
_PHONE = re.compile(
    r"\+\d[\d\s()-]{5,}\d|\(\d{3}\)\s?\d{3}[\s-]?\d{4}|(?<![\w.:-])\d{9,15}(?![\w.:-])"
)


def redact(text: str) -> str:
    """Masks email addresses and phone numbers so no customer address reaches a log."""
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


class _TraceAndRedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.trace_id = format(ctx.trace_id, "032x")
            record.span_id = format(ctx.span_id, "016x")
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def setup_logging(service_name: str, level: str = "INFO") -> None:
    """Routes every logger to one JSON handler on stdout. Safe to call more than once."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
            static_fields={"service": service_name},
        )
    )
    handler.addFilter(_TraceAndRedactFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka and grpc are chatty at INFO about connection churn that is not ours to act on.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
