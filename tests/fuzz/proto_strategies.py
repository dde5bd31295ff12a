"""Hypothesis strategies for any protobuf message, derived from its descriptor: every field may
be set, to values a careless or hostile client could send — strings empty, huge, unicode, with
NUL; ids that look right (UUIDs, addresses, E.164 numbers) and ones that do not; integers at
their bounds; NaN and infinities; enum numbers the contract does not define; repeated and map
fields; nested messages (a Timestamp with any seconds and nanos included). Plus malformed
encodings: random bytes, and valid encodings truncated or with bytes flipped."""

from __future__ import annotations

import functools

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

# Nested messages deeper than this are left empty: the contracts nest two or three levels.
MAX_DEPTH = 3

_INT_BOUNDS = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}

# Values that pass a first glance (ids, addresses, numbers, slugs, timestamps) or are known to
# trip parsers; huge ones stay below the servers' 8 MB message limit.
_PLAUSIBLE = [
    "", " ", "\x00", "a\x00b", "\u200b", "\ufeff", "👍🏽", "Ünïcödé", "مرحبا", "名前", "\r\n",
    "00000000-0000-0000-0000-000000000000", "not-a-uuid", "ada@example.com", "ADA@EXAMPLE.COM",
    "@", "a@b", "+14155550100", "whatsapp:+14155550100", "+1", "0", "-1", "9" * 40, "1e309",
    "NaN", "null", "true", "[]", "{}", "%s%n%x", "'; DROP TABLE x; --", "../../etc/passwd",
    "<script>alert(1)</script>", "reset-password", "billing", "fte_0123456789abcdef_" + "x" * 43,
    "2026-12-03T00:00:00Z", "x" * 20_001, "é" * 100_000, "a" * 1_000_000,
]
STRINGS = st.one_of(
    st.sampled_from(_PLAUSIBLE),
    st.uuids().map(str),
    st.emails(),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.text(st.characters(codec="utf-8"), min_size=200, max_size=3000),
)
BYTES = st.one_of(st.binary(max_size=64), st.sampled_from([b"", b"\x00" * 4096, b"\xff" * 70_000]))


def _integers(cpp_type: int) -> st.SearchStrategy[int]:
    low, high = _INT_BOUNDS[cpp_type]
    return st.one_of(st.sampled_from(sorted({low, -1 if low < 0 else 0, 0, 1, high})),
                     st.integers(low, high))


def _scalar(field: FieldDescriptor) -> st.SearchStrategy:
    cpp = field.cpp_type
    if cpp in _INT_BOUNDS:
        return _integers(cpp)
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return st.floats()
    if cpp == FieldDescriptor.CPPTYPE_FLOAT:
        return st.floats(width=32)
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return st.booleans()
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        # proto3 enums are open: a number the contract does not name is still a valid request.
        return st.one_of(st.sampled_from([v.number for v in field.enum_type.values]),
                         _integers(FieldDescriptor.CPPTYPE_INT32))
    if field.type == FieldDescriptor.TYPE_BYTES:
        return BYTES
    return STRINGS


def _single(field: FieldDescriptor, depth: int) -> st.SearchStrategy:
    if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        return _message(field.message_type, depth + 1)
    return _scalar(field)


def _field(field: FieldDescriptor, depth: int) -> st.SearchStrategy:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key, value = (field.message_type.fields_by_name[n] for n in ("key", "value"))
        return st.dictionaries(_scalar(key), _single(value, depth), max_size=4)
    if field.is_repeated:
        return st.lists(_single(field, depth), max_size=5)
    return _single(field, depth)


@functools.cache
def _message(descriptor: Descriptor, depth: int) -> st.SearchStrategy[Message]:
    cls = message_factory.GetMessageClass(descriptor)
    if depth > MAX_DEPTH:
        return st.builds(cls)
    fields = {f.name: _field(f, depth) for f in descriptor.fields}
    return st.fixed_dictionaries({}, optional=fields).map(functools.partial(_build, cls))


def _build(cls: type[Message], values: dict) -> Message:
    message = cls()
    for name, value in values.items():
        field = cls.DESCRIPTOR.fields_by_name[name]
        target = getattr(message, name) if field.is_repeated or field.message_type else None
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, Message):
                    target[k].CopyFrom(v)
                else:
                    target[k] = v
        elif field.is_repeated:
            target.extend(value)
        elif isinstance(value, Message):
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def messages(descriptor: Descriptor) -> st.SearchStrategy[Message]:
    """Any well-typed message of this type."""
    return _message(descriptor, 0)


def _corrupted(data: bytes, draw) -> bytes:
    if not data:
        return draw(st.binary(min_size=1, max_size=16))
    how = draw(st.sampled_from(["truncate", "flip", "append"]))
    if how == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "flip":
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    return data + draw(st.binary(min_size=1, max_size=16))


@st.composite
def malformed(draw, descriptor: Descriptor) -> bytes:
    """Bytes sent as the request that are mostly not a valid encoding of it: random bytes,
    bytes that look like fields (tags and lengths), or a real encoding broken."""
    kind = draw(st.sampled_from(["random", "tags", "broken"]))
    if kind == "random":
        return draw(st.binary(max_size=512))
    if kind == "tags":
        # A field tag, then a length that lies, bad UTF-8 or a varint that never ends.
        tag = draw(st.integers(1, 40)) << 3 | draw(st.sampled_from([0, 1, 2, 5, 3, 4, 6, 7]))
        return bytes([tag & 0x7F | (0x80 if tag > 0x7F else 0)] + ([tag >> 7] if tag > 0x7F else [])) + draw(
            st.sampled_from([b"\x05ab", b"\x02\xff\xfe", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
                             b"\x80", b"", b"\x7f" + b"a" * 10]))
    return _corrupted(draw(messages(descriptor)).SerializeToString(), draw)
