from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class SenderAssurance(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SENDER_ASSURANCE_UNSPECIFIED: _ClassVar[SenderAssurance]
    SENDER_ASSURANCE_VERIFIED: _ClassVar[SenderAssurance]
    SENDER_ASSURANCE_CLAIMED: _ClassVar[SenderAssurance]
SENDER_ASSURANCE_UNSPECIFIED: SenderAssurance
SENDER_ASSURANCE_VERIFIED: SenderAssurance
SENDER_ASSURANCE_CLAIMED: SenderAssurance
