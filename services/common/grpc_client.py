"""Client channels for calling other services: a deadline on every call, retries on
UNAVAILABLE, traced by the OpenTelemetry client instrumentation. Stubs are made from a channel
the caller owns and closes; there are no module-level stubs."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import grpc
from pydantic_settings import BaseSettings, SettingsConfigDict

# Retry only what is safe to retry: the call never reached the server (UNAVAILABLE).
_METHOD_CONFIG = {
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
_SERVICE_CONFIG = json.dumps(_METHOD_CONFIG)
# An address that lists several servers (`ipv4:10.0.0.5:50053,10.0.0.6:50053`) gets its calls
# spread over all of them (round_robin), not sent to the first only. One server keeps gRPC's
# pick_first: after the server restarts, round_robin fails calls fast until its reconnect
# backoff ends, where pick_first reconnects on the next call (an e2e test that kills a service
# showed the difference).
_BALANCED_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}], **_METHOD_CONFIG})


class CallDefaults(
    grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor
):
    """Gives every call without its own timeout the default one, and without its own
    `authorization` metadata the channel's credential (this process's service key)."""

    def __init__(self, timeout_s: float, credential: str) -> None:
        self._timeout_s = timeout_s
        self._authorization = ("authorization", f"Bearer {credential}") if credential else None

    def _with_deadline(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = details.metadata
        if self._authorization and not any(k == "authorization" for k, _ in metadata or ()):
            metadata = grpc.aio.Metadata(*(metadata or ()), self._authorization)
        elif details.timeout is not None:
            return details
        return grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=self._timeout_s if details.timeout is None else details.timeout,
            metadata=metadata,
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(self._with_deadline(client_call_details), request)

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(self._with_deadline(client_call_details), request)


class ClientTls(BaseSettings):
    """TLS_CA_FILE: the PEM certificates a client trusts for the services it calls (their
    TLS_CERT_FILE's issuer, or the self-signed certificate itself). Empty: plaintext."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    tls_ca_file: str = ""


def open_channel(address: str, timeout_s: float = 10.0, credential: str = "") -> grpc.aio.Channel:
    """A channel with a default deadline: TLS when TLS_CA_FILE is set, else plaintext (loopback,
    or a mesh whose sidecars encrypt). `credential` (an API key, usually the process's
    SERVICE_KEY) goes with every call that does not bring its own `authorization`."""
    ca_file = ClientTls().tls_ca_file
    options = [
        ("grpc.service_config", _BALANCED_CONFIG if "," in address else _SERVICE_CONFIG),
        ("grpc.enable_retries", 1),
        # After a peer restarts, reconnect within seconds (gRPC's default backoff grows
        # to two minutes, failing every call fast meanwhile).
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 2000),
    ]
    interceptors = [CallDefaults(timeout_s, credential)]
    if not ca_file:
        return grpc.aio.insecure_channel(address, interceptors=interceptors, options=options)
    credentials = grpc.ssl_channel_credentials(root_certificates=Path(ca_file).read_bytes())
    return grpc.aio.secure_channel(address, credentials, interceptors=interceptors, options=options)


def owned_channel(
    resources: contextlib.AsyncExitStack, address: str, timeout_s: float = 10.0, credential: str = ""
) -> grpc.aio.Channel:
    """`open_channel`, closed with `resources`: a service owns the channels its stubs use."""
    channel = open_channel(address, timeout_s, credential)
    resources.push_async_callback(channel.close)
    return channel
