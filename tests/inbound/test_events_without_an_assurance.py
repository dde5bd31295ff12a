"""An InboundMessage published before `sender.assurance` existed (issue 12) is read by its
channel: the web form's addresses were only typed, the other channels' were checked by the edge
(Twilio's signature) or came through Gmail's delivery as before."""

from __future__ import annotations

import pytest
from fte.common.v1 import channel_pb2
from fte.common.v1.sender_assurance_pb2 import (
    SENDER_ASSURANCE_CLAIMED,
    SENDER_ASSURANCE_UNSPECIFIED,
    SENDER_ASSURANCE_VERIFIED,
)
from fte.events.v1 import events_pb2

from services.inbound.worker import sender_assurance


@pytest.mark.parametrize(
    "channel, stated, read",
    [
        (channel_pb2.CHANNEL_WEB_FORM, SENDER_ASSURANCE_UNSPECIFIED, SENDER_ASSURANCE_CLAIMED),
        (channel_pb2.CHANNEL_WHATSAPP, SENDER_ASSURANCE_UNSPECIFIED, SENDER_ASSURANCE_VERIFIED),
        (channel_pb2.CHANNEL_EMAIL, SENDER_ASSURANCE_UNSPECIFIED, SENDER_ASSURANCE_VERIFIED),
        (channel_pb2.CHANNEL_WEB_FORM, SENDER_ASSURANCE_VERIFIED, SENDER_ASSURANCE_VERIFIED),
        (channel_pb2.CHANNEL_EMAIL, SENDER_ASSURANCE_CLAIMED, SENDER_ASSURANCE_CLAIMED),
    ],
)
def test_an_events_assurance_is_what_it_states_or_what_its_channel_implies(channel, stated, read):
    event = events_pb2.InboundMessage(channel=channel, sender=events_pb2.Sender(assurance=stated))

    assert sender_assurance(event) == read
