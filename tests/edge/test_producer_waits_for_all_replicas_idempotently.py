"""The producer the edge publishes with (built by services.common.kafka.new_producer, as the
worker's is) waits for every in-sync replica (acks=all) and is idempotent: the broker gave it a
producer id, so a retried send is never written twice."""

from __future__ import annotations

import asyncio

from services.common.kafka import new_producer
from services.edge.app import create_app
from tests.edge.conftest import edge_settings, serve_edge


async def _assert_acks_all_and_idempotent(producer) -> None:
    # aiokafka keeps the settings it runs with on its sender and its transaction manager.
    assert producer._sender._acks == -1, "acks is not all"
    assert producer._txn_manager is not None, "idempotence is off"
    await asyncio.wait_for(producer._txn_manager.wait_for_pid(), 10)
    assert producer._txn_manager.producer_id >= 0, "the broker gave the producer no producer id"


async def test_the_running_edge_publishes_with_acks_all_and_idempotence(stack, identity_address, conversation_address):
    settings = edge_settings(stack, identity_address, conversation_address)
    app = create_app(settings)
    async with serve_edge(settings, app):
        producer = app.state.kafka.producer
        assert producer is not None, "the edge did not connect to Kafka"
        await _assert_acks_all_and_idempotent(producer)


async def test_new_producer_is_acks_all_and_idempotent(stack):
    producer = new_producer(stack.bootstrap_servers, "config-test")
    await producer.start()
    try:
        await _assert_acks_all_and_idempotent(producer)
    finally:
        await producer.stop()
