"""Channel names (`email`, `whatsapp`, `web_form`) and their `fte.common.v1.Channel` values.

The name is how a channel is spelled outside protobuf: in the database, the HTTP API, Kafka
topic names, logs and metrics. Both directions are derived from the proto's enum descriptor
(CHANNEL_WEB_FORM → web_form), so a channel added to the proto needs no edit here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from fte.common.v1 import channel_pb2

_PREFIX = "CHANNEL_"

BY_VALUE: Mapping[int, str] = MappingProxyType(
    {
        v.number: v.name.removeprefix(_PREFIX).lower()
        for v in channel_pb2.Channel.DESCRIPTOR.values
        if v.number != channel_pb2.CHANNEL_UNSPECIFIED
    }
)
BY_NAME: Mapping[str, int] = MappingProxyType({name: value for value, name in BY_VALUE.items()})

# In the proto's order: email, whatsapp, web_form.
VALUES: tuple[int, ...] = tuple(BY_VALUE)


def name(value: int) -> str:
    """The name of a channel value (CHANNEL_WEB_FORM → "web_form"); ValueError for
    UNSPECIFIED or a number the enum lacks."""
    try:
        return BY_VALUE[value]
    except KeyError:
        raise ValueError(f"no channel with value {value}") from None

