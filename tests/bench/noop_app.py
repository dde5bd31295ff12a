"""The edge's baseline: `python -m tests.bench.noop_app --port N [--traced]`.

One POST /support/submit route that validates the very same `SupportSubmission` model and
answers 202 with the same `SubmissionAccepted` shape, but does nothing else: no middleware,
no rate limiter, no tracing, no logging, no Kafka. Served by uvicorn with the same options as
`python -m services.edge`, so edge / no-op is the price of everything the edge adds to
FastAPI + pydantic + uvicorn themselves.

`--traced` adds one thing only: the server span the edge makes for every request (FastAPI's
own OpenTelemetry instrumentation with the edge's `TELEMETRY`, under the tracer provider
`setup_tracing` installs, no exporter, as in the bench). So the bench shows, beside the edge,
what that span alone costs a request: the floor tracing every hop sets under the edge.
"""

from __future__ import annotations

import argparse
import uuid

import uvicorn
from fastapi import FastAPI

from services.edge.forms import SubmissionAccepted, SupportSubmission


def create_app(traced: bool = False) -> FastAPI:
    if traced:
        from services.common.telemetry import setup_tracing
        from services.edge.app import TELEMETRY

        setup_tracing("no-op")
        app = FastAPI(title="no-op edge baseline, traced", telemetry=TELEMETRY)
    else:
        app = FastAPI(title="no-op edge baseline")

    @app.post("/support/submit", status_code=202, response_model=SubmissionAccepted)
    async def submit(form: SupportSubmission) -> SubmissionAccepted:
        return SubmissionAccepted(
            ticket_id=str(uuid.uuid4()),
            message=f"Thank you, {form.name}. We received your request.",
            expected_response_time="within 5 minutes",
        )

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--traced", action="store_true", help="with the edge's server span")
    args = parser.parse_args()
    uvicorn.run(create_app(args.traced), host="127.0.0.1", port=args.port, log_config=None,
                loop="uvloop", http="httptools")
