"""Edge configuration (environment)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from services.common.config import Settings


class EdgeSettings(Settings):
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Origins allowed to call the API from a browser (the embedding host pages).
    cors_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8080", "http://localhost:8080"])
    max_body_bytes: int = 64 * 1024
    # Seconds the edge waits for Kafka's ack before keeping the message in its outbox (or, with
    # no outbox, answering 503).
    publish_timeout_s: float = 5.0
    # The outbox (services/edge/outbox.py) is the `edge` schema, reached with DATABASE_URL (role
    # fte_edge); no DATABASE_URL: no outbox. Seconds a store may take before the edge gives up on
    # it and answers 503.
    outbox_timeout_s: float = 2.0
    # Seconds between the relay's looks at the outbox (sooner after a store of this replica's).
    relay_poll_s: float = 1.0
    # No connection is opened before the first use: the edge starts and serves without
    # PostgreSQL, which it needs only while Kafka is away.
    db_pool_min: int = 0
    db_pool_max: int = 4
    rate_limit_per_ip: str = "60/minute"
    rate_limit_per_sender: str = "10/minute"
    # Where the counts live: `redis://host:port` shares them between edge replicas; empty (or
    # `memory://`) keeps them in this process, so each replica allows the full rate.
    rate_limit_storage_uri: str = ""
    # Seconds a rate-limit store call may take before the replica falls back to its own counts.
    rate_limit_storage_timeout_s: float = 0.5
    expected_response_time: str = "within 5 minutes"
    # Requests one edge process handles at once (/health, /ready, /metrics not counted); past it
    # a request is answered at once with 503 + Retry-After (load_shedding.py).
    edge_max_in_flight: int = Field(default=64, ge=1)
    # The Retry-After of that 503, in seconds.
    edge_shed_retry_after_s: int = Field(default=5, ge=1)
    # Seconds an idle keep-alive connection is kept. Longer than the clients' own pauses (the web
    # form polls every 1-15 s; a load balancer keeps its pool ~60 s), so the edge never closes a
    # connection just as a client sends on it: at uvicorn's default 5 s, clients pausing 5-10 s
    # between requests met a reset ("HTTP 0") whenever the close and their request crossed,
    # often under load, when the edge runs its timers late.
    http_keep_alive_s: int = Field(default=75, ge=1)
    # The access log (logger `services.edge.access`, `__main__.AccessLog`), one JSON line per
    # answered request in uvicorn's words, without the query string: `errors` logs the 4xx and
    # 5xx answers only, `all` every request, `off` none. Every request is already a span in its
    # trace and a count in http_requests_total; a line per success cost the edge ~10% of its
    # CPU per submit (tests/bench/README.md).
    http_access_log: Literal["errors", "all", "off"] = "errors"
    # Processes serving the HTTP port (uvicorn's workers, sharing its socket), each with its own
    # Kafka producer and in-flight limit. Over 1: /metrics sums every process (prometheus-client's
    # multiprocess mode), and the rate limits are per process unless RATE_LIMIT_STORAGE_URI is set.
    edge_workers: int = Field(default=1, ge=1)
    # The dispatcher's gRPC health endpoint: per-channel health (breakers) for GET /health.
    dispatcher_addr: str = "127.0.0.1:50054"
    # Seconds a successful Authenticate answer is reused (keyed by the credential's SHA-256): a
    # revoked key or a changed role reaches this edge within this time (shorter than a gRPC
    # service's: operators' browsers and tools call the edge).
    auth_cache_ttl_s: float = 10.0
    # The built web form (`npm run build` in webform/), served at /webform/.
    webform_dist_dir: Path = Path(__file__).resolve().parents[2] / "webform" / "dist"
    # The built operator inbox (`npm run build` in inbox/), served at /inbox/.
    inbox_dist_dir: Path = Path(__file__).resolve().parents[2] / "inbox" / "dist"
    # The inbox's "Sign in with your company account" (authorization code + PKCE, a public
    # client): the provider's issuer URL and the inbox's client id there; both set to offer it.
    # The token it sends must be one the access service accepts (OIDC_ISSUER, OIDC_AUDIENCE):
    # the id token (audience = this client id) or, with INBOX_OIDC_TOKEN=access_token, the
    # access token.
    inbox_oidc_issuer: str = ""
    inbox_oidc_client_id: str = ""
    inbox_oidc_scope: str = "openid profile email"
    inbox_oidc_token: Literal["id_token", "access_token"] = "id_token"
    # Shared with the host pages that embed the form: their identity token (HMAC-SHA256 of the
    # signed-in user's email) proves the form's email. Unset: no token is accepted.
    webform_identity_secret: SecretStr | None = None
