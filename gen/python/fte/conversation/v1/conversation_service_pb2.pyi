import datetime

from fte.access.v1 import access_service_pb2 as _access_service_pb2
from fte.common.v1 import channel_pb2 as _channel_pb2
from fte.common.v1 import sender_assurance_pb2 as _sender_assurance_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MessageDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_DIRECTION_UNSPECIFIED: _ClassVar[MessageDirection]
    MESSAGE_DIRECTION_INBOUND: _ClassVar[MessageDirection]
    MESSAGE_DIRECTION_OUTBOUND: _ClassVar[MessageDirection]

class MessageRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_ROLE_UNSPECIFIED: _ClassVar[MessageRole]
    MESSAGE_ROLE_CUSTOMER: _ClassVar[MessageRole]
    MESSAGE_ROLE_AGENT: _ClassVar[MessageRole]
    MESSAGE_ROLE_HUMAN: _ClassVar[MessageRole]
    MESSAGE_ROLE_SYSTEM: _ClassVar[MessageRole]

class TicketStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_STATUS_UNSPECIFIED: _ClassVar[TicketStatus]
    TICKET_STATUS_OPEN: _ClassVar[TicketStatus]
    TICKET_STATUS_PROCESSING: _ClassVar[TicketStatus]
    TICKET_STATUS_RESOLVED: _ClassVar[TicketStatus]
    TICKET_STATUS_ESCALATED: _ClassVar[TicketStatus]

class TicketPriority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_PRIORITY_UNSPECIFIED: _ClassVar[TicketPriority]
    TICKET_PRIORITY_LOW: _ClassVar[TicketPriority]
    TICKET_PRIORITY_MEDIUM: _ClassVar[TicketPriority]
    TICKET_PRIORITY_HIGH: _ClassVar[TicketPriority]
    TICKET_PRIORITY_URGENT: _ClassVar[TicketPriority]

class EscalationReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ESCALATION_REASON_UNSPECIFIED: _ClassVar[EscalationReason]
    ESCALATION_REASON_PRICING: _ClassVar[EscalationReason]
    ESCALATION_REASON_REFUND: _ClassVar[EscalationReason]
    ESCALATION_REASON_LEGAL: _ClassVar[EscalationReason]
    ESCALATION_REASON_ANGER: _ClassVar[EscalationReason]
    ESCALATION_REASON_HUMAN_REQUEST: _ClassVar[EscalationReason]
    ESCALATION_REASON_SEARCH_FAILED: _ClassVar[EscalationReason]
    ESCALATION_REASON_PROCESSING_ERROR: _ClassVar[EscalationReason]
    ESCALATION_REASON_OTHER: _ClassVar[EscalationReason]

class DeliveryStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_STATUS_UNSPECIFIED: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_PENDING: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_SENT: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_DELIVERED: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_FAILED: _ClassVar[DeliveryStatus]

class ConversationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONVERSATION_STATUS_UNSPECIFIED: _ClassVar[ConversationStatus]
    CONVERSATION_STATUS_ACTIVE: _ClassVar[ConversationStatus]
    CONVERSATION_STATUS_ESCALATED: _ClassVar[ConversationStatus]
    CONVERSATION_STATUS_CLOSED: _ClassVar[ConversationStatus]
