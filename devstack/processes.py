"""The application processes `python -m devstack run` starts, in start order.

Edit PROCESSES to add a process. For experiments or tests, `FTE_DEVSTACK_PROCESSES=module:NAME`
points `run` at another sequence of AppProcess instead.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AppProcess:
    name: str
    args: tuple[str, ...]  # arguments to the virtualenv's python
    # TCP port the process listens on, passed in `port_env`; `run` waits until it accepts.
    port: int | None = None
    port_env: str = "GRPC_PORT"
    # Database schema whose role the process connects as (its DATABASE_URL); None: no database.
    schema: str | None = None
    # Env vars through which every process learns this one's 127.0.0.1:<port> address.
    advertise_as: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    # HTTP paths worth printing once the process is up (the API docs, the web form).
    urls: tuple[str, ...] = ()
    # The name its service key carries (role service): what the contracts' method rules list
    # in `services`. Each run gets a fresh key in SERVICE_KEY (devstack/service_keys.py).
    service_identity: str | None = None
    # SETUP steps only: the step prints one value on stdout (its stderr is shown as usual),
    # which `run` prints as `<prints_as>=<value>` with the URLs once everything is up.
    prints_as: str | None = None


PROCESSES: tuple[AppProcess, ...] = (
    # Who a caller's credential belongs to: every gRPC server and the edge ask it (and cache the
    # answer), so it starts first. It checks its own callers itself: it needs no service key.
    AppProcess("access", ("-m", "services.access"), port=50056, schema="access",
               advertise_as=("ACCESS_ADDR",), env={"METRICS_PORT": "9464"}),
    AppProcess("identity", ("-m", "services.identity"), port=50051, schema="identity",
               advertise_as=("IDENTITY_ADDR",), service_identity="identity",
               env={"METRICS_PORT": "9465"}),
    # Every process serves Prometheus /metrics on its METRICS_PORT (services/common/metrics.py):
    # 9464 and up; the conversation's 50058 and the notifier's 50057 are older; the edge serves
    # it on its HTTP port.
    AppProcess("conversation", ("-m", "services.conversation"), port=50052, schema="conversation",
               advertise_as=("CONVERSATION_ADDR",), service_identity="conversation",
               env={"METRICS_PORT": "50058"}),
    # One server hosts both the agent and the knowledge API, over the knowledge schema.
    AppProcess("agent", ("-m", "services.agent"), port=50053, schema="knowledge",
               advertise_as=("AGENT_ADDR", "KNOWLEDGE_ADDR"), service_identity="agent",
               env={"METRICS_PORT": "9466"}),
    # Kafka consumers: no port of their own but /metrics.
    AppProcess("worker", ("-m", "services.inbound"), service_identity="inbound",
               env={"METRICS_PORT": "9467"}),
    AppProcess("dispatcher", ("-m", "services.channels"), port=50054,
               advertise_as=("DISPATCHER_ADDR",), service_identity="dispatcher",
               env={"METRICS_PORT": "9468"}),
    # Tells the owning team about each escalation (fte.escalations); its port serves /metrics.
    AppProcess("notifier", ("-m", "services.handoff"), port=50057, port_env="METRICS_PORT",
               schema="notifier", service_identity="notifier"),
    # Its schema holds only the outbox: messages taken while Kafka was away (edge/outbox.py).
    AppProcess("edge", ("-m", "services.edge"), port=8080, port_env="HTTP_PORT", schema="edge",
               urls=("/webform/", "/webform/demo.html", "/inbox/", "/docs", "/health"), service_identity="edge"),
)


# One-shot commands `run` executes (in order, each to completion) before starting PROCESSES.
SETUP: tuple[AppProcess, ...] = (
    # Loads the knowledge base; unchanged articles are skipped, so restarts are quick.
    AppProcess("seed-knowledge", ("-m", "services.knowledge.seed"), schema="knowledge"),
    # An admin key for this laptop, printed with the URLs; the previous run's is revoked.
    AppProcess("api-key", ("-m", "services.access.keys_cli", "create", "--role", "admin",
                           "--name", "make run (local)", "--replace"),
               schema="access", prints_as="FTE_API_KEY"),
)


def load_processes() -> Sequence[AppProcess]:
    spec = os.environ.get("FTE_DEVSTACK_PROCESSES")
    if not spec:
        return PROCESSES
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr or "PROCESSES")


def load_setup() -> Sequence[AppProcess]:
    """SETUP of the module the processes come from (none for a module that has no SETUP)."""
    spec = os.environ.get("FTE_DEVSTACK_PROCESSES")
    if not spec:
        return SETUP
    return getattr(importlib.import_module(spec.partition(":")[0]), "SETUP", ())
