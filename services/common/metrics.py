"""Every Prometheus metric the processes export, in one catalogue, at the four levels operators
watch (channel, agent, system, business), and the one way a process serves them.

One shared way: prometheus-client's default registry. Why not the OpenTelemetry metrics SDK with
a Prometheus exporter: Prometheus (and the PrometheusRule in k8s/, the Grafana dashboard) pulls
the exposition format, which prometheus-client writes directly with explicit histogram buckets;
the OTel route adds an SDK, a reader and an exporter between the same counters and the same text,
and renames metrics on the way (unit suffixes). Traces stay OpenTelemetry (telemetry.py).

There is no `fte.metrics` Kafka topic: these series are the metrics, scraped where they are made.
A topic of metric events would be a second mechanism for the same numbers, with no reader.

A process serves /metrics on METRICS_PORT (`serve_metrics`); the edge serves it on its own HTTP
port. Every metric here is exported by at least one process (tests/observability checks it on the
running pipeline); the alerts (k8s/base/observability/alerts.yaml) and the Grafana dashboard
name only metrics of this catalogue (or Kubernetes' own, kube-state-metrics).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# --- channel level -------------------------------------------------------------------------
# `channel` is the channel slug everywhere: email | whatsapp | web_form (services/common/channels).

CONVERSATIONS = Counter(
    "fte_conversations", "Conversations started (a customer's first message after none open)",
    ["channel"])
# One per customer message the pipeline finished with: answered by the agent, handed to a person
# (escalated), or parked in the DLQ. Escalation rate: escalated / all.
MESSAGES = Counter(
    "fte_messages", "Customer messages handled, by how they ended", ["channel", "outcome"])
MESSAGE_OUTCOMES = ("answered", "escalated", "dead_lettered")
# From the edge accepting the message to its reply (or handover notice) handed to the channel's API.
REPLY_LATENCY = Histogram(
    "fte_reply_latency_seconds",
    "From the edge accepting a customer message to the reply sent on the channel", ["channel"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300))
SENTIMENT = Histogram(
    "fte_customer_sentiment", "VADER compound sentiment of each customer message (-1 angry, 1 glad)",
    ["channel"], buckets=(-0.6, -0.2, 0.2, 0.6, 1.0))

# --- agent level ---------------------------------------------------------------------------

TOOL_CALLS = Counter("fte_agent_tool_calls", "Agent tool calls", ["tool", "outcome"])  # ok | error
# hit: at least one article passed the relevance bar. Knowledge hit rate: hit / all.
KNOWLEDGE_SEARCHES = Counter("fte_knowledge_searches", "Knowledge searches", ["outcome"])  # hit | miss
TOKENS = Counter("fte_agent_tokens", "Model tokens used", ["model", "kind"])  # kind: input | output
AGENT_ERRORS = Counter("fte_agent_errors", "Agent runs that failed", ["kind"])

# --- system level --------------------------------------------------------------------------

# Every RPC a server answers (the shared bootstrap's interceptor); errors: code != "OK".
RPC_DURATION = Histogram(
    "fte_rpc_server_duration_seconds", "gRPC server calls by method and status code",
    ["service", "method", "code"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
# highwater - committed position, per consumer group and partition, refreshed as records are read.
KAFKA_CONSUMER_LAG = Gauge(
    "fte_kafka_consumer_lag", "Records in a partition its group has not processed yet",
    ["group", "topic", "partition"])
# Read from each asyncpg pool at scrape time. Pool use: in_use / max.
DB_POOL = Gauge("fte_db_pool_connections", "Database pool connections", ["pool", "state"])  # in_use | size | max
DEAD_LETTERS = Counter("fte_dead_letters", "Records parked in a dead-letter topic", ["topic", "source"])
CIRCUIT_OPEN = Gauge("fte_channel_circuit_open", "1 while a channel's circuit breaker is open", ["channel"])
# HTTP at the edge: prometheus-fastapi-instrumentator's `http_requests_total{handler,method,status}`
# (status grouped: 2xx, 4xx, 5xx) and `http_request_duration_seconds{handler,method}`.

# --- business level ------------------------------------------------------------------------

# A ticket closed; resolved_by: agent (no person ever took part) | person.
TICKETS_CLOSED = Counter("fte_tickets_closed", "Tickets closed, by who resolved them", ["channel", "resolved_by"])
# ResolveCustomer: new | known (seen on this channel) | cross_channel (known from another channel).
IDENTIFICATIONS = Counter("fte_customer_identifications", "Senders resolved to customers", ["channel", "result"])
# Each escalation counted once, when its first human reply comes (kept or breached) or when it is
# seen overdue with none (breached).
FIRST_REPLIES = Counter(
    "fte_escalation_first_replies", "Escalations' first human reply against the team's promise",
    ["team", "promise"])  # kept | breached
