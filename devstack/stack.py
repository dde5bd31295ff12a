"""PostgreSQL + Kafka + migrations + topics (+ Redis for the edge's rate limits, + Jaeger for
the traces) as one unit, embedded or external.

`DATABASE_URL` (an admin URL) and `KAFKA_BOOTSTRAP_SERVERS` replace the embedded servers;
migrations and topics are then applied to those instead. `RATE_LIMIT_STORAGE_URI` (or
`REDIS_URL`) replaces the embedded Redis, `OTEL_EXPORTER_OTLP_ENDPOINT` the embedded Jaeger.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from devstack import DEFAULT_DATA_ROOT, jaeger, kafka, migrate, postgres, redis

log = logging.getLogger(__name__)


def data_root() -> Path:
    """Where the `make run` stack keeps its data: FTE_DATA_DIR, or .data in the repository."""
    return Path(os.environ.get("FTE_DATA_DIR") or DEFAULT_DATA_ROOT).resolve()


@dataclass(frozen=True)
class StackConfig:
    postgres: postgres.PostgresConfig
    kafka: kafka.KafkaConfig
    # Set: use these servers; the embedded one of that kind is neither started nor stopped.
    external_database_url: str | None = None
    external_kafka: str | None = None
    # The edge replicas' shared rate-limit store. None: no embedded Redis, and unless
    # `external_rate_limit_storage` names one, each edge counts in memory.
    redis: redis.RedisConfig | None = None
    external_rate_limit_storage: str | None = None
    # Where the processes send their spans. None: no embedded Jaeger, and unless
    # `external_otlp_endpoint` names a collector, the processes inherit whatever they are given.
    jaeger: jaeger.JaegerConfig | None = None
    external_otlp_endpoint: str | None = None

    @classmethod
    def from_env(cls) -> StackConfig:
        """The `make run` stack. FTE_DATA_DIR, FTE_PG_PORT, FTE_KAFKA_PORT and
        FTE_KAFKA_CONTROLLER_PORT (and FTE_REDIS_PORT, FTE_JAEGER_OTLP_PORT, FTE_JAEGER_PORT,
        FTE_JAEGER_GRPC_PORT) allow a second, independent one."""
        root = data_root()
        return cls(
            postgres.PostgresConfig.from_env(root),
            kafka.KafkaConfig.from_env(root),
            external_database_url=os.environ.get("DATABASE_URL") or None,
            external_kafka=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            redis=redis.RedisConfig.from_env(root),
            external_rate_limit_storage=(os.environ.get("RATE_LIMIT_STORAGE_URI")
                                         or os.environ.get("REDIS_URL") or None),
            jaeger=jaeger.JaegerConfig.from_env(root),
            external_otlp_endpoint=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
        )

    @property
    def embedded_redis(self) -> redis.RedisConfig | None:
        return None if self.external_rate_limit_storage else self.redis

    @property
    def embedded_jaeger(self) -> jaeger.JaegerConfig | None:
        return None if self.external_otlp_endpoint else self.jaeger


@dataclass(frozen=True)
class Endpoints:
    admin_dsn: str
    bootstrap_servers: str
    # For the edge: `redis://...`, or "" for in-memory counts.
    rate_limit_storage_uri: str = ""
    # For every process's OTLP exporter: `http://host:port`, or "" (left as each inherits it).
    otlp_endpoint: str = ""
    # The embedded Jaeger's query API and UI, "" when spans go elsewhere.
    jaeger_url: str = ""


def embedded_running(cfg: StackConfig) -> set[str]:
    """Which embedded servers of this config are running now ("postgres", "kafka", "redis",
    "jaeger")."""
    running = set()
    if not cfg.external_database_url and postgres.running_pid(cfg.postgres):
        running.add("postgres")
    if not cfg.external_kafka and kafka.running_pid(cfg.kafka):
        running.add("kafka")
    if cfg.embedded_redis and redis.running_pid(cfg.embedded_redis):
        running.add("redis")
    if cfg.embedded_jaeger and jaeger.running_pid(cfg.embedded_jaeger):
        running.add("jaeger")
    return running


async def _timed(label: str, coro):
    started = time.monotonic()
    result = await coro
    log.info("%s ready in %.1fs", label, time.monotonic() - started)
    return result


async def up(cfg: StackConfig) -> Endpoints:
    """Start what is embedded (all servers at once), then apply migrations and topics.

    Idempotent: running servers are reused and only pending migrations are applied.
    """
    admin_dsn = cfg.external_database_url or cfg.postgres.admin_dsn
    bootstrap = cfg.external_kafka or cfg.kafka.bootstrap_servers
    starts = []
    if not cfg.external_database_url:
        starts.append(_timed("PostgreSQL", postgres.start(cfg.postgres)))
    if not cfg.external_kafka:
        starts.append(_timed("Kafka", kafka.start(cfg.kafka)))
    if cfg.embedded_redis:
        starts.append(_timed("Redis", redis.start(cfg.embedded_redis)))
    if cfg.embedded_jaeger:
        starts.append(_timed("Jaeger", jaeger.start(cfg.embedded_jaeger)))
    # All starts run to the end even if one fails, so the caller's clean-up sees (and can
    # stop) everything that was started.
    for result in await asyncio.gather(*starts, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result
    await asyncio.gather(
        _timed("migrations", migrate.migrate(admin_dsn)),
        _timed("topics", kafka.ensure_topics(bootstrap, kafka.topic_partitions(),
                                             kafka.topic_replication_factor())),
    )
    storage = cfg.external_rate_limit_storage or (cfg.redis.url if cfg.redis else "")
    traces = cfg.embedded_jaeger
    otlp = cfg.external_otlp_endpoint or (traces.otlp_endpoint if traces else "")
    return Endpoints(admin_dsn, bootstrap, storage, otlp, traces.url if traces else "")


def down(cfg: StackConfig, *, only: set[str] | None = None) -> None:
    """Stop the embedded servers, or just those named in `only`; no-op for stopped ones.
    External servers are never touched."""
    wanted = {"postgres", "kafka", "redis", "jaeger"} if only is None else only
    if "jaeger" in wanted and cfg.embedded_jaeger:
        jaeger.stop(cfg.embedded_jaeger)
    if "redis" in wanted and cfg.embedded_redis:
        redis.stop(cfg.embedded_redis)
    if "kafka" in wanted and not cfg.external_kafka:
        kafka.stop(cfg.kafka)
    if "postgres" in wanted and not cfg.external_database_url:
        postgres.stop(cfg.postgres)
