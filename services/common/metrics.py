"""Every Prometheus metric the processes export, in one catalogue, at the four levels operators
watch (channel, agent, system, business), and the one way a process serves them.

One shared way: prometheus-client's default registry. Why not the OpenTelemetry metrics SDK with
a Prometheus exporter: Prometheus (and the PrometheusRule in k8s/, the Grafana dashboard) pulls
the exposition format, which prometheus-client writes directly with explicit histogram buckets;
the OTel route adds an SDK, a reader and an exporter between the same counters and the same text,
and renames metrics on the way (unit suffixes). Traces stay OpenTelemetry (telemetry.py).

There is no `fte.metrics` Kafka topic: these series are the metrics, scraped where they are made.
A topic of metric events would be a second mechanism for the same numbers, with no reader.

A process serves /metrics on METRICS_PORT (`serve_metrics`: the shared gRPC bootstrap does it
for every gRPC server and the dispatcher, the worker's and the notifier's mains for theirs); the
edge serves it on its own HTTP port. Every metric here is exported by at least one process
(tests/observability checks it on the running pipeline); the alerts and the Grafana dashboard
name only metrics of this catalogue (or Kubernetes' own, kube-state-metrics).

Where each one is made:

| metric | process | where |
| --- | --- | --- |
| fte_conversations, fte_customer_sentiment | worker | inbound/worker.py, after RecordInbound (not for a redelivered message); sentiment is the agent's VADER score (agent/guardrails.py) |
| fte_messages | worker | inbound/worker.py `handle`: replied/silenced → answered, escalated/held → escalated, dead_letter → dead_lettered |
| fte_reply_latency_seconds | dispatcher | channels/outbound_dispatcher.py, once a reply is sent: the event's `latency_ms` (receipt at the edge, or Gmail's, → reply published) + time since `create_time` |
| fte_agent_tool_calls, fte_knowledge_searches | agent | agent/tools.py: every recorded tool call; each `search_knowledge_base` (hit: an article passed `KNOWLEDGE_MIN_SCORE`) |
| fte_agent_tokens, fte_agent_errors | agent | agent/agent.py: the SDK's usage per run (_UsageHooks); downstream / tool / model / timeout failures |
| fte_rpc_server_duration_seconds | every gRPC server | common/rpc_metrics.py, the bootstrap's outermost interceptor |
| fte_kafka_consumer_lag | worker, dispatcher, notifier | common/consumer.py, after each commit and on every empty fetch |
| fte_db_pool_connections | identity, conversation, agent (knowledge), access, notifier, edge | common/db.py `owned_pool`, read at scrape time |
| fte_dead_letters | worker, dispatcher (and Gmail ingest), notifier | common/dead_letters.py `park` (source: the record's topic) |
| fte_channel_circuit_open | dispatcher | channels/resilience.py, 0 from a breaker's creation |
| fte_tickets_closed | conversation | conversation/store.py, a ticket moving to resolved |
| fte_customer_identifications | identity | identity/server.py ResolveCustomer |
| fte_escalation_first_replies | conversation | conversation/handoff.py (HandoffService): each escalation once, kept or breached |
| fte_edge_outbox_depth, fte_edge_outbox_oldest_age_seconds | edge | edge/outbox.py, at each relay look (every RELAY_POLL_S) and GET /health |
| fte_edge_outbox_messages | edge | edge/outbox.py: stored (Kafka did not take it in time), relayed (the relay's ack) |
| http_requests_total, http_request_duration_seconds | edge | prometheus-fastapi-instrumentator (edge/app.py) |
| fte_edge_shed_requests | edge | edge/load_shedding.py: a request refused with 503 because EDGE_MAX_IN_FLIGHT were in hand |
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, start_http_server)

log = logging.getLogger(__name__)

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
# The edge's outbox (edge/outbox.py): messages accepted while Kafka could not take them, waiting for
# the relay. Every edge replica reports the same table: aggregate with max, not sum.
EDGE_OUTBOX_DEPTH = Gauge(
    "fte_edge_outbox_depth", "Messages waiting in the edge's outbox for Kafka", multiprocess_mode="livemax")
EDGE_OUTBOX_OLDEST_AGE = Gauge(
    "fte_edge_outbox_oldest_age_seconds", "Age of the oldest message waiting in the edge's outbox (0: none)",
    multiprocess_mode="livemax")
EDGE_OUTBOX_MESSAGES = Counter(
    "fte_edge_outbox_messages", "Messages through the edge's outbox", ["event"])  # stored | relayed
# Requests the edge refused at once (503 + Retry-After) because it already had EDGE_MAX_IN_FLIGHT
# in hand: overload, deliberately shed. Not in http_requests_total (refused before routing).
EDGE_SHED_REQUESTS = Counter(
    "fte_edge_shed_requests", "Requests the edge refused with 503 because it was at its in-flight limit")
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


def zero(metric, *label_values: Iterable[str]) -> None:
    """Creates every combination of `label_values` at 0, so rates and ratios have series from
    the first scrape (a labelled metric is otherwise absent until its first event)."""
    for labels in itertools.product(*label_values):
        metric.labels(*labels)


# --- serving -------------------------------------------------------------------------------


class MetricsServer:
    """prometheus-client's /metrics HTTP server (a thread of its own); `close()` stops it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.port: int = server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Serves the default registry at http://<host>:<port>/metrics (port 0: any free port) until
    `close()`. Every process but the edge calls it when METRICS_PORT is set (Settings.metrics_port);
    the host is the process's GRPC_HOST, so it listens where its other port does."""
    server, thread = start_http_server(port, addr=host)
    log.info("metrics on http://%s:%s/metrics", host, server.server_port)
    return MetricsServer(server, thread)


def exposition() -> bytes:
    """The /metrics text of this process; under PROMETHEUS_MULTIPROC_DIR (the edge with
    EDGE_WORKERS > 1 sets it for its workers) the sum over every process writing to that folder,
    so whichever worker Prometheus reaches answers for all of them."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)