MESSAGE_DIRECTION_UNSPECIFIED: MessageDirection
MESSAGE_DIRECTION_INBOUND: MessageDirection
MESSAGE_DIRECTION_OUTBOUND: MessageDirection
MESSAGE_ROLE_UNSPECIFIED: MessageRole
MESSAGE_ROLE_CUSTOMER: MessageRole
MESSAGE_ROLE_AGENT: MessageRole
MESSAGE_ROLE_HUMAN: MessageRole
MESSAGE_ROLE_SYSTEM: MessageRole
TICKET_STATUS_UNSPECIFIED: TicketStatus
TICKET_STATUS_OPEN: TicketStatus
TICKET_STATUS_PROCESSING: TicketStatus
TICKET_STATUS_RESOLVED: TicketStatus
TICKET_STATUS_ESCALATED: TicketStatus
TICKET_PRIORITY_UNSPECIFIED: TicketPriority
TICKET_PRIORITY_LOW: TicketPriority
TICKET_PRIORITY_MEDIUM: TicketPriority
TICKET_PRIORITY_HIGH: TicketPriority
TICKET_PRIORITY_URGENT: TicketPriority
ESCALATION_REASON_UNSPECIFIED: EscalationReason
ESCALATION_REASON_PRICING: EscalationReason
ESCALATION_REASON_REFUND: EscalationReason
ESCALATION_REASON_LEGAL: EscalationReason
ESCALATION_REASON_ANGER: EscalationReason
ESCALATION_REASON_HUMAN_REQUEST: EscalationReason
ESCALATION_REASON_SEARCH_FAILED: EscalationReason
ESCALATION_REASON_PROCESSING_ERROR: EscalationReason
ESCALATION_REASON_OTHER: EscalationReason
DELIVERY_STATUS_UNSPECIFIED: DeliveryStatus
DELIVERY_STATUS_PENDING: DeliveryStatus
DELIVERY_STATUS_SENT: DeliveryStatus
DELIVERY_STATUS_DELIVERED: DeliveryStatus
DELIVERY_STATUS_FAILED: DeliveryStatus
CONVERSATION_STATUS_UNSPECIFIED: ConversationStatus
CONVERSATION_STATUS_ACTIVE: ConversationStatus
CONVERSATION_STATUS_ESCALATED: ConversationStatus
CONVERSATION_STATUS_CLOSED: ConversationStatus

class Message(_message.Message):
    __slots__ = ("message_id", "conversation_id", "ticket_id", "customer_id", "channel", "direction", "role", "content", "subject", "create_time", "delivery_status", "reply_id", "idempotency_key", "sentiment", "sender_assurance", "sender_name")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_STATUS_FIELD_NUMBER: _ClassVar[int]
    REPLY_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    SENDER_ASSURANCE_FIELD_NUMBER: _ClassVar[int]
    SENDER_NAME_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    conversation_id: str
    ticket_id: str
    customer_id: str
    channel: _channel_pb2.Channel
    direction: MessageDirection
    role: MessageRole
    content: str
    subject: str
    create_time: _timestamp_pb2.Timestamp
    delivery_status: DeliveryStatus
    reply_id: str
    idempotency_key: str
    sentiment: float
    sender_assurance: _sender_assurance_pb2.SenderAssurance
    sender_name: str
    def __init__(self, message_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., ticket_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., direction: _Optional[_Union[MessageDirection, str]] = ..., role: _Optional[_Union[MessageRole, str]] = ..., content: _Optional[str] = ..., subject: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delivery_status: _Optional[_Union[DeliveryStatus, str]] = ..., reply_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., sentiment: _Optional[float] = ..., sender_assurance: _Optional[_Union[_sender_assurance_pb2.SenderAssurance, str]] = ..., sender_name: _Optional[str] = ...) -> None: ...

class ChannelSwitch(_message.Message):
    __slots__ = ("from_channel", "to_channel", "switch_time", "message_id")
    FROM_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TO_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SWITCH_TIME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    from_channel: _channel_pb2.Channel
    to_channel: _channel_pb2.Channel
    switch_time: _timestamp_pb2.Timestamp
    message_id: str
    def __init__(self, from_channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., to_channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., switch_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., message_id: _Optional[str] = ...) -> None: ...

