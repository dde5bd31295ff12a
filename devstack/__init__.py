"""Embedded local stack: PostgreSQL 16 + pgvector, a single-node Kafka broker, Redis (the edge's
shared rate limits), schema migrations and the service processes, so `python -m devstack run`
needs no configuration.

`DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS` / `RATE_LIMIT_STORAGE_URI` (or `REDIS_URL`) switch
the stack to external servers instead.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_ROOT = REPO_ROOT / ".data"
