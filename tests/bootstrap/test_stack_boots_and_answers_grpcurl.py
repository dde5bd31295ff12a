"""From nothing to a running mesh: the real service processes start on the embedded stack and
the real `grpcurl` lists every service, health and reflection, and Health/Check says SERVING."""

from __future__ import annotations

import json

import pytest

from tests.running_services import grpcurl

EXPECTED = {
    "identity": {"fte.identity.v1.IdentityService"},
    "conversation": {"fte.conversation.v1.ConversationService", "fte.handoff.v1.HandoffService"},
    "agent": {"fte.agent.v1.AgentService", "fte.knowledge.v1.KnowledgeService"},
    "access": {"fte.access.v1.AccessService"},
}
ALWAYS = {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}


async def _grpcurl(*args: str) -> str:
    run = await grpcurl("-plaintext", "-max-time", "10", *args)
    assert run.code == 0, str(run)
    return run.output


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_grpcurl_lists_service_health_and_reflection(services, name):
    listed = set((await _grpcurl(services.address(name), "list")).split())
    assert listed == EXPECTED[name] | ALWAYS


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_grpcurl_health_check_is_serving(services, name):
    reply = json.loads(await _grpcurl(services.address(name), "grpc.health.v1.Health/Check"))
    assert reply == {"status": "SERVING"}


async def test_grpcurl_describes_rpcs_and_messages_through_reflection(services):
    identity = await _grpcurl(services.address("identity"), "describe",
                              "fte.identity.v1.IdentityService")
    for rpc in ("ResolveCustomer", "LinkIdentifier", "MergeCustomers", "GetCustomer",
                "LookupCustomer"):
        assert f"rpc {rpc} ( .fte.identity.v1.{rpc}Request ) returns ( .fte.identity.v1.{rpc}Response )" in identity
    # Messages and enums imported from another file resolve too (fte.common.v1.Channel).
    request = await _grpcurl(services.address("conversation"), "describe",
                             "fte.conversation.v1.RecordInboundRequest")
    assert ".fte.common.v1.Channel channel" in request
    channel = await _grpcurl(services.address("agent"), "describe", "fte.common.v1.Channel")
    assert "CHANNEL_UNSPECIFIED = 0;" in channel and "CHANNEL_WHATSAPP" in channel
