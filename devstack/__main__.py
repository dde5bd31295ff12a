"""python -m devstack {up,down,run}

  up    start PostgreSQL, Kafka, Redis and Jaeger, apply migrations and topics, print addresses, exit
        (the servers keep running)
  down  stop the embedded PostgreSQL, Kafka, Redis and Jaeger
  run   `up`, then the application processes (devstack/processes.py) until Ctrl-C/SIGTERM;
        a process that crashes once all are up is restarted with backoff (1 s doubling to 30 s),
        the others keep running; one that exits before all are up fails `run`. Then stops the
        processes, Redis, Kafka and PostgreSQL. Servers that were already running before `run`
        (e.g. from `up`) are left running. Each process's pid, state and restarts are kept in
        .data/devstack/processes.json (FTE_DEVSTACK_STATE; devstack/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from devstack import jaeger, kafka, migrate, postgres, redis, runner, service_keys, stack
from devstack.processes import load_processes, load_setup

# Failures with a message that says it all; anything else keeps its traceback.
_EXPECTED = (postgres.PostgresError, kafka.KafkaStartError, redis.RedisStartError, jaeger.JaegerStartError,
             migrate.MigrationError, runner.StartupError)


def _print_endpoints(cfg: stack.StackConfig, endpoints: stack.Endpoints) -> None:
    def where(external: str | None, data_dir: Path) -> str:
        return "external" if external else f"embedded, data in {data_dir}"

    runner.print_table([
        ("postgres", runner.redact(endpoints.admin_dsn),
         where(cfg.external_database_url, cfg.postgres.data_dir)),
        ("kafka", endpoints.bootstrap_servers, where(cfg.external_kafka, cfg.kafka.data_dir)),
        *([("redis", runner.redact(endpoints.rate_limit_storage_uri),
            where(cfg.external_rate_limit_storage, cfg.redis.data_dir))] if cfg.redis else []),
        *([("jaeger", f"{endpoints.jaeger_url} (OTLP {endpoints.otlp_endpoint})", "embedded, traces in memory")]
          if endpoints.jaeger_url else
          [("traces", f"OTLP {endpoints.otlp_endpoint}", "external")] if endpoints.otlp_endpoint else []),
    ])


def _up(cfg: stack.StackConfig) -> int:
    already = stack.embedded_running(cfg)
    try:
        endpoints = asyncio.run(stack.up(cfg))
    except _EXPECTED as e:
        print(f"devstack up failed: {e}", file=sys.stderr)
        stack.down(cfg, only=stack.embedded_running(cfg) - already)  # no half-started stack
        return 1
    _print_endpoints(cfg, endpoints)
    return 0


async def _run(cfg: stack.StackConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    processes = load_processes()
    already = stack.embedded_running(cfg)
    try:
        # Not cancelled by a signal: a half-finished start could leave a server we cannot see
        # yet. It is bounded by the start timeouts; the stop request is honoured right after.
        endpoints = await stack.up(cfg)
        if stop.is_set():
            return 0
        printed = await runner.run_setup(load_setup(), processes, endpoints)
        processes = await service_keys.issue(processes, endpoints, replace=True)
        if stop.is_set():
            return 0
        return await runner.supervise(processes, endpoints, stop, printed=printed,
                                      restart=runner.RestartPolicy.from_env(), state_file=runner.state_path())
    except _EXPECTED as e:
        print(f"devstack run failed: {e}", file=sys.stderr)
        return 1
    finally:
        await asyncio.to_thread(stack.down, cfg, only=stack.embedded_running(cfg) - already)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "down", "run"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="devstack | %(message)s", stream=sys.stdout)
    # aiokafka logs every refused connection while the broker boots; only its errors matter.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)

    cfg = stack.StackConfig.from_env()
    if args.command == "up":
        return _up(cfg)
    if args.command == "down":
        stack.down(cfg)
        return 0
    return asyncio.run(_run(cfg))


if __name__ == "__main__":
    sys.exit(main())
