"""PostgreSQL + Kafka + migrations + topics as one unit, embedded or external.

`DATABASE_URL` (an admin URL) and `KAFKA_BOOTSTRAP_SERVERS` replace the embedded servers;
migrations and topics are then applied to those instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from devstack import DEFAULT_DATA_ROOT, kafka, migrate, postgres

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StackConfig:
    postgres: postgres.PostgresConfig
    kafka: kafka.KafkaConfig
    # Set: use these servers; the embedded one of that kind is neither started nor stopped.
    external_database_url: str | None = None
    external_kafka: str | None = None

    @classmethod
    def from_env(cls) -> StackConfig:
        """The `make run` stack. FTE_DATA_DIR, FTE_PG_PORT, FTE_KAFKA_PORT and
        FTE_KAFKA_CONTROLLER_PORT allow a second, independent one."""
        data_root = Path(os.environ.get("FTE_DATA_DIR") or DEFAULT_DATA_ROOT).resolve()
        return cls(
            postgres.PostgresConfig.from_env(data_root),
            kafka.KafkaConfig.from_env(data_root),
            external_database_url=os.environ.get("DATABASE_URL") or None,
            external_kafka=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        )


@dataclass(frozen=True)
class Endpoints:
    admin_dsn: str
    bootstrap_servers: str


def embedded_running(cfg: StackConfig) -> set[str]:
    """Which embedded servers of this config are running now ("postgres", "kafka")."""
    running = set()
    if not cfg.external_database_url and postgres.running_pid(cfg.postgres):
        running.add("postgres")
    if not cfg.external_kafka and kafka.running_pid(cfg.kafka):
        running.add("kafka")
    return running


async def _timed(label: str, coro):
    started = time.monotonic()
    result = await coro
    log.info("%s ready in %.1fs", label, time.monotonic() - started)
    return result


async def up(cfg: StackConfig) -> Endpoints:
    """Start what is embedded (both servers at once), then apply migrations and topics.

    Idempotent: running servers are reused and only pending migrations are applied.
    """
    admin_dsn = cfg.external_database_url or cfg.postgres.admin_dsn
    bootstrap = cfg.external_kafka or cfg.kafka.bootstrap_servers
    starts = []
    if not cfg.external_database_url:
        starts.append(_timed("PostgreSQL", postgres.start(cfg.postgres)))
    if not cfg.external_kafka:
        starts.append(_timed("Kafka", kafka.start(cfg.kafka)))
    # Both starts run to the end even if one fails, so the caller's clean-up sees (and can
    # stop) everything that was started.
    for result in await asyncio.gather(*starts, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result
    await asyncio.gather(
        _timed("migrations", migrate.migrate(admin_dsn)),
        _timed("topics", kafka.ensure_topics(bootstrap, kafka.topic_partitions(),
                                             kafka.topic_replication_factor())),
    )
    return Endpoints(admin_dsn, bootstrap)


def down(cfg: StackConfig, *, only: set[str] | None = None) -> None:
    """Stop the embedded servers, or just those named in `only`; no-op for stopped ones.
    External servers are never touched."""
    wanted = {"postgres", "kafka"} if only is None else only
    if "kafka" in wanted and not cfg.external_kafka:
        kafka.stop(cfg.kafka)
    if "postgres" in wanted and not cfg.external_database_url:
        postgres.stop(cfg.postgres)