class Ticket(_message.Message):
    __slots__ = ("ticket_id", "customer_id", "conversation_id", "source_channel", "category", "priority", "status", "subject", "create_time", "update_time", "resolve_time")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    customer_id: str
    conversation_id: str
    source_channel: _channel_pb2.Channel
    category: str
    priority: TicketPriority
    status: TicketStatus
    subject: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    resolve_time: _timestamp_pb2.Timestamp
    def __init__(self, ticket_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., source_channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., category: _Optional[str] = ..., priority: _Optional[_Union[TicketPriority, str]] = ..., status: _Optional[_Union[TicketStatus, str]] = ..., subject: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Conversation(_message.Message):
    __slots__ = ("conversation_id", "customer_id", "status", "initial_channel", "current_channel", "start_time", "last_message_time", "channel_switches", "message_count")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CURRENT_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_MESSAGE_TIME_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_SWITCHES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    customer_id: str
    status: ConversationStatus
    initial_channel: _channel_pb2.Channel
    current_channel: _channel_pb2.Channel
    start_time: _timestamp_pb2.Timestamp
    last_message_time: _timestamp_pb2.Timestamp
    channel_switches: _containers.RepeatedCompositeFieldContainer[ChannelSwitch]
    message_count: int
    def __init__(self, conversation_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., status: _Optional[_Union[ConversationStatus, str]] = ..., initial_channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., current_channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_message_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., channel_switches: _Optional[_Iterable[_Union[ChannelSwitch, _Mapping]]] = ..., message_count: _Optional[int] = ...) -> None: ...

class Escalation(_message.Message):
    __slots__ = ("escalation_id", "ticket_id", "reason", "note", "context_json", "create_time", "team", "reply_due_time")
    ESCALATION_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    REPLY_DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    escalation_id: str
    ticket_id: str
    reason: EscalationReason
    note: str
    context_json: str
    create_time: _timestamp_pb2.Timestamp
    team: str
    reply_due_time: _timestamp_pb2.Timestamp
    def __init__(self, escalation_id: _Optional[str] = ..., ticket_id: _Optional[str] = ..., reason: _Optional[_Union[EscalationReason, str]] = ..., note: _Optional[str] = ..., context_json: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., team: _Optional[str] = ..., reply_due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ToolCall(_message.Message):
    __slots__ = ("name", "arguments_json", "ok")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    name: str
    arguments_json: str
    ok: bool
    def __init__(self, name: _Optional[str] = ..., arguments_json: _Optional[str] = ..., ok: _Optional[bool] = ...) -> None: ...

class RecordInboundRequest(_message.Message):
    __slots__ = ("customer_id", "channel", "idempotency_key", "content", "subject", "thread_ref", "sender_name", "category", "priority", "requested_ticket_id", "receive_time", "sender_assurance", "begin_processing")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    THREAD_REF_FIELD_NUMBER: _ClassVar[int]
    SENDER_NAME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    SENDER_ASSURANCE_FIELD_NUMBER: _ClassVar[int]
    BEGIN_PROCESSING_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    channel: _channel_pb2.Channel
    idempotency_key: str
    content: str
    subject: str
    thread_ref: str
    sender_name: str
    category: str
    priority: TicketPriority
    requested_ticket_id: str
    receive_time: _timestamp_pb2.Timestamp
    sender_assurance: _sender_assurance_pb2.SenderAssurance
    begin_processing: bool
    def __init__(self, customer_id: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., idempotency_key: _Optional[str] = ..., content: _Optional[str] = ..., subject: _Optional[str] = ..., thread_ref: _Optional[str] = ..., sender_name: _Optional[str] = ..., category: _Optional[str] = ..., priority: _Optional[_Union[TicketPriority, str]] = ..., requested_ticket_id: _Optional[str] = ..., receive_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sender_assurance: _Optional[_Union[_sender_assurance_pb2.SenderAssurance, str]] = ..., begin_processing: _Optional[bool] = ...) -> None: ...

class RecordInboundResponse(_message.Message):
    __slots__ = ("customer_id", "conversation_id", "ticket_id", "message_id", "duplicate", "new_conversation", "channel_switch", "held_by", "hold_notice_due", "ticket_status")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    NEW_CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_SWITCH_FIELD_NUMBER: _ClassVar[int]
    HELD_BY_FIELD_NUMBER: _ClassVar[int]
    HOLD_NOTICE_DUE_FIELD_NUMBER: _ClassVar[int]
    TICKET_STATUS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    conversation_id: str
    ticket_id: str
    message_id: str
    duplicate: bool
    new_conversation: bool
    channel_switch: ChannelSwitch
    held_by: str
    hold_notice_due: bool
    ticket_status: TicketStatus
    def __init__(self, customer_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., ticket_id: _Optional[str] = ..., message_id: _Optional[str] = ..., duplicate: _Optional[bool] = ..., new_conversation: _Optional[bool] = ..., channel_switch: _Optional[_Union[ChannelSwitch, _Mapping]] = ..., held_by: _Optional[str] = ..., hold_notice_due: _Optional[bool] = ..., ticket_status: _Optional[_Union[TicketStatus, str]] = ...) -> None: ...

class RecordOutboundRequest(_message.Message):
    __slots__ = ("ticket_id", "content", "channel", "reply_id", "role", "input_tokens", "output_tokens", "latency_ms", "tool_calls", "delivery_status")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    REPLY_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_STATUS_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    content: str
    channel: _channel_pb2.Channel
    reply_id: str
    role: MessageRole
    input_tokens: int
    output_tokens: int
    latency_ms: int
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    delivery_status: DeliveryStatus
    def __init__(self, ticket_id: _Optional[str] = ..., content: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., reply_id: _Optional[str] = ..., role: _Optional[_Union[MessageRole, str]] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., latency_ms: _Optional[int] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., delivery_status: _Optional[_Union[DeliveryStatus, str]] = ...) -> None: ...

class RecordOutboundResponse(_message.Message):
    __slots__ = ("message_id", "duplicate", "delivery_status")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_STATUS_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    duplicate: bool
    delivery_status: DeliveryStatus
    def __init__(self, message_id: _Optional[str] = ..., duplicate: _Optional[bool] = ..., delivery_status: _Optional[_Union[DeliveryStatus, str]] = ...) -> None: ...

class UpdateDeliveryStatusRequest(_message.Message):
    __slots__ = ("reply_id", "delivery_status", "external_id", "error")
    REPLY_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_STATUS_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    reply_id: str
    delivery_status: DeliveryStatus
    external_id: str
    error: str
    def __init__(self, reply_id: _Optional[str] = ..., delivery_status: _Optional[_Union[DeliveryStatus, str]] = ..., external_id: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class UpdateDeliveryStatusResponse(_message.Message):
    __slots__ = ("message_id", "delivery_status", "previous_delivery_status")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_STATUS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_DELIVERY_STATUS_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    delivery_status: DeliveryStatus
    previous_delivery_status: DeliveryStatus
    def __init__(self, message_id: _Optional[str] = ..., delivery_status: _Optional[_Union[DeliveryStatus, str]] = ..., previous_delivery_status: _Optional[_Union[DeliveryStatus, str]] = ...) -> None: ...

class GetHistoryRequest(_message.Message):
    __slots__ = ("customer_id", "limit")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    limit: int
    def __init__(self, customer_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class GetHistoryResponse(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ...) -> None: ...

class GetTicketRequest(_message.Message):
    __slots__ = ("ticket_id",)
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    def __init__(self, ticket_id: _Optional[str] = ...) -> None: ...

class GetTicketResponse(_message.Message):
    __slots__ = ("ticket", "messages", "escalations")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    ESCALATIONS_FIELD_NUMBER: _ClassVar[int]
    ticket: Ticket
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    escalations: _containers.RepeatedCompositeFieldContainer[Escalation]
    def __init__(self, ticket: _Optional[_Union[Ticket, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., escalations: _Optional[_Iterable[_Union[Escalation, _Mapping]]] = ...) -> None: ...

class UpdateTicketStatusRequest(_message.Message):
    __slots__ = ("ticket_id", "status", "note")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    status: TicketStatus
    note: str
    def __init__(self, ticket_id: _Optional[str] = ..., status: _Optional[_Union[TicketStatus, str]] = ..., note: _Optional[str] = ...) -> None: ...

class UpdateTicketStatusResponse(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: Ticket
    def __init__(self, ticket: _Optional[_Union[Ticket, _Mapping]] = ...) -> None: ...

class EscalateRequest(_message.Message):
    __slots__ = ("ticket_id", "reason", "note")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    reason: EscalationReason
    note: str
    def __init__(self, ticket_id: _Optional[str] = ..., reason: _Optional[_Union[EscalationReason, str]] = ..., note: _Optional[str] = ...) -> None: ...

class EscalateResponse(_message.Message):
    __slots__ = ("escalation", "duplicate")
    ESCALATION_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    escalation: Escalation
    duplicate: bool
    def __init__(self, escalation: _Optional[_Union[Escalation, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class GetConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    def __init__(self, conversation_id: _Optional[str] = ...) -> None: ...

class GetConversationResponse(_message.Message):
    __slots__ = ("conversation", "messages", "tickets")
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    conversation: Conversation
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    tickets: _containers.RepeatedCompositeFieldContainer[Ticket]
    def __init__(self, conversation: _Optional[_Union[Conversation, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., tickets: _Optional[_Iterable[_Union[Ticket, _Mapping]]] = ...) -> None: ...

class ListConversationsRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class ListConversationsResponse(_message.Message):
    __slots__ = ("conversations",)
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    conversations: _containers.RepeatedCompositeFieldContainer[Conversation]
    def __init__(self, conversations: _Optional[_Iterable[_Union[Conversation, _Mapping]]] = ...) -> None: ...

class ReassignCustomerRequest(_message.Message):
    __slots__ = ("source_customer_id", "target_customer_id")
    SOURCE_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    source_customer_id: str
    target_customer_id: str
    def __init__(self, source_customer_id: _Optional[str] = ..., target_customer_id: _Optional[str] = ...) -> None: ...

class ReassignCustomerResponse(_message.Message):
    __slots__ = ("conversations_moved", "messages_moved", "closed_conversation_ids")
    CONVERSATIONS_MOVED_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_MOVED_FIELD_NUMBER: _ClassVar[int]
    CLOSED_CONVERSATION_IDS_FIELD_NUMBER: _ClassVar[int]
    conversations_moved: int
    messages_moved: int
    closed_conversation_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, conversations_moved: _Optional[int] = ..., messages_moved: _Optional[int] = ..., closed_conversation_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetChannelMetricsRequest(_message.Message):
    __slots__ = ("since_time",)
    SINCE_TIME_FIELD_NUMBER: _ClassVar[int]
    since_time: _timestamp_pb2.Timestamp
    def __init__(self, since_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ChannelMetrics(_message.Message):
    __slots__ = ("channel", "conversations", "messages", "escalations", "escalation_rate", "avg_response_latency_ms", "p95_response_latency_ms", "avg_sentiment", "tickets")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    ESCALATIONS_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_RATE_FIELD_NUMBER: _ClassVar[int]
    AVG_RESPONSE_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P95_RESPONSE_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    AVG_SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    channel: _channel_pb2.Channel
    conversations: int
    messages: int
    escalations: int
    escalation_rate: float
    avg_response_latency_ms: float
    p95_response_latency_ms: float
    avg_sentiment: float
    tickets: int
    def __init__(self, channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., conversations: _Optional[int] = ..., messages: _Optional[int] = ..., escalations: _Optional[int] = ..., escalation_rate: _Optional[float] = ..., avg_response_latency_ms: _Optional[float] = ..., p95_response_latency_ms: _Optional[float] = ..., avg_sentiment: _Optional[float] = ..., tickets: _Optional[int] = ...) -> None: ...

class GetChannelMetricsResponse(_message.Message):
    __slots__ = ("channels",)
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedCompositeFieldContainer[ChannelMetrics]
    def __init__(self, channels: _Optional[_Iterable[_Union[ChannelMetrics, _Mapping]]] = ...) -> None: ...

class EraseCustomerContentRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class EraseCustomerContentResponse(_message.Message):
    __slots__ = ("messages_erased", "tickets_erased", "ticket_events_erased", "escalations_erased")
    MESSAGES_ERASED_FIELD_NUMBER: _ClassVar[int]
    TICKETS_ERASED_FIELD_NUMBER: _ClassVar[int]
    TICKET_EVENTS_ERASED_FIELD_NUMBER: _ClassVar[int]
    ESCALATIONS_ERASED_FIELD_NUMBER: _ClassVar[int]
    messages_erased: int
    tickets_erased: int
    ticket_events_erased: int
    escalations_erased: int
    def __init__(self, messages_erased: _Optional[int] = ..., tickets_erased: _Optional[int] = ..., ticket_events_erased: _Optional[int] = ..., escalations_erased: _Optional[int] = ...) -> None: ...
