"""Every channel in the proto has one name, spelled as in the database and the API, and the
name and the enum value map to each other both ways; topic names use the same spelling."""

from __future__ import annotations

import pytest
from fte.common.v1 import channel_pb2

from services.common import channels, topics


def test_each_channel_value_has_its_database_name_and_back():
    assert dict(channels.BY_NAME) == {
        "email": channel_pb2.CHANNEL_EMAIL,
        "whatsapp": channel_pb2.CHANNEL_WHATSAPP,
        "web_form": channel_pb2.CHANNEL_WEB_FORM,
    }
    for value in channels.VALUES:
        assert channels.BY_NAME[channels.name(value)] == value
    assert [channels.name(v) for v in channels.VALUES] == ["email", "whatsapp", "web_form"]


def test_every_channel_in_the_proto_is_named_except_unspecified():
    in_proto = {v.number for v in channel_pb2.Channel.DESCRIPTOR.values}
    assert set(channels.VALUES) == in_proto - {channel_pb2.CHANNEL_UNSPECIFIED}


@pytest.mark.parametrize("bad", [channel_pb2.CHANNEL_UNSPECIFIED, 99])
def test_unspecified_or_unknown_values_have_no_name(bad):
    with pytest.raises(ValueError):
        channels.name(bad)


@pytest.mark.parametrize("bad", ["web", "WEB_FORM", "CHANNEL_EMAIL", "unspecified", ""])
def test_only_the_database_spelling_is_a_channel_name(bad):
    assert bad not in channels.BY_NAME


def test_channel_topics_spell_the_channel_as_the_database_does():
    assert topics.outbound_topic(channel_pb2.CHANNEL_WEB_FORM) == "fte.channels.web_form.outbound"
    assert topics.inbound_topic(channel_pb2.CHANNEL_EMAIL) == "fte.channels.email.inbound"
    with pytest.raises(ValueError, match="no topic"):
        topics.outbound_topic(channel_pb2.CHANNEL_UNSPECIFIED)
