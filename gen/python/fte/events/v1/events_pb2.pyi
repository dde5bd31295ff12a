import datetime

from fte.common.v1 import channel_pb2 as _channel_pb2
from fte.common.v1 import sender_assurance_pb2 as _sender_assurance_pb2
from fte.conversation.v1 import conversation_service_pb2 as _conversation_service_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Sender(_message.Message):
    __slots__ = ("email", "phone", "whatsapp", "display_name", "assurance", "dmarc")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    WHATSAPP_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ASSURANCE_FIELD_NUMBER: _ClassVar[int]
    DMARC_FIELD_NUMBER: _ClassVar[int]
    email: str
    phone: str
    whatsapp: str
    display_name: str
    assurance: _sender_assurance_pb2.SenderAssurance
    dmarc: str
    def __init__(self, email: _Optional[str] = ..., phone: _Optional[str] = ..., whatsapp: _Optional[str] = ..., display_name: _Optional[str] = ..., assurance: _Optional[_Union[_sender_assurance_pb2.SenderAssurance, str]] = ..., dmarc: _Optional[str] = ...) -> None: ...

class ThreadRef(_message.Message):
    __slots__ = ("thread_id", "message_id", "references", "external_id")
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    thread_id: str
    message_id: str
    references: _containers.RepeatedScalarFieldContainer[str]
    external_id: str
    def __init__(self, thread_id: _Optional[str] = ..., message_id: _Optional[str] = ..., references: _Optional[_Iterable[str]] = ..., external_id: _Optional[str] = ...) -> None: ...

class InboundMessage(_message.Message):
    __slots__ = ("idempotency_key", "channel", "sender", "content", "subject", "thread", "category", "priority", "ticket_id", "receive_time", "publish_time", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    THREAD_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_TIME_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    channel: _channel_pb2.Channel
    sender: Sender
    content: str
    subject: str
    thread: ThreadRef
    category: str
    priority: _conversation_service_pb2.TicketPriority
    ticket_id: str
    receive_time: _timestamp_pb2.Timestamp
    publish_time: _timestamp_pb2.Timestamp
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, idempotency_key: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., sender: _Optional[_Union[Sender, _Mapping]] = ..., content: _Optional[str] = ..., subject: _Optional[str] = ..., thread: _Optional[_Union[ThreadRef, _Mapping]] = ..., category: _Optional[str] = ..., priority: _Optional[_Union[_conversation_service_pb2.TicketPriority, str]] = ..., ticket_id: _Optional[str] = ..., receive_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., publish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Recipient(_message.Message):
    __slots__ = ("email", "phone", "display_name")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    email: str
    phone: str
    display_name: str
    def __init__(self, email: _Optional[str] = ..., phone: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class OutboundMessage(_message.Message):
    __slots__ = ("reply_id", "ticket_id", "customer_id", "conversation_id", "channel", "recipient", "parts", "html", "subject", "thread", "escalated", "in_reply_to_key", "create_time", "latency_ms", "customer_last_inbound_time")
    REPLY_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    THREAD_FIELD_NUMBER: _ClassVar[int]
    ESCALATED_FIELD_NUMBER: _ClassVar[int]
    IN_REPLY_TO_KEY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_LAST_INBOUND_TIME_FIELD_NUMBER: _ClassVar[int]
    reply_id: str
    ticket_id: str
    customer_id: str
    conversation_id: str
    channel: _channel_pb2.Channel
    recipient: Recipient
    parts: _containers.RepeatedScalarFieldContainer[str]
    html: str
    subject: str
    thread: ThreadRef
    escalated: bool
    in_reply_to_key: str
    create_time: _timestamp_pb2.Timestamp
    latency_ms: int
    customer_last_inbound_time: _timestamp_pb2.Timestamp
    def __init__(self, reply_id: _Optional[str] = ..., ticket_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., recipient: _Optional[_Union[Recipient, _Mapping]] = ..., parts: _Optional[_Iterable[str]] = ..., html: _Optional[str] = ..., subject: _Optional[str] = ..., thread: _Optional[_Union[ThreadRef, _Mapping]] = ..., escalated: _Optional[bool] = ..., in_reply_to_key: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latency_ms: _Optional[int] = ..., customer_last_inbound_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Escalation(_message.Message):
    __slots__ = ("escalation_id", "ticket_id", "customer_id", "conversation_id", "channel", "reason", "note", "create_time")
    ESCALATION_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    escalation_id: str
    ticket_id: str
    customer_id: str
    conversation_id: str
    channel: _channel_pb2.Channel
    reason: _conversation_service_pb2.EscalationReason
    note: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, escalation_id: _Optional[str] = ..., ticket_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., reason: _Optional[_Union[_conversation_service_pb2.EscalationReason, str]] = ..., note: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("original_topic", "partition", "offset", "key", "payload", "error", "attempts", "stage", "idempotency_key", "fail_time")
    ORIGINAL_TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    FAIL_TIME_FIELD_NUMBER: _ClassVar[int]
    original_topic: str
    partition: int
    offset: int
    key: bytes
    payload: bytes
    error: str
    attempts: int
    stage: str
    idempotency_key: str
    fail_time: _timestamp_pb2.Timestamp
    def __init__(self, original_topic: _Optional[str] = ..., partition: _Optional[int] = ..., offset: _Optional[int] = ..., key: _Optional[bytes] = ..., payload: _Optional[bytes] = ..., error: _Optional[str] = ..., attempts: _Optional[int] = ..., stage: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., fail_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MailboxChanged(_message.Message):
    __slots__ = ("email_address", "history_id", "pubsub_message_id", "publish_time")
    EMAIL_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBSUB_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_TIME_FIELD_NUMBER: _ClassVar[int]
    email_address: str
    history_id: int
    pubsub_message_id: str
    publish_time: _timestamp_pb2.Timestamp
    def __init__(self, email_address: _Optional[str] = ..., history_id: _Optional[int] = ..., pubsub_message_id: _Optional[str] = ..., publish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
