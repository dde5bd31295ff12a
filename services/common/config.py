"""Configuration from the environment (pydantic-settings). Secrets come only from here."""

from __future__ import annotations

import contextlib
from pathlib import Path

import grpc
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.grpc_client import owned_channel
from services.common.retry import RetryPolicy, is_transient


class Settings(BaseSettings):
    """Settings every process reads. Services subclass it to add their own."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    log_level: str = "INFO"

    grpc_host: str = "127.0.0.1"
    grpc_port: int = 0
    # Prometheus /metrics (services/common/metrics.py) on GRPC_HOST:METRICS_PORT; 0: not served.
    # The edge serves /metrics on its HTTP port instead.
    metrics_port: int = 0
    # TLS for what this process serves (its gRPC port, or the edge's HTTP port): a PEM
    # certificate chain and its private key, both or neither. Neither: plaintext, for loopback
    # and meshes whose sidecars encrypt. Clients trust the CA in TLS_CA_FILE (grpc_client.py).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Seconds in-flight RPCs get to finish after SIGTERM before they are cancelled.
    grace_period_s: float = 10.0
    # How long a Kafka partition being moved to another consumer may finish the record in
    # hand; past it the new owner handles that record again, harmlessly (every write is keyed).
    rebalance_drain_s: float = 20.0
    # Deadline applied to every outgoing RPC that does not set its own.
    rpc_timeout_s: float = 10.0
    # A Kafka record's transient failures: attempts, and the backoff between them (seconds),
    # before it is dead-lettered (`retry_policy`).
    max_attempts: int = 5
    retry_initial_s: float = 0.2
    retry_max_s: float = 5.0

    database_url: str = ""
    db_pool_min: int = 1
    db_pool_max: int = 10

    kafka_bootstrap_servers: str = "127.0.0.1:59092"

    otel_exporter_otlp_endpoint: str = ""

    identity_addr: str = "127.0.0.1:50051"
    conversation_addr: str = "127.0.0.1:50052"
    agent_addr: str = "127.0.0.1:50053"
    knowledge_addr: str = "127.0.0.1:50053"
    # The access service: who a caller's credential belongs to, and the audit log.
    access_addr: str = "127.0.0.1:50056"
    # This process's own API key (role service, named after the process: `keys create --role
    # service --name inbound`). It goes with every call the process makes, and a gRPC server
    # uses it to ask the access service who its callers are.
    service_key: SecretStr = SecretStr("")
    # How long a verified caller is taken on trust: a revoked key or changed role reaches this
    # process within this time. 0 asks the access service on every call.
    auth_cache_ttl_s: float = 30.0

    def channel(
        self, resources: contextlib.AsyncExitStack, address: str, timeout_s: float | None = None
    ) -> grpc.aio.Channel:
        """A client channel closed with `resources`, carrying this process's service key."""
        return owned_channel(resources, address, timeout_s or self.rpc_timeout_s,
                             self.service_key.get_secret_value())

    def retry_policy(self, **overrides) -> RetryPolicy:
        """MAX_ATTEMPTS / RETRY_INITIAL_S / RETRY_MAX_S as the policy for transient errors."""
        values = dict(attempts=self.max_attempts, initial_s=self.retry_initial_s,
                      max_s=self.retry_max_s, retry_on=is_transient)
        return RetryPolicy(**(values | overrides))

    def server_tls(self) -> tuple[bytes, bytes] | None:
        """(certificate chain, private key) read from TLS_CERT_FILE / TLS_KEY_FILE, or None."""
        if not (self.tls_cert_file or self.tls_key_file):
            return None
        if not (self.tls_cert_file and self.tls_key_file):
            raise ValueError("TLS_CERT_FILE and TLS_KEY_FILE go together: set both or neither")
        return Path(self.tls_cert_file).read_bytes(), Path(self.tls_key_file).read_bytes()
