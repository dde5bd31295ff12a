"""python -m services.edge: config → telemetry → FastAPI under uvicorn (graceful on SIGTERM)."""

import uvicorn
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from services.common.logs import setup_logging
from services.common.telemetry import drop_url_query, setup_tracing
from services.edge.app import create_app
from services.edge.settings import EdgeSettings

if __name__ == "__main__":
    settings = EdgeSettings()
    setup_logging("edge", settings.log_level)
    setup_tracing("edge", settings.otel_exporter_otlp_endpoint)
    app = create_app(settings)
    FastAPIInstrumentor.instrument_app(app, excluded_urls="health,ready,metrics",
                                       server_request_hook=drop_url_query)
    settings.server_tls()  # both TLS files or neither, and readable: fail before serving
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.grace_period_s),
        # TLS_CERT_FILE / TLS_KEY_FILE: HTTPS; neither: plain HTTP behind a TLS-ending proxy.
        ssl_certfile=settings.tls_cert_file or None,
        ssl_keyfile=settings.tls_key_file or None,
    )
