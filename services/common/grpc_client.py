"""Client channels for calling other services: a deadline on every call, retries on
UNAVAILABLE, traced by the OpenTelemetry client instrumentation. Stubs are made from a channel
the caller owns and closes; there are no module-level stubs."""

from __future__ import annotations

import contextlib
import json

import grpc

# Retry only what is safe to retry: the call never reached the server (UNAVAILABLE).
_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)


class _DefaultDeadline(
    grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor
):
    """Gives every call without its own timeout the default one."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s

    def _with_deadline(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        if details.timeout is not None:
            return details
        return grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=self._timeout_s,
            metadata=details.metadata,
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(self._with_deadline(client_call_details), request)

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(self._with_deadline(client_call_details), request)


def open_channel(address: str, timeout_s: float = 10.0) -> grpc.aio.Channel:
    """An insecure (in-mesh, loopback or mTLS-by-sidecar) channel with a default deadline."""
    return grpc.aio.insecure_channel(
        address,
        interceptors=[_DefaultDeadline(timeout_s)],
        options=[
            ("grpc.service_config", _SERVICE_CONFIG),
            ("grpc.enable_retries", 1),
            # After a peer restarts, reconnect within seconds (gRPC's default backoff grows
            # to two minutes, failing every call fast meanwhile).
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ],
    )


def owned_channel(
    resources: contextlib.AsyncExitStack, address: str, timeout_s: float = 10.0
) -> grpc.aio.Channel:
    """`open_channel`, closed with `resources`: a service owns the channels its stubs use."""
    channel = open_channel(address, timeout_s)
    resources.push_async_callback(channel.close)
    return channel
