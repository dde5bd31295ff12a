"""Plumbing every service shares: config, logging, telemetry, gRPC bootstrap and clients,
Kafka with trace propagation, the database pool. One copy, used by all."""
