import datetime

from fte.access.v1 import access_service_pb2 as _access_service_pb2
from fte.common.v1 import channel_pb2 as _channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as _conversation_service_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EscalationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ESCALATION_STATE_UNSPECIFIED: _ClassVar[EscalationState]
    ESCALATION_STATE_OPEN: _ClassVar[EscalationState]
    ESCALATION_STATE_CLAIMED: _ClassVar[EscalationState]
    ESCALATION_STATE_RESOLVED: _ClassVar[EscalationState]
ESCALATION_STATE_UNSPECIFIED: EscalationState
ESCALATION_STATE_OPEN: EscalationState
ESCALATION_STATE_CLAIMED: EscalationState
ESCALATION_STATE_RESOLVED: EscalationState

class Operator(_message.Message):
    __slots__ = ("subject", "display_name")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    subject: str
    display_name: str
    def __init__(self, subject: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class QueuedEscalation(_message.Message):
    __slots__ = ("escalation_id", "ticket_id", "conversation_id", "customer_id", "customer_name", "channel", "reason", "team", "note", "state", "owner", "create_time", "reply_due_time", "first_reply_time", "breached", "resolve_time", "resolution_note", "subject")
    ESCALATION_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_NAME_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REPLY_DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    FIRST_REPLY_TIME_FIELD_NUMBER: _ClassVar[int]
    BREACHED_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_NOTE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    escalation_id: str
    ticket_id: str
    conversation_id: str
    customer_id: str
    customer_name: str
    channel: _channel_pb2.Channel
    reason: _conversation_service_pb2.EscalationReason
    team: str
    note: str
    state: EscalationState
    owner: Operator
    create_time: _timestamp_pb2.Timestamp
    reply_due_time: _timestamp_pb2.Timestamp
    first_reply_time: _timestamp_pb2.Timestamp
    breached: bool
    resolve_time: _timestamp_pb2.Timestamp
    resolution_note: str
    subject: str
    def __init__(self, escalation_id: _Optional[str] = ..., ticket_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., customer_name: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., reason: _Optional[_Union[_conversation_service_pb2.EscalationReason, str]] = ..., team: _Optional[str] = ..., note: _Optional[str] = ..., state: _Optional[_Union[EscalationState, str]] = ..., owner: _Optional[_Union[Operator, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reply_due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., first_reply_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., breached: _Optional[bool] = ..., resolve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolution_note: _Optional[str] = ..., subject: _Optional[str] = ...) -> None: ...

class ListEscalationsRequest(_message.Message):
    __slots__ = ("states", "team", "reason", "created_before", "page_size", "page_token")
    STATES_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[EscalationState]
    team: str
    reason: _conversation_service_pb2.EscalationReason
    created_before: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, states: _Optional[_Iterable[_Union[EscalationState, str]]] = ..., team: _Optional[str] = ..., reason: _Optional[_Union[_conversation_service_pb2.EscalationReason, str]] = ..., created_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEscalationsResponse(_message.Message):
    __slots__ = ("escalations", "next_page_token")
    ESCALATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    escalations: _containers.RepeatedCompositeFieldContainer[QueuedEscalation]
    next_page_token: str
    def __init__(self, escalations: _Optional[_Iterable[_Union[QueuedEscalation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetEscalationRequest(_message.Message):
    __slots__ = ("escalation_id",)
    ESCALATION_ID_FIELD_NUMBER: _ClassVar[int]
    escalation_id: str
    def __init__(self, escalation_id: _Optional[str] = ...) -> None: ...

class GetEscalationResponse(_message.Message):
    __slots__ = ("escalation", "emails", "phones", "messages", "context_json")
    ESCALATION_FIELD_NUMBER: _ClassVar[int]
    EMAILS_FIELD_NUMBER: _ClassVar[int]
    PHONES_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_JSON_FIELD_NUMBER: _ClassVar[int]
    escalation: QueuedEscalation
    emails: _containers.RepeatedScalarFieldContainer[str]
    phones: _containers.RepeatedScalarFieldContainer[str]
    messages: _containers.RepeatedCompositeFieldContainer[_conversation_service_pb2.Message]
    context_json: str
    def __init__(self, escalation: _Optional[_Union[QueuedEscalation, _Mapping]] = ..., emails: _Optional[_Iterable[str]] = ..., phones: _Optional[_Iterable[str]] = ..., messages: _Optional[_Iterable[_Union[_conversation_service_pb2.Message, _Mapping]]] = ..., context_json: _Optional[str] = ...) -> None: ...

class ClaimEscalationRequest(_message.Message):
    __slots__ = ("escalation_id",)
    ESCALATION_ID_FIELD_NUMBER: _ClassVar[int]
    escalation_id: str
    def __init__(self, escalation_id: _Optional[str] = ...) -> None: ...

class ClaimEscalationResponse(_message.Message):
    __slots__ = ("escalation", "already_claimed")
    ESCALATION_FIELD_NUMBER: _ClassVar[int]
    ALREADY_CLAIMED_FIELD_NUMBER: _ClassVar[int]
    escalation: QueuedEscalation
    already_claimed: bool
    def __init__(self, escalation: _Optional[_Union[QueuedEscalation, _Mapping]] = ..., already_claimed: _Optional[bool] = ...) -> None: ...

class ReplyToCustomerRequest(_message.Message):
    __slots__ = ("escalation_id", "content", "idempotency_key")
    ESCALATION_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    escalation_id: str
    content: str
    idempotency_key: str
    def __init__(self, escalation_id: _Optional[str] = ..., content: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ReplyToCustomerResponse(_message.Message):
    __slots__ = ("message_id", "duplicate", "escalation")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    duplicate: bool
    escalation: QueuedEscalation
    def __init__(self, message_id: _Optional[str] = ..., duplicate: _Optional[bool] = ..., escalation: _Optional[_Union[QueuedEscalation, _Mapping]] = ...) -> None: ...

class ResolveEscalationRequest(_message.Message):
    __slots__ = ("escalation_id", "note")
    ESCALATION_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    escalation_id: str
    note: str
    def __init__(self, escalation_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class ResolveEscalationResponse(_message.Message):
    __slots__ = ("escalation", "already_resolved")
    ESCALATION_FIELD_NUMBER: _ClassVar[int]
    ALREADY_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    escalation: QueuedEscalation
    already_resolved: bool
    def __init__(self, escalation: _Optional[_Union[QueuedEscalation, _Mapping]] = ..., already_resolved: _Optional[bool] = ...) -> None: ...

class ReopenEscalationRequest(_message.Message):
    __slots__ = ("escalation_id", "note")
    ESCALATION_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    escalation_id: str
    note: str
    def __init__(self, escalation_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class ReopenEscalationResponse(_message.Message):
    __slots__ = ("escalation",)
    ESCALATION_FIELD_NUMBER: _ClassVar[int]
    escalation: QueuedEscalation
    def __init__(self, escalation: _Optional[_Union[QueuedEscalation, _Mapping]] = ...) -> None: ...
