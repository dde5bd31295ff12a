from fte.access.v1 import access_service_pb2 as _access_service_pb2
from fte.common.v1 import channel_pb2 as _channel_pb2
from fte.common.v1 import sender_assurance_pb2 as _sender_assurance_pb2
from fte.conversation.v1 import conversation_service_pb2 as _conversation_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RespondRequest(_message.Message):
    __slots__ = ("ticket_id", "customer_id", "conversation_id", "channel", "message", "subject", "customer_name", "message_id", "sender_assurance", "ticket_processing")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_ASSURANCE_FIELD_NUMBER: _ClassVar[int]
    TICKET_PROCESSING_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    customer_id: str
    conversation_id: str
    channel: _channel_pb2.Channel
    message: str
    subject: str
    customer_name: str
    message_id: str
    sender_assurance: _sender_assurance_pb2.SenderAssurance
    ticket_processing: bool
    def __init__(self, ticket_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., message: _Optional[str] = ..., subject: _Optional[str] = ..., customer_name: _Optional[str] = ..., message_id: _Optional[str] = ..., sender_assurance: _Optional[_Union[_sender_assurance_pb2.SenderAssurance, str]] = ..., ticket_processing: _Optional[bool] = ...) -> None: ...

class TokenUsage(_message.Message):
    __slots__ = ("input_tokens", "output_tokens", "total_tokens")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    total_tokens: int
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ...) -> None: ...

class ChannelReply(_message.Message):
    __slots__ = ("parts", "html", "subject", "text")
    PARTS_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    parts: _containers.RepeatedScalarFieldContainer[str]
    html: str
    subject: str
    text: str
    def __init__(self, parts: _Optional[_Iterable[str]] = ..., html: _Optional[str] = ..., subject: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class RespondResponse(_message.Message):
    __slots__ = ("reply", "escalated", "escalation_reason", "escalation_note", "tool_calls", "article_ids", "latency_ms", "usage", "model", "guardrails_tripped")
    REPLY_FIELD_NUMBER: _ClassVar[int]
    ESCALATED_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_REASON_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_NOTE_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    ARTICLE_IDS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    GUARDRAILS_TRIPPED_FIELD_NUMBER: _ClassVar[int]
    reply: ChannelReply
    escalated: bool
    escalation_reason: _conversation_service_pb2.EscalationReason
    escalation_note: str
    tool_calls: _containers.RepeatedCompositeFieldContainer[_conversation_service_pb2.ToolCall]
    article_ids: _containers.RepeatedScalarFieldContainer[str]
    latency_ms: int
    usage: TokenUsage
    model: str
    guardrails_tripped: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, reply: _Optional[_Union[ChannelReply, _Mapping]] = ..., escalated: _Optional[bool] = ..., escalation_reason: _Optional[_Union[_conversation_service_pb2.EscalationReason, str]] = ..., escalation_note: _Optional[str] = ..., tool_calls: _Optional[_Iterable[_Union[_conversation_service_pb2.ToolCall, _Mapping]]] = ..., article_ids: _Optional[_Iterable[str]] = ..., latency_ms: _Optional[int] = ..., usage: _Optional[_Union[TokenUsage, _Mapping]] = ..., model: _Optional[str] = ..., guardrails_tripped: _Optional[_Iterable[str]] = ...) -> None: ...
